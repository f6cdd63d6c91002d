"""Training throughput per model / width (images per second) and where a step's time goes.

    python benchmarks/train.py [--device cpu|cuda] [--steps 8] [--batch 32] [--threads N]

For each configuration: a few warm-up steps, then `--steps` timed steps, each split into data (synthetic render +
crop + collate), forward, loss and backward+optimiser. Shares are of the measured step time in this same run.
"""
from __future__ import annotations

import argparse
import time

import torch

from lab.config import RunConfig
from lab.data.dataset import LandmarkDataset
from lab.data.synthetic import SyntheticFaces
from lab.runner.device import pick_device
from lab.runner.train import build_parts, supervised_loss
from lab.data.sources import Splits

CONFIGS = [
    ("rcn", 0.0625, {}, "laplace_kl"),
    ("rcn", 0.25, {}, "laplace_kl"),
    ("rcn", 1.0, {}, "laplace_kl"),
    ("hourglass", 1.0, {"stacks": 1}, "star"),
    ("hourglass", 1.0, {"stacks": 1}, "w2"),
    ("regressor", 1.0, {}, "wing"),
]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench(model: str, width: float, model_kw: dict, loss: str, device: torch.device, steps: int, batch: int) -> dict:
    cfg = RunConfig(model=model, width=width, model_kw=model_kw, loss=loss, batch_size=batch)
    faces = SyntheticFaces("train", n=batch * (steps + 2), size=cfg.synth_size, seed=0)
    splits = Splits(train=faces, val=faces, tests={})
    parts = build_parts(cfg, device, splits)
    ds = LandmarkDataset(faces, parts.model.input_size, augment=True)
    loader = iter(torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=False))
    t = {"data": 0.0, "forward": 0.0, "loss": 0.0, "backward": 0.0}
    parts.model.train()
    for step in range(steps + 2):
        t0 = time.perf_counter()
        b = next(loader)
        images = b["image"].to(device)
        _sync(device)
        t1 = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            out = parts.model(images)
        _sync(device)
        t2 = time.perf_counter()
        value = supervised_loss(parts, out, b)
        _sync(device)
        t3 = time.perf_counter()
        parts.optimizer.zero_grad()
        value.backward()
        parts.optimizer.step()
        _sync(device)
        t4 = time.perf_counter()
        if step >= 2:  # warm-up steps are not counted
            for k, dt in zip(t, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                t[k] += dt
    total = sum(t.values())
    return {"config": f"{model} x{width:g} {loss}", "img/s": steps * batch / total,
            **{f"{k} %": 100 * v / total for k, v in t.items()}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default=None)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    print(f"device {device}, torch threads {torch.get_num_threads()}, batch {args.batch}")
    print(f"{'config':<28}{'img/s':>9}{'data %':>9}{'fwd %':>8}{'loss %':>8}{'bwd %':>8}")
    for model, width, kw, loss in CONFIGS:
        r = bench(model, width, kw, loss, device, args.steps, args.batch)
        print(f"{r['config']:<28}{r['img/s']:>9.1f}{r['data %']:>9.1f}{r['forward %']:>8.1f}"
              f"{r['loss %']:>8.1f}{r['backward %']:>8.1f}")


if __name__ == "__main__":
    main()
