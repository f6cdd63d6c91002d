"""Time to accuracy: NME_io against training minutes and optimiser steps, for the recipe and the version-1 defaults.

    python benchmarks/convergence.py [--scale 1.0] [--jobs 2] [--only NAME,...] [--lfpw ../shared/data/lfpw-train]
                                     [--runs runs/convergence] [--out benchmarks/results]

Each arm is a run config with a budget in training minutes. The schedule is sized to the budget on this machine:
a short calibration measures the seconds per optimiser step, and the run gets as many epochs as fit (the cosine
schedule then ends at the budget). Validation time is not counted. Synthetic arms score the common and challenge
test subsets at every validation (learning curves; the selection uses the validation split); LFPW arms report on
their held-out validation split and keep their last weights (nothing is selected on it). Arms run `--jobs` at a
time, one process and one thread each, so the minutes of parallel arms are minutes of one core each.

Writes `convergence.md` (the table), `convergence.csv` (every curve point) and `convergence.png` (the curves) into
--out, and the run folders into --runs. `--scale 0.1` gives a tenth of every budget (a smoke run).
An interrupted benchmark resumes: finished arms are read back from their run folders.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from lab.runner import runs
from lab.config import RunConfig
from lab.models.fast import keep_freed_memory
from lab.runner.train import _dataset, _loader, build_parts, supervised_loss, train

LFPW = "../shared/data/lfpw-train"

RECIPE_SYNTH = dict(model="hourglass", width=0.25, loss="laplace_kl", train_n=1024, val_n=200, test_n=300,
                    batch_size=32, lr=5e-3, model_kw={"stacks": 1}, track_tests=True, threads=1)
RECIPE_LFPW = dict(model="hourglass", width=0.25, loss="laplace_kl", train_n=684, val_fraction=0.15, split_seed=0,
                   batch_size=16, lr=5e-3, model_kw={"stacks": 1}, select_best=False, threads=1)
# Version 1 (the committed reference runs): no "version" key, so RunConfig fills in Adam, per-epoch cosine, no EMA,
# fixed faces, the linear head.
V1_SYNTH = dict(model="hourglass", width=0.25, model_kw={"stacks": 1}, loss="laplace_kl", train_n=1500, val_n=200,
                test_n=300, batch_size=16, lr=2e-3, ema=None, weight_decay=0.0, schedule="cosine", threads=1,
                track_tests=True)
V1_LFPW = dict(model="hourglass", width=0.25, model_kw={"stacks": 1}, loss="laplace_kl", train_n=684,
               val_fraction=0.15, split_seed=0, batch_size=16, lr=2e-3, ema=None, weight_decay=0.0,
               schedule="cosine", threads=1, select_best=False)

ERT = dict(model="ert", loss="l2", model_kw={}, width=1.0)

# name: (config, training minutes or None (trained to completion), data), in the order they are started (longest and prerequisites first)
ARMS: dict[str, tuple[dict, float | None, str]] = {
    "lfpw-recipe-60min": (RECIPE_LFPW, 60, "lfpw"),
    "synthetic-recipe-30min": (RECIPE_SYNTH, 30, "synthetic"),
    # synthetic pretraining (the 30-minute synthetic run) then 30 minutes on LFPW: 60 minutes in all
    "lfpw-pretrained-30min": ({**RECIPE_LFPW, "init_from": "synthetic-recipe-30min"}, 30, "lfpw"),
    "synthetic-recipe-5min": (RECIPE_SYNTH, 5, "synthetic"),
    "synthetic-v1-5min": (V1_SYNTH, 5, "synthetic"),
    "lfpw-v1-5min": (V1_LFPW, 5, "lfpw"),
    # capacity at the same 30-minute budget: twice the channels, or a second stack (intermediate supervision)
    "synthetic-hg0.5-30min": ({**RECIPE_SYNTH, "width": 0.5}, 30, "synthetic"),
    "synthetic-2stack-30min": ({**RECIPE_SYNTH, "model_kw": {"stacks": 2}}, 30, "synthetic"),
    "lfpw-hg0.5-60min": ({**RECIPE_LFPW, "width": 0.5}, 60, "lfpw"),  # the wider model, which bought most above
    "synthetic-hg0.5-60min": ({**RECIPE_SYNTH, "width": 0.5}, 60, "synthetic"),  # the challenge subset, for longer
    # the classic baseline (lab.runner.ert): dlib's ERT at its default options on the same crops and splits; it
    # trains to completion (no budget: its minutes are measured), one thread
    "lfpw-ert": ({**RECIPE_LFPW, **ERT}, None, "lfpw"),
    "synthetic-ert": ({**RECIPE_SYNTH, **ERT}, None, "synthetic"),
}
CURVE_POINTS = 12  # validations per run


def make_config(name: str, base: dict, data: str, lfpw: str) -> RunConfig:
    d = {**base, "name": name}
    if data == "lfpw":
        d["data"] = f"300w:{lfpw}"
    if "v1" in name:
        return RunConfig.from_dict(d)  # no "version": the version-1 defaults fill the rest
    return RunConfig(**d)


def seconds_per_step(cfg: RunConfig, results_dir: str, steps: int = 12, warmup: int = 3) -> float:
    """Measured seconds per optimiser step of cfg (data + forward + loss + backward + update), this process."""
    parts = build_parts(cfg.replace(epochs=1), results_dir=results_dir)
    loader = iter(_loader(_dataset(parts, parts.splits.train, augment=cfg.augment), cfg.batch_size, cfg.seed, 0))
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    parts.model.train()
    t0 = 0.0
    for i in range(warmup + steps):
        if i == warmup:
            t0 = time.perf_counter()
        try:
            batch = next(loader)
        except StopIteration:
            loader = iter(_loader(_dataset(parts, parts.splits.train, augment=cfg.augment), cfg.batch_size, cfg.seed, i))
            batch = next(loader)
        loss = supervised_loss(parts, parts.model(batch["image"].contiguous(memory_format=memory_format)), batch)
        parts.optimizer.zero_grad()
        loss.backward()
        parts.optimizer.step()
    return (time.perf_counter() - t0) / steps


def run_arm(name: str, scale: float, lfpw: str, runs_dir: str) -> str:
    base, minutes, data = ARMS[name]
    cfg = make_config(name, base, data, lfpw)
    torch.set_num_threads(cfg.threads or 1)
    keep_freed_memory()
    run_dir = Path(runs_dir) / name
    if (run_dir / runs.METRICS).exists():
        return name
    if cfg.init_from:  # wait for the run it starts from (another worker trains it)
        while not (Path(runs_dir) / cfg.init_from / runs.METRICS).exists():
            time.sleep(5)
    if cfg.model == "ert":  # no optimiser steps to size: dlib trains its cascade to the end
        train(cfg, runs_dir, resume=True, progress=False, log=lambda s: print(s, flush=True))
        return name
    if (run_dir / runs.CONFIG).exists():
        cfg = RunConfig.load(run_dir / runs.CONFIG)  # resume with the epochs sized before
    else:
        n = len(build_parts(cfg.replace(epochs=1), results_dir=runs_dir).splits.train)
        steps_per_epoch = max(n // cfg.batch_size, 1)
        sps = seconds_per_step(cfg, runs_dir)
        epochs = max(int(minutes * scale * 60 / (sps * steps_per_epoch)), 2)
        cfg = cfg.replace(epochs=epochs, eval_every=max(epochs // CURVE_POINTS, 1))
        print(f"{name}: {sps:.3f} s/step, {steps_per_epoch} steps/epoch -> {epochs} epochs", flush=True)
    train(cfg, runs_dir, resume=True, progress=False, log=lambda s: print(s, flush=True))
    return name


def _run_arm_star(args: tuple) -> str:
    return run_arm(*args)


def curves(runs_dir: Path, names: list[str]) -> pd.DataFrame:
    rows = []
    for name in names:
        run = runs.open_run(runs_dir / name)
        log = pd.read_csv(run.path / runs.LOG)
        minutes = log["train_seconds"].cumsum() / 60
        if run.config.init_from:  # fine-tuned: its curve starts after the pretraining run's minutes
            minutes = minutes + pd.read_csv(runs_dir / run.config.init_from / runs.LOG)["train_seconds"].sum() / 60
        for i, r in log.iterrows():
            if pd.isna(r.get("val_nme")):
                continue
            point = {"arm": name, "model": run.config.model, "epoch": int(r["epoch"]), "minutes": float(minutes.iloc[i]),
                     "val": 100 * r["val_nme"]}
            for col in log.columns:
                if col.startswith("test_nme_"):
                    point[col[len("test_nme_"):]] = 100 * r[col]
            if run.config.model == "ert":  # one point: its test subsets are scored once, after training
                for sub in ("common", "challenge"):
                    if sub in run.metrics["subsets"]:
                        point[sub] = 100 * run.metrics["subsets"][sub]["nme_inter_ocular"]
            rows.append(point)
    return pd.DataFrame(rows)


def summary_table(runs_dir: Path, names: list[str]) -> pd.DataFrame:
    rows = []
    for name in names:
        run = runs.open_run(runs_dir / name)
        cfg, m = run.config, run.metrics
        subsets = m["subsets"]
        # train min: optimiser steps only (validation and test scoring excluded)
        stacks = f" {cfg.model_kw['stacks']}-stack" if "stacks" in cfg.model_kw else ""
        ert = cfg.model == "ert"
        row = {"arm": name, "model": "ert (dlib defaults)" if ert else f"{cfg.model} x{cfg.width:g}{stacks}",
               "loss": cfg.loss, "epochs": None if ert else cfg.epochs,
               "steps": None if ert else cfg.epochs * max((cfg.train_n or 0) // cfg.batch_size, 1),
               "train min": round(float(pd.read_csv(run.path / runs.LOG)["train_seconds"].sum()) / 60, 1)}
        pre = (float(pd.read_csv(runs_dir / cfg.init_from / runs.LOG)["train_seconds"].sum()) / 60
               if cfg.init_from else 0.0)
        row["with pretraining"] = round(row["train min"] + pre, 1)
        for sub in ("common", "challenge", "val"):
            if sub in subsets:
                row[f"NME io {sub} (%)"] = round(100 * subsets[sub]["nme_inter_ocular"], 2)
                row[f"FR@0.1 {sub} (%)"] = round(100 * subsets[sub]["fr@0.1"], 2) if "fr@0.1" in subsets[sub] else None
        rows.append(row)
    return pd.DataFrame(rows)


def figure(points: pd.DataFrame, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), sharey=False)
    for ax, (col, title) in zip(axes, (("common", "synthetic common"), ("challenge", "synthetic challenge"),
                                       ("val", "LFPW validation (121 faces)"))):
        for arm, g in points.groupby("arm"):
            if col not in g or g[col].isna().all() or (col == "val" and not arm.startswith("lfpw")):
                continue
            label = arm + (" (after synthetic-recipe-30min)" if "pretrained" in arm else "")
            if (g["model"] == "ert").all():  # trained once to completion: one point
                ax.plot(g["minutes"], g[col], marker="*", ms=12, ls="none", color="black", label=label)
            else:
                ax.plot(g["minutes"], g[col], marker="o", ms=3, label=label)
        ax.set_title(title)
        ax.set_xlabel("training minutes (one core; pretraining included)")
        ax.set_ylabel("NME inter-ocular (%)")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", type=float, default=1.0, help="multiply every budget (0.1: a smoke run)")
    p.add_argument("--jobs", type=int, default=2, help="arms trained at once, one process and thread each")
    p.add_argument("--only", help="comma-separated arm names (default: all): " + ", ".join(ARMS))
    p.add_argument("--lfpw", default=LFPW, help=f"the LFPW folder (default {LFPW}); its arms are skipped without it")
    p.add_argument("--runs", default="runs/convergence", help="folder for the run folders")
    p.add_argument("--out", default="benchmarks/results", help="folder for the table, curves and figure")
    args = p.parse_args(argv)
    names = args.only.split(",") if args.only else list(ARMS)
    unknown = [n for n in names if n not in ARMS]
    if unknown:
        print(f"error: unknown arm(s) {unknown}; valid: {', '.join(ARMS)}", file=sys.stderr)
        return 2
    if not Path(args.lfpw).is_dir():
        skipped = [n for n in names if ARMS[n][2] == "lfpw"]
        print(f"{args.lfpw}: not a folder; skipping {', '.join(skipped)}")
        names = [n for n in names if n not in skipped]
    t0 = time.time()
    with mp.get_context("spawn").Pool(args.jobs) as pool:
        jobs = [(n, args.scale, args.lfpw, args.runs) for n in names]
        for done in pool.imap(_run_arm_star, jobs, chunksize=1):
            print(f"finished {done} ({(time.time() - t0) / 60:.1f} min)", flush=True)
    runs_dir, out = Path(args.runs), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = [n for n in ARMS if n in names]
    points = curves(runs_dir, names)
    # the arms' time from their run folders (so a resumed or re-read benchmark reports it too): core-minutes, as
    # every arm ran on one core; the arms may have been trained in several sittings
    core_min = sum(pd.read_csv(runs_dir / n / runs.LOG)["seconds"].sum() for n in names) / 60
    table = summary_table(runs_dir, names)
    points.to_csv(out / "convergence.csv", index=False)
    figure(points, out / "convergence.png")
    text = (f"# Convergence (time to accuracy)\n\n`python benchmarks/convergence.py --scale {args.scale:g} "
            f"--jobs {args.jobs}`, one thread per arm, {args.jobs} arms at a time, {mp.cpu_count()} cores, "
            f"torch {torch.__version__}, {core_min:.0f} core-minutes in all (training and scoring). "
            "'train min' counts optimiser steps only (validation and test scoring excluded).\n\n"
            + table.to_markdown(index=False) + "\n\n![curves](convergence.png)\n")
    (out / "convergence.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
