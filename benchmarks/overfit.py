"""Every loss against 32 training faces, the long version of tests/test_every_loss_trains.py.

    python benchmarks/overfit.py [--steps 600] [--models hourglass:0.5,rcn:0.25] [--losses a,b:k=v] [--jobs 2]

Trains each (model, loss) on 32 synthetic faces (full batch, no augmentation, lab.runner.overfit) and prints the
train-set NME_io at a few points of the schedule, with the seconds taken (each job one process, one thread).
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import sys

import pandas as pd
import torch


def _parse_loss(text: str) -> tuple[str, dict]:
    """"heatmap_mse:fg_weight=0" -> ("heatmap_mse", {"fg_weight": 0.0})."""
    name, _, rest = text.partition(":")
    kw = {k: float(v) for k, v in (item.split("=") for item in rest.split(";") if item)}
    return name, kw


def _one(args: tuple) -> dict:
    model, width, loss_spec, steps, lr = args
    loss, loss_kw = _parse_loss(loss_spec)
    torch.set_num_threads(1)
    from lab.models.fast import keep_freed_memory
    from lab.runner.overfit import overfit

    keep_freed_memory()
    result = overfit(loss, model=model, width=width, steps=steps, lr=lr, evals=4, loss_kw=loss_kw)
    row = {"model": f"{model} x{width:g}", "loss": loss_spec}
    row["steps"] = steps
    row["NME at 1/4, 1/2, 3/4 of the steps (%)"] = " / ".join(f"{100 * n:.2f}" for _, n, _ in result["curve"][:-1])
    row["final NME (%)"] = round(100 * result["nme"], 2)
    row["seconds"] = round(result["curve"][-1][2])
    return row


def main(argv: list[str] | None = None) -> int:
    from lab.losses import LOSSES

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", default="600", help="steps per run, or 'ci': the test's per-loss budgets")
    p.add_argument("--lr", type=float, default=6e-3)
    p.add_argument("--models", default="hourglass:0.5", help="MODEL:WIDTH,... (e.g. hourglass:0.5,rcn:0.25); the "
                   "hourglass is lab.runner.overfit.SMALL_HOURGLASS (64 px), the RCN its 80 px default")
    p.add_argument("--losses", help="comma-separated, each NAME or NAME:KEY=VALUE;KEY=VALUE (default: every "
                   "registered loss), e.g. heatmap_mse:fg_weight=0 for the plain MSE")
    p.add_argument("--jobs", type=int, default=2)
    args = p.parse_args(argv)
    losses = args.losses.split(",") if args.losses else sorted(LOSSES)
    models = [(m.split(":")[0], float(m.split(":")[1])) for m in args.models.split(",")]
    from lab.runner.overfit import ci_steps

    def steps(loss: str) -> int:
        return ci_steps(loss.partition(":")[0]) if args.steps == "ci" else int(args.steps)

    jobs = [(m, w, loss, steps(loss), args.lr) for m, w in models for loss in losses]
    with mp.get_context("spawn").Pool(args.jobs) as pool:
        rows = pool.map(_one, jobs, chunksize=1)
    print(f"32 synthetic faces, full batch, lr {args.lr:g}, steps {args.steps}, train-set NME_io, one thread per job:\n")
    print(pd.DataFrame(rows).to_markdown(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
