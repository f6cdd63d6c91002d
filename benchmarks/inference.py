"""RCN inference speed per width, next to the Laplace paper's Table 3, and against the machine's own conv FLOP rate.

    python benchmarks/inference.py [--quick] [--compile] [--sizes] [--widths 1/16 1/8 ...] [--device cpu|cuda|all]

Per width (1/16 .. 1, K = 68, 80x80 input), for one image per call and for a batch of 32:
- "eager": a plain `model.eval()` call under inference_mode (NCHW), with the process's default thread count
  (the "straightforward eager" baseline) and with 1 thread ("eager t1");
- "fast": the lab's `lab.models.fast.optimize_for_inference` (exact rewrite, oneDNN with fused activations,
  malloc setting, see its docstring) with 1 thread and with all threads; `--compile` adds torch.compile'd
  candidates (widths 1/16 and 1/8 at one image, full width at batch 32; 5-40 s of compiling each).
The best "fast" candidate is reported with its setting. Every candidate's output is first checked against the
eager model's. For the batch, the achieved rate counts the *architecture's* FLOPs (2 x multiply-adds of every
conv of the RCN as built; the fast path executes fewer, exactly, by not multiplying the upsampled duplicates) over
the measured rate of one large convolution (3x3, 256 -> 256 channels, 64x64, batch 4, channels_last) timed in
this same run with the same thread count.
Timing: candidates are called round-robin for `--rounds` rounds of >= `--min-time` s each; the table shows the
best round (least disturbed by other processes on a shared machine) and, for one image, the median round.
The load average is printed at the start and end: on a busy machine the numbers are noisy, and more than one
OpenMP thread per free core is catastrophic (a 2 ms model then takes 20-400 ms), which is why 1-thread settings
are always measured. The paper's fps are from a 2.8 GHz Core i7 laptop, batch and thread count not stated.
"""
from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import time
import warnings
from typing import Callable

import torch
from torch import nn

from lab.models import build_model, model_summary
from lab.models.fast import optimize_for_inference

WIDTHS = (1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0)
WIDTH_NAMES = ("1/16", "1/8", "1/4", "1/2", "1")
PAPER_FPS = (26.51, 21.38, 16.77, 11.92, 4.92)
PAPER_MB = (0.076, 0.162, 0.507, 1.919, 7.496)
BATCH = 32


def conv_flops(model: nn.Module, x: torch.Tensor) -> int:
    """FLOPs (2 x multiply-adds) per image of every conv in one forward pass: modules with a 4-D weight (O, I, kh, kw)
    and a 4-D output, i.e. nn.Conv2d and the fast path's fixed-weight convs."""
    total = 0

    def hook(mod: nn.Module, _inp, out: torch.Tensor) -> None:
        nonlocal total
        total += 2 * out[0].numel() * mod.weight[0].numel()

    convs = [m for m in model.modules() if isinstance(getattr(m, "weight", None), torch.Tensor) and m.weight.dim() == 4]
    handles = [m.register_forward_hook(hook) for m in convs]
    with torch.inference_mode():
        model.eval()(x[:1])
    for h in handles:
        h.remove()
    return total


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_round_robin(candidates: dict[str, tuple[Callable, int | None]], x: torch.Tensor, rounds: int,
                     min_time: float) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Seconds per call of each candidate fn(x) (with its thread count, None = leave) in each of `rounds` rounds:
    wall-clock, and CPU time of this thread (all of a 1-thread CPU candidate's work: what it costs when it runs,
    excluding the time other processes hold the core)."""
    wall: dict[str, list[float]] = {name: [] for name in candidates}
    cpu: dict[str, list[float]] = {name: [] for name in candidates}
    default_threads = torch.get_num_threads()
    for name, (fn, threads) in candidates.items():  # warm up (oneDNN primitive caches, allocator)
        torch.set_num_threads(threads or default_threads)
        fn(x)
    for _ in range(rounds):
        for name, (fn, threads) in candidates.items():
            torch.set_num_threads(threads or default_threads)
            _sync(x.device)
            n, t0, c0 = 0, time.perf_counter(), time.thread_time()
            while True:
                fn(x)
                n += 1
                _sync(x.device)
                elapsed = time.perf_counter() - t0
                if elapsed >= min_time:
                    break
            wall[name].append(elapsed / n)
            cpu[name].append((time.thread_time() - c0) / n)
    torch.set_num_threads(default_threads)
    return wall, cpu


def check_same_outputs(candidates: dict[str, tuple[Callable, int | None]], x: torch.Tensor) -> None:
    """Every candidate's heatmaps equal the eager model's to 1e-4 of their range (1e-2 on CUDA, where cuDNN may use
    TF32), since a fast wrong answer is no answer."""
    ref = candidates["eager"][0](x)[0]
    tol = (1e-2 if x.device.type == "cuda" else 1e-4) * ref.abs().max().item()
    for name, (fn, _) in candidates.items():
        if name.startswith("peak"):
            continue
        err = (fn(x)[0] - ref).abs().max().item()
        if not err <= tol:
            raise AssertionError(f"{name}: max |difference| {err:.3g} from the eager model (tolerance {tol:.3g})")


PEAK_FLOPS = {"cpu": 2 * 4 * 64 * 64 * 256 * 256 * 9, "cuda": 2 * 64 * 64 * 64 * 256 * 256 * 9}


def large_conv(device: torch.device) -> Callable:
    """fn(_) running one large 3x3 conv (256 -> 256 channels, 64x64, batch 4; batch 64 on CUDA), channels_last;
    PEAK_FLOPS[device.type] FLOPs a call. Timed among the candidates so that both see the same machine load."""
    batch = 64 if device.type == "cuda" else 4
    conv = nn.Conv2d(256, 256, 3, padding=1).to(device).to(memory_format=torch.channels_last)
    inp = torch.randn(batch, 256, 64, 64, device=device).contiguous(memory_format=torch.channels_last)

    def run(_x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return conv(inp)
    return run


def eager(model: nn.Module) -> Callable:
    def run(x: torch.Tensor) -> list[torch.Tensor]:
        with torch.inference_mode():
            return model(x)
    return run


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def size_table() -> None:
    print("\nSizes (K = 68). fp32 MB = 4 * params / 1e6; saved = torch.save(state_dict) file; paper = Table 3")
    print(f"{'width':>6} {'C':>3} {'params':>10} {'fp32 MB':>8} {'saved MB':>9} {'+2 bottom 3x3':>14} {'paper MB':>9}")
    for name, w, paper in zip(WIDTH_NAMES, WIDTHS, PAPER_MB):
        m = build_model("rcn", width=w)
        buf = io.BytesIO()
        torch.save(m.state_dict(), buf)
        alt = model_summary(build_model("rcn", width=w, bottom_convs=2))["bytes_fp32"] / 1e6
        s = model_summary(m)
        print(f"{name:>6} {m.channels:>3} {s['params']:>10,} {s['bytes_fp32'] / 1e6:>8.3f} "
              f"{len(buf.getvalue()) / 1e6:>9.3f} {alt:>14.3f} {paper:>9.3f}")


def candidates(model: nn.Module, device: torch.device, batch: int, compile_ok: bool) -> dict:
    """name -> (fn, threads or None): eager and fast, each with 1 thread and with all (CPU), optionally compiled."""
    threads_all = torch.get_num_threads()
    options = sorted({1, threads_all}) if device.type == "cpu" else [None]
    out: dict[str, tuple[Callable, int | None]] = {"eager": (eager(model), None)}
    for t in options:
        label = f" t{t}" if t is not None else ""
        if t == 1 and threads_all > 1:
            out["eager t1"] = (eager(model), 1)
        torch.set_num_threads(t or threads_all)
        out[f"fast{label}"] = (optimize_for_inference(model, batch), t)
        if compile_ok and t in (None, 1 if batch == 1 else threads_all):
            out[f"fast compiled{label}"] = (optimize_for_inference(model, batch, compile=True), t)
    torch.set_num_threads(threads_all)
    return out


def measure(cands: dict[str, tuple[Callable, int | None]], x: torch.Tensor, rounds: int, min_time: float,
            threads_all: int) -> dict:
    """Time all candidates; the best "fast ..." one with its best round, median round, thread count, and the large
    conv's best rate (GFLOP/s) at that thread count when a "peak ..." candidate was timed alongside."""
    check_same_outputs(cands, x)
    times, cpu_times = time_round_robin(cands, x, rounds, min_time)
    best = min((n for n in times if n.startswith("fast")), key=lambda n: min(times[n]))
    threads = cands[best][1] or threads_all
    peak = next((PEAK_FLOPS[x.device.type] / min(t) / 1e9 for n, t in times.items()
                 if n.startswith("peak") and (cands[n][1] or threads_all) == threads), None)
    return dict(eager=min(times["eager"]), fast=min(times[best]), median=statistics.median(times[best]),
                setting=best, threads=threads, peak=peak, cpu=min(cpu_times[best]) if threads == 1 else None,
                all={n: min(v) for n, v in times.items() if not n.startswith("peak")})


def bench_device(device: torch.device, args: argparse.Namespace) -> list[dict]:
    threads_all = torch.get_num_threads()
    peak_fn = large_conv(device)
    rows = []
    for name, w, paper_fps in zip(WIDTH_NAMES, WIDTHS, PAPER_FPS):
        if name not in args.widths:
            continue
        t0 = time.time()
        model = build_model("rcn", width=w).eval()
        x1 = torch.zeros(1, 3, 80, 80)
        row = dict(width=name, paper_fps=paper_fps, gflop=conv_flops(model, x1) / 1e9,
                   gflop_exec=conv_flops(optimize_for_inference(model).module, x1) / 1e9)
        model = model.to(device)
        for batch in (1, BATCH):
            x = torch.randn(batch, 3, 80, 80, device=device)
            # compiling costs 5-40 s a graph: only where it could matter (per-call overhead of the tiny widths at
            # one image; fused activations at full width, batch 32)
            compile_ok = args.compile and (w <= 1 / 8 if batch == 1 else w == 1.0)
            cands = candidates(model, device, batch, compile_ok)
            if batch > 1:
                cands.update({f"peak t{t}": (peak_fn, t) for t in sorted({1, threads_all})} if device.type == "cpu"
                             else {"peak": (peak_fn, None)})
            rounds = args.rounds if batch == 1 else max(2, args.rounds // 2)
            row[batch] = measure(cands, x, rounds, args.min_time, threads_all)
        many = row[BATCH]
        row["b32_gflops"] = BATCH * row["gflop"] / many["fast"]
        row["b32_frac"] = row["b32_gflops"] / many["peak"]
        row["b32_exec_frac"] = BATCH * row["gflop_exec"] / many["fast"] / many["peak"]
        rows.append(row)
        print(f"  width {name}: done in {time.time() - t0:.0f} s", flush=True)
    print_table(device, rows)
    return rows


def print_table(device: torch.device, rows: list[dict]) -> None:
    print(f"\n[{device.type}] RCN, K=68, 80x80. 1-img: one image per call, best round (median); cpu: its CPU time "
          f"(1-thread settings); b32: batch of 32, images/s; GFLOP/s of the best b32 setting, the large conv's "
          f"GFLOP/s timed alongside with the same threads, and the share")
    print(f"{'width':>5} {'paper':>6} {'eager 1-img':>11} {'fast 1-img':>22} {'cpu':>8} {'setting':>9} "
          f"{'eager b32':>9} "
          f"{'fast b32':>8} {'setting':>17} {'GFLOP/img':>9} {'GFLOP/s':>7} {'conv':>6} {'of conv':>7} "
          f"{'executed':>8}")
    for r in rows:
        one, many = r[1], r[BATCH]
        fast1 = f"{one['fast'] * 1e3:.3f} ms ({one['median'] * 1e3:.3f})"
        cpu1 = f"{one['cpu'] * 1e3:.3f}" if one["cpu"] is not None else "-"
        print(f"{r['width']:>5} {r['paper_fps']:>6.2f} {1 / one['eager']:>7.0f} fps {fast1:>22} {cpu1:>8} "
              f"{one['setting']:>9} "
              f"{BATCH / many['eager']:>9.0f} {BATCH / many['fast']:>8.0f} {many['setting']:>17} {r['gflop']:>9.3f} "
              f"{r['b32_gflops']:>7.1f} {r[BATCH]['peak']:>6.1f} {r['b32_frac']:>7.0%} {r['b32_exec_frac']:>8.0%}")
    print("  GFLOP/img: the RCN's own convs (what 'GFLOP/s' and 'of conv' count); 'executed': the same share counting"
          " the FLOPs the fast path runs (" + ", ".join(f"{r['width']}: {r['gflop_exec']:.3f}" for r in rows)
          + " GFLOP/img)")
    for batch, unit, scale in ((1, "ms per image", 1e3), (BATCH, "ms per batch of 32", 1e3)):
        print(f"  every candidate, batch {batch} ({unit}, best round):")
        for r in rows:
            print(f"    {r['width']:>5}: " + ", ".join(f"{n} {t * scale:.3f}" for n, t in r[batch]["all"].items()))
    if device.type == "cpu":
        verdicts = [f"width {r['width']} one image {r[1]['fast'] * 1e3:.3f} ms "
                    f"({'met' if r[1]['fast'] <= 1e-3 else 'NOT met'}: <= 1 ms)"
                    for r in rows if r["width"] in ("1/16", "1/8")]
        verdicts += [f"full width batch 32 at {r['b32_frac']:.0%} of the conv rate counting the RCN's FLOPs, "
                     f"{r['b32_exec_frac']:.0%} counting those executed "
                     f"({'met' if r['b32_exec_frac'] >= 0.7 else 'NOT met'}: >= 70%)"
                     for r in rows if r["width"] == "1"]
        print("  targets: " + "; ".join(verdicts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cpu", "cuda", "all"), default="all",
                        help="all = the CPU, and CUDA when present")
    parser.add_argument("--rounds", type=int, default=4, help="round-robin rounds per measurement")
    parser.add_argument("--min-time", type=float, default=0.12, help="seconds per candidate per round")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 0.08 s")
    parser.add_argument("--compile", action="store_true", help="add torch.compile'd fast candidates (slow to build)")
    parser.add_argument("--sizes", action="store_true", help="print the size table only")
    parser.add_argument("--widths", nargs="+", default=list(WIDTH_NAMES), choices=WIDTH_NAMES, metavar="W",
                        help="widths to time (default: all of 1/16 1/8 1/4 1/2 1)")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.min_time = 3, 0.08
    warnings.filterwarnings("ignore", message=".*TF32.*")
    print(f"torch {torch.__version__}, {cpu_name()}, {len(os.sched_getaffinity(0))} CPUs, "
          f"{torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.2f}")
    size_table()
    if args.sizes:
        return
    t0 = time.time()
    if args.device in ("cpu", "all"):
        bench_device(torch.device("cpu"), args)
    if args.device in ("cuda", "all") and torch.cuda.is_available():
        torch.backends.cudnn.benchmark = True
        bench_device(torch.device("cuda"), args)
    elif args.device == "cuda":
        print("CUDA not available on this machine")
    print(f"\ntotal {time.time() - t0:.0f} s; load average now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
