"""RCN inference speed per width, next to the Laplace paper's Table 3, and against the machine's own conv FLOP rate.

    python benchmarks/inference.py [--quick] [--no-compile] [--sizes] [--device cpu|cuda|all] [--rounds N]

Per width (1/16 .. 1, K = 68, 80x80 input):
- single image: a plain eager `model.eval()` call (NCHW, the process's default thread count) and the lab's fast path
  `lab.models.fast.optimize_for_inference` in each candidate setting (threads 1 or all, compiled or not); the best
  candidate is reported with its setting.
- batch 32 (all threads): eager and fast, images/s, and the achieved rate in GFLOP/s counting the *architecture's*
  multiply-adds x 2 (the fast path executes fewer: its rewrite is exact but skips the upsampled zeros' work), as a
  fraction of the measured rate of one large convolution (3x3, 256 -> 256 channels, 64x64, batch 4, channels_last)
  timed in this same run with the same thread count.
Timing: every candidate is called round-robin for `--rounds` rounds of >= `--min-time` seconds each; the table shows
the best round (least disturbed by other processes on a shared machine) and the median in brackets where it matters.
The paper's fps are on a 2.8 GHz Core i7 laptop; its text does not say the batch or thread count.
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


def conv_flops(model: nn.Module, input_size: int) -> int:
    """FLOPs (2 x multiply-adds) of every nn.Conv2d in one forward pass of one image."""
    total = 0

    def hook(mod: nn.Conv2d, _inp, out: torch.Tensor) -> None:
        nonlocal total
        kh, kw = mod.kernel_size
        total += 2 * out[0].numel() * mod.in_channels // mod.groups * kh * kw

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    with torch.inference_mode():
        model.eval()(torch.zeros(1, 3, input_size, input_size))
    for h in handles:
        h.remove()
    return total


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_round_robin(candidates: dict[str, tuple[Callable, int | None]], x: torch.Tensor, rounds: int,
                     min_time: float) -> dict[str, list[float]]:
    """Seconds per call of each candidate fn(x) (with its thread count, None = leave) for each of `rounds` rounds."""
    times: dict[str, list[float]] = {name: [] for name in candidates}
    default_threads = torch.get_num_threads()
    for name, (fn, threads) in candidates.items():  # warm up (oneDNN primitive caches, allocator)
        torch.set_num_threads(threads or default_threads)
        for _ in range(2):
            fn(x)
    for _ in range(rounds):
        for name, (fn, threads) in candidates.items():
            torch.set_num_threads(threads or default_threads)
            _sync(x.device)
            n, t0 = 0, time.perf_counter()
            while True:
                fn(x)
                n += 1
                _sync(x.device)
                elapsed = time.perf_counter() - t0
                if elapsed >= min_time:
                    break
            times[name].append(elapsed / n)
    torch.set_num_threads(default_threads)
    return times


def check_same_outputs(candidates: dict[str, tuple[Callable, int | None]], x: torch.Tensor) -> None:
    """Every candidate's heatmaps equal the eager model's to 1e-4 of their range (1e-2 on CUDA, where cuDNN may use
    TF32), since a fast wrong answer is no answer."""
    ref = candidates["eager"][0](x)[0]
    tol = (1e-2 if x.device.type == "cuda" else 1e-4) * ref.abs().max().item()
    for name, (fn, _) in candidates.items():
        err = (fn(x)[0] - ref).abs().max().item()
        if not err <= tol:
            raise AssertionError(f"{name}: max |difference| {err:.3g} from the eager model (tolerance {tol:.3g})")


def conv_peak(device: torch.device, threads: int | None, rounds: int, min_time: float) -> float:
    """GFLOP/s of one large 3x3 conv (256 -> 256 channels, 64x64, batch 4; batch 64 on CUDA), best round."""
    batch = 64 if device.type == "cuda" else 4
    conv = nn.Conv2d(256, 256, 3, padding=1).to(device).to(memory_format=torch.channels_last)
    x = torch.randn(batch, 256, 64, 64, device=device).contiguous(memory_format=torch.channels_last)
    flops = 2 * batch * 64 * 64 * 256 * 256 * 9

    def run(inp: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return conv(inp)

    t = time_round_robin({"conv": (run, threads)}, x, rounds, min_time)["conv"]
    return flops / min(t) / 1e9


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


def cpu_candidates(model: nn.Module, batch: int, threads_all: int, compile_ok: bool) -> dict:
    """name -> (fn, threads): the fast path with 1 thread and with all, compiled for one thread count only
    (one image: 1 thread, where per-call overhead matters; a batch: all threads)."""
    thread_options = (1, threads_all) if threads_all > 1 else (1,)
    if batch > 1:
        thread_options = thread_options[::-1]
    out = {}
    for threads in thread_options:
        torch.set_num_threads(threads)
        out[f"fast eager t{threads}"] = (optimize_for_inference(model, batch, compile=False), threads)
        if compile_ok and threads == thread_options[0]:
            out[f"fast compiled t{threads}"] = (optimize_for_inference(model, batch, compile=True), threads)
    torch.set_num_threads(threads_all)
    return out


def measure(cands: dict[str, tuple[Callable, int | None]], x: torch.Tensor, rounds: int, min_time: float,
            threads_all: int) -> dict:
    """Time all candidates; the best "fast ..." one with its best round, median round, thread count."""
    check_same_outputs(cands, x)
    times = time_round_robin(cands, x, rounds, min_time)
    best = min((n for n in times if n.startswith("fast")), key=lambda n: min(times[n]))
    return dict(eager=min(times["eager"]), fast=min(times[best]), median=statistics.median(times[best]),
                setting=best, threads=cands[best][1] or threads_all, all={n: min(v) for n, v in times.items()})


def bench_device(device: torch.device, args: argparse.Namespace) -> list[dict]:
    threads_all = torch.get_num_threads()
    cpu = device.type == "cpu"
    peak = {t: conv_peak(device, t if cpu else None, args.rounds, args.min_time)
            for t in ((1, threads_all) if cpu and threads_all > 1 else (threads_all,))}
    rows = []
    for name, w, paper_fps in zip(WIDTH_NAMES, WIDTHS, PAPER_FPS):
        if name not in args.widths:
            continue
        t0 = time.time()
        model = build_model("rcn", width=w).eval()
        row = dict(width=name, paper_fps=paper_fps, gflop=conv_flops(model, 80) / 1e9)
        model = model.to(device)
        for batch in (1, BATCH):
            x = torch.randn(batch, 3, 80, 80, device=device)
            # compiling costs 5-30 s a graph: by default only where it can matter (per-call overhead of the tiny
            # widths at batch 1; fused activations at full width, batch 32)
            compile_ok = args.compile and (args.compile_all or (w <= 1 / 8 if batch == 1 else w == 1.0))
            if cpu:
                cands = {"eager": (eager(model), threads_all), "eager t1": (eager(model), 1),
                         **cpu_candidates(model, batch, threads_all, compile_ok)}
            else:
                cands = {"eager": (eager(model), None),
                         "fast eager": (optimize_for_inference(model, batch, compile=False), None)}
                if compile_ok:
                    cands["fast compiled"] = (optimize_for_inference(model, batch, compile=True), None)
            rounds = args.rounds if batch == 1 else max(2, args.rounds // 2)
            row[batch] = measure(cands, x, rounds, args.min_time, threads_all)
        row["b32_gflops"] = BATCH * row["gflop"] / row[BATCH]["fast"]
        row["b32_frac"] = row["b32_gflops"] / peak[row[BATCH]["threads"]]
        rows.append(row)
        print(f"  width {name}: done in {time.time() - t0:.0f} s", flush=True)
    print_table(device, rows, peak)
    return rows


def print_table(device: torch.device, rows: list[dict], peak: dict[int, float]) -> None:
    print(f"\n[{device.type}] RCN, K=68, 80x80. 1-img: one image per call, best round (median); b32: batch of 32, "
          f"images/s; GFLOP/s of the best b32 setting and its share of the large conv's rate at the same thread "
          f"count ({', '.join(f'{v:.1f} GFLOP/s at {t} thread(s)' for t, v in peak.items())})")
    print(f"{'width':>5} {'paper':>6} {'eager 1-img':>11} {'fast 1-img':>22} {'setting':>17} {'eager b32':>9} "
          f"{'fast b32':>8} {'setting':>17} {'GFLOP/img':>9} {'GFLOP/s':>7} {'of peak':>7}")
    for r in rows:
        one, many = r[1], r[BATCH]
        fast1 = f"{one['fast'] * 1e3:.3f} ms ({one['median'] * 1e3:.3f})"
        print(f"{r['width']:>5} {r['paper_fps']:>6.2f} {1 / one['eager']:>7.0f} fps {fast1:>22} {one['setting']:>17} "
              f"{BATCH / many['eager']:>9.0f} {BATCH / many['fast']:>8.0f} {many['setting']:>17} {r['gflop']:>9.3f} "
              f"{r['b32_gflops']:>7.1f} {r['b32_frac']:>7.0%}")
    for batch, unit, scale in ((1, "ms per image", 1e3), (BATCH, "ms per batch of 32", 1e3)):
        print(f"  every candidate, batch {batch} ({unit}, best round):")
        for r in rows:
            print(f"    {r['width']:>5}: " + ", ".join(f"{n} {t * scale:.3f}" for n, t in r[batch]["all"].items()))
    if device.type == "cpu":
        verdicts = [f"width {r['width']} one image {r[1]['fast'] * 1e3:.3f} ms "
                    f"({'met' if r[1]['fast'] <= 1e-3 else 'NOT met'}: <= 1 ms)"
                    for r in rows if r["width"] in ("1/16", "1/8")]
        verdicts += [f"full width batch 32 at {r['b32_frac']:.0%} of the conv rate "
                     f"({'met' if r['b32_frac'] >= 0.7 else 'NOT met'}: >= 70%)" for r in rows if r["width"] == "1"]
        print("  targets: " + "; ".join(verdicts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cpu", "cuda", "all"), default="all",
                        help="all = the CPU, and CUDA when present")
    parser.add_argument("--rounds", type=int, default=5, help="round-robin rounds per measurement")
    parser.add_argument("--min-time", type=float, default=0.15, help="seconds per candidate per round")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 0.1 s")
    parser.add_argument("--compile-all", action="store_true", help="compiled candidates for every width and batch")
    parser.add_argument("--no-compile", dest="compile", action="store_false", help="skip torch.compile candidates")
    parser.add_argument("--sizes", action="store_true", help="print the size table only")
    parser.add_argument("--widths", nargs="+", default=list(WIDTH_NAMES), choices=WIDTH_NAMES, metavar="W",
                        help="widths to time (default: all of 1/16 1/8 1/4 1/2 1)")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.min_time = 3, 0.1
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
