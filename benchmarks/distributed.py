"""Training throughput (faces per second) of one run on one process against the same run under torchrun.

    python benchmarks/distributed.py [--width 0.5] [--train-n 512] [--epochs 3] [--device cpu|cuda] [--out DIR]

Trains the convergence benchmark's synthetic recipe (hourglass, one stack, LaplaceKL, global batch 32, fresh faces)
as ordinary `python -m lab train` runs, one after another in this one call:

    1 process  x 1 thread      python -m lab train ... --threads 1
    1 process  x 2 threads     python -m lab train ... --threads 2
    2 processes x 1 thread     torchrun --standalone --nproc_per_node 2 -m lab train ... --threads 1

and reads each run's own per-epoch `train_seconds` (optimiser steps and data, no validation) from its training log
(train_log.csv), skipping the first epoch (warm-up: allocator, thread pools, gloo rendezvous). Prints faces/s and each setting's
ratio to 1 process x 1 thread. With `--device cuda` the settings are 1 GPU in fp32 and in bf16 autocast
(`--amp bf16`), and 2 GPUs when the machine has them.
"""
from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _settings(device: str, gpus: int) -> list[tuple[str, int, list[str]]]:
    """(label, processes, extra train flags)."""
    if device == "cuda":
        out = [("1 GPU, fp32", 1, ["--amp", "off"]), ("1 GPU, bf16 autocast", 1, ["--amp", "bf16"])]
        return out + ([("2 GPUs, bf16 autocast", 2, ["--amp", "bf16"])] if gpus >= 2 else [])
    return [("1 process x 1 thread", 1, ["--threads", "1"]), ("1 process x 2 threads", 1, ["--threads", "2"]),
            ("2 processes x 1 thread", 2, ["--threads", "1"])]


def faces_per_second(run_dir: Path, train_n: int) -> float:
    """train_n / median per-epoch train_seconds over every epoch after the first, from the run's training log."""
    from lab.runner.runs import LOG

    with open(run_dir / LOG, newline="") as f:
        seconds = sorted(float(row["train_seconds"]) for row in list(csv.DictReader(f))[1:])
    if not seconds:
        raise SystemExit(f"error: {run_dir}: fewer than two epochs in {LOG}; use --epochs 2 or more")
    return train_n / seconds[len(seconds) // 2]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--width", type=float, default=0.5, help="hourglass width (default 0.5)")
    p.add_argument("--train-n", type=int, default=512, help="fresh synthetic faces per epoch (default 512)")
    p.add_argument("--epochs", type=int, default=3, help="epochs per setting; the first is not timed (default 3)")
    p.add_argument("--batch-size", type=int, default=32, help="global batch (default 32)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--out", help="keep the run folders here (default: a temporary folder, removed)")
    args = p.parse_args(argv)
    gpus = 0
    if args.device == "cuda":
        import torch

        gpus = torch.cuda.device_count()
        if not gpus:
            print("error: --device cuda but no CUDA device is visible", file=sys.stderr)
            return 2
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="lab-ddp-bench-"))
    train = ["-m", "lab", "train", "--model", "hourglass", "--width", str(args.width), "--model-kw", "stacks=1",
             "--loss", "laplace_kl", "--train-n", str(args.train_n), "--val-n", "32", "--test-n", "32",
             "--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--device", args.device,
             "--results", str(out), "--quiet"]
    rows = []
    try:
        for i, (label, procs, extra) in enumerate(_settings(args.device, gpus)):
            name = f"setting-{i}"
            launcher = [sys.executable] if procs == 1 else [
                sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(procs)]
            env = {**os.environ, "OMP_NUM_THREADS": "1" if procs > 1 else os.environ.get("OMP_NUM_THREADS", "")}
            env = {k: v for k, v in env.items() if v != ""}
            subprocess.run([*launcher, *train, "--name", name, *extra], cwd=ROOT, env=env, check=True,
                           stdout=subprocess.DEVNULL)
            rows.append((label, faces_per_second(out / name, args.train_n)))
    finally:
        if not args.out:
            shutil.rmtree(out, ignore_errors=True)
    base = rows[0][1]
    print(f"hourglass x{args.width:g} (1 stack), LaplaceKL, global batch {args.batch_size}, {args.train_n} fresh "
          f"synthetic faces per epoch, median of epochs 2-{args.epochs}, device {args.device}:\n")
    print("| setting | faces/s | ratio |\n|---|---:|---:|")
    for label, fps in rows:
        print(f"| {label} | {fps:.1f} | {fps / base:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
