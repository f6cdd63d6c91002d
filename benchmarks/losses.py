"""Forward + backward time of every registered loss on one batch, as a ratio to heatmap MSE in the same run.

    python benchmarks/losses.py                       # CPU, and CUDA when present
    python benchmarks/losses.py --device cpu --repeats 15 --sinkhorn-maps 2

Batch: B=32, K=68, 64x64 maps (Gaussian blobs of std 2 px near the labels plus 1 % uniform noise, float32).
Heatmap losses get the maps; coordinate losses get soft_argmax of the same maps (the decode is timed with them).
Each timed call is forward + backward from the raw maps; repeats are interleaved across losses (round robin) so
that load on a shared machine hits every loss alike; the median is reported. "star_v2_official_style" is a
baseline written the way the official STAR code computes its v2 loss (materialised [-1, 1] grid differences,
bmm covariance, covariances copied to the CPU for torch.linalg.eigh, results copied back).
The Sinkhorn grid loss costs O(iterations * h*w * (2r+1)^2) per landmark: it is timed on `--sinkhorn-maps`
landmarks (the others marked invisible, which it skips) and scaled to the full batch -- marked "(scaled)".
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Callable

import torch

from lab.heatmaps import encode_gaussian, soft_argmax
from lab.losses import LOSSES, build_loss

Tensor = torch.Tensor
BASELINE = "heatmap_mse"
SLOW = {"w2_sinkhorn"}  # timed on a few landmarks, scaled to the batch


def make_batch(bsz: int, k: int, size: int, device: torch.device, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Mid-training-like maps (bsz, k, size, size) and their labels (bsz, k, 2) in heatmap px."""
    g = torch.Generator().manual_seed(seed)
    target = 8 + torch.rand(bsz, k, 2, generator=g) * (size - 16)
    centres = target + 1.5 * torch.randn(bsz, k, 2, generator=g)
    maps = encode_gaussian(centres, (size, size), 2.0) + 0.01 * torch.rand(bsz, k, size, size, generator=g)
    return maps.to(device), target.to(device)


def star_v2_official_style(heatmaps: Tensor, target: Tensor, w: float = 1.0, eps: float = 1e-5,
                           beta: float = 0.01) -> Tensor:
    """STAR v2 computed the way the official code does (a timing baseline, not used for training).

    heatmaps (B, K, h, w), target (B, K, 2) heatmap px -> scalar. Grid and target in the official [-1, 1] units
    (first/last pixel centre at -1/+1).
    """
    bsz, k, h, wd = heatmaps.shape
    dev = heatmaps.device
    hm = heatmaps / heatmaps.sum((2, 3)).clamp_min(1e-6).view(bsz, k, 1, 1)
    yy, xx = torch.meshgrid(torch.arange(h, device=dev).float() / (h - 1) * 2 - 1,
                            torch.arange(wd, device=dev).float() / (wd - 1) * 2 - 1, indexing="ij")
    mean = torch.stack([(xx * hm).sum((2, 3)), (yy * hm).sum((2, 3))], -1)
    dx = xx.expand(bsz, k, h, wd) - mean[..., 0, None, None].expand(bsz, k, h, wd)
    dy = yy.expand(bsz, k, h, wd) - mean[..., 1, None, None].expand(bsz, k, h, wd)
    vec = torch.cat([dx.reshape(bsz * k, 1, h * wd), dy.reshape(bsz * k, 1, h * wd)], 1)
    weights = hm.reshape(bsz * k, 1, h * wd).expand(-1, 2, -1)
    cov = torch.bmm(weights * vec, vec.transpose(1, 2)).view(bsz, k, 2, 2)
    v1 = hm.sum((2, 3)) + 1e-5
    v2 = hm.pow(2).sum((2, 3)) + 1e-5
    cov = cov / (v1 - v2 / v1).view(bsz, k, 1, 1)
    evals, evecs = torch.linalg.eigh(cov.view(bsz * k, 2, 2).cpu())
    evals, evecs = evals.view(bsz, k, 2).to(heatmaps), evecs.view(bsz, k, 2, 2).to(heatmaps)
    unit = torch.tensor([2.0 / (wd - 1), 2.0 / (h - 1)], device=dev)
    err = target * unit - 1 - mean
    dist = []
    for i in range(2):  # the official code projects on evectors[:, :, i] and applies its own smooth-L1
        proj = (evecs[:, :, i] * err).sum(-1, keepdim=True)
        d2 = proj.pow(2).sum(-1)
        dist.append(torch.where(d2 < beta * beta, 0.5 / beta * d2, d2.clamp_min(1e-6).sqrt() - 0.5 * beta))
    trans = (torch.stack(dist, -1) / torch.sqrt(evals + eps)).sum(-1)
    return (trans + w * evals.abs().sum(-1)).mean()


def make_runners(heatmaps: Tensor, target: Tensor, sinkhorn_maps: int, overrides: dict[str, dict] | None = None
                 ) -> tuple[dict[str, Callable[[Tensor], Tensor]], dict[str, float], dict[str, str]]:
    """name -> fn(maps) -> scalar for every registered loss plus the official-style STAR baseline.

    overrides: per-loss hyper-parameters replacing the registry defaults. Also returns the scale factor per name
    (batch landmarks / timed landmarks) and the names that failed to build.
    """
    runners: dict[str, Callable[[Tensor], Tensor]] = {}
    scale: dict[str, float] = {}
    failed: dict[str, str] = {}
    bsz, k = heatmaps.shape[:2]
    for name, spec in LOSSES.items():
        if name in SLOW and sinkhorn_maps < 1:
            failed[name] = "skipped (--sinkhorn-maps 0)"
            continue
        try:
            loss = build_loss(name, **(overrides or {}).get(name, {})).to(heatmaps.device)
        except Exception as exc:  # a loss that needs more than (maps, labels) -- reported, not timed
            failed[name] = f"{type(exc).__name__}: {exc}"
            continue
        visible = None
        scale[name] = 1.0
        if name in SLOW:
            n = min(sinkhorn_maps, bsz * k)
            visible = torch.zeros(bsz * k, dtype=torch.bool, device=heatmaps.device)
            visible[:n] = True
            visible = visible.view(bsz, k)
            scale[name] = bsz * k / n
        if spec.input == "coords":
            runners[name] = (lambda fn, vis: lambda h: fn(soft_argmax(h), target, vis))(loss, visible)
        else:
            runners[name] = (lambda fn, vis: lambda h: fn(h, target, vis))(loss, visible)
    runners["star_v2_official_style"] = lambda h: star_v2_official_style(h, target)
    scale["star_v2_official_style"] = 1.0
    return runners, scale, failed


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_runners(runners: dict[str, Callable[[Tensor], Tensor]], heatmaps: Tensor, repeats: int,
                 slow_repeats: int, warmup: int = 2) -> tuple[dict[str, list[float]], dict[str, str]]:
    """Seconds per forward+backward: `repeats` interleaved rounds after `warmup`; the SLOW losses are timed
    `slow_repeats` times afterwards without warm-up (their cost is thousands of solver steps, not first-call
    overhead). Returns times and the error message of any loss that raised."""
    times: dict[str, list[float]] = {n: [] for n in runners}
    errors: dict[str, str] = {}
    maps = heatmaps.detach().clone().requires_grad_(True)

    def once(name: str) -> float | None:
        maps.grad = None
        try:
            _sync(maps.device)
            start = time.perf_counter()
            runners[name](maps).backward()
            _sync(maps.device)
        except Exception as exc:  # e.g. a library missing on this machine: reported, not fatal
            errors[name] = f"{type(exc).__name__}: {exc}"
            return None
        return time.perf_counter() - start

    fast = [n for n in runners if n not in SLOW]
    for rnd in range(warmup + repeats):
        for name in fast:
            if name not in errors and (elapsed := once(name)) is not None and rnd >= warmup:
                times[name].append(elapsed)
    for name in (n for n in runners if n in SLOW):
        for _ in range(slow_repeats):
            if name not in errors and (elapsed := once(name)) is not None:
                times[name].append(elapsed)
    return times, errors


def report(device: torch.device, times: dict[str, list[float]], scale: dict[str, float],
           errors: dict[str, str], total_maps: int) -> None:
    base = statistics.median(times[BASELINE]) if times.get(BASELINE) else float("nan")
    print(f"\n{device.type.upper()}  ({torch.get_num_threads()} threads)" if device.type == "cpu"
          else f"\nCUDA  ({torch.cuda.get_device_name(device)})")
    print(f"{'loss':<24} {'input':<8} {'median ms':>11} {'x ' + BASELINE:>16}  repeats")
    for name, ts in times.items():
        if name in errors or not ts:
            print(f"{name:<24} {'':<8} {'n/a':>11} {'':>16}  {errors.get(name, 'not timed')}")
            continue
        ms = statistics.median(ts) * scale[name] * 1e3
        kind = LOSSES[name].input if name in LOSSES else "heatmap"
        note = f"  (scaled x{scale[name]:.0f} from {len(ts)} run(s) on {round(total_maps / scale[name])} maps)" \
            if scale[name] != 1.0 else ""
        print(f"{name:<24} {kind:<8} {ms:>11.2f} {ms / (base * 1e3):>16.2f}  {len(ts)}{note}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="all", help="cpu | cuda | all (cpu, then cuda when present)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--points", type=int, default=68)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=7, help="timed rounds per loss (median reported)")
    ap.add_argument("--sinkhorn-maps", type=int, default=1,
                    help="landmarks the Sinkhorn loss is timed on, on the CPU (0: skip it); CUDA times the batch")
    ap.add_argument("--sinkhorn-repeats", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = {"cpu": ["cpu"], "cuda": ["cuda"], "all": ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])}
    if args.device not in devices:
        ap.error(f"--device must be cpu, cuda or all, got {args.device!r}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"batch {args.batch} x {args.points} maps of {args.size}x{args.size}, float32; torch {torch.__version__}; "
          f"{os.cpu_count()} CPUs, load average {load:.1f}")
    for name in devices[args.device]:
        device = torch.device(name)
        if device.type == "cuda" and not torch.cuda.is_available():
            print("\nCUDA: not available on this machine")
            continue
        heatmaps, target = make_batch(args.batch, args.points, args.size, device)
        # on CUDA the Sinkhorn loss runs on the whole batch; on the CPU it would take hours
        maps = args.sinkhorn_maps if device.type == "cpu" else args.batch * args.points
        # bigger Sinkhorn chunks on the GPU (its memory is not the CPU's)
        overrides = {"w2_sinkhorn": {"chunk_elements": 1 << 28}} if device.type == "cuda" else {}
        runners, scale, failed = make_runners(heatmaps, target, maps, overrides)
        times, errors = time_runners(runners, heatmaps, args.repeats, args.sinkhorn_repeats)
        report(device, times, scale, {**errors, **failed}, args.batch * args.points)
        for name, why in failed.items():
            print(f"{name:<24} not built: {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
