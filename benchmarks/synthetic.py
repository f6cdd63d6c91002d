"""Synthetic face generation rate, faces per second on one core, at 80 and 128 px.

    python benchmarks/synthetic.py [--n 1000] [--repeats 3]

OpenCV and torch are limited to one thread. Two rates per (size, split): per CPU-second of this process
(time.process_time: what one core delivers, robust to other load on the machine) and per wall-clock second.
The best of --repeats runs is reported (the least disturbed). Issue 3's target: >= 1000 faces/s per core at 80 px.
The first line also times an empty Python loop (CPU ms per million iterations) so that rates from machines of
different speed (or a busy shared machine, where SMT siblings slow a core down) can be compared.
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import cv2
import numpy as np
import torch

from lab.data.synthetic import SyntheticFaces


def rate(split: str, size: int, n: int, repeats: int) -> tuple[float, float]:
    """(faces per CPU-second, faces per wall-second), best of `repeats` passes over n faces."""
    faces = SyntheticFaces(split, n=n, size=size, seed=0)
    faces[0]  # build the texture banks for this size outside the timing
    cpu, wall = np.inf, np.inf
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        for i in range(n):
            faces[i]
        cpu, wall = min(cpu, time.process_time() - c0), min(wall, time.perf_counter() - w0)
    return n / cpu, n / wall


def python_loop_ms() -> float:
    """CPU milliseconds for one million iterations of an empty Python loop (best of 3): the machine's pace."""
    best = np.inf
    for _ in range(3):
        c0 = time.process_time()
        for _ in range(1_000_000):
            pass
        best = min(best, time.process_time() - c0)
    return best * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="faces per timed pass")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"python {platform.python_version()}, opencv {cv2.__version__}, numpy {np.__version__}, "
          f"{os.cpu_count()} cpus, load average {load:.1f}, empty loop {python_loop_ms():.1f} ms per million")
    print(f"{'size':>5} {'split':>10} {'faces/cpu-s':>12} {'faces/wall-s':>13}")
    for size in (80, 128):
        for split in ("train", "common", "challenge"):
            cpu, wall = rate(split, size, args.n, args.repeats)
            print(f"{size:>5} {split:>10} {cpu:>12.0f} {wall:>13.0f}")


if __name__ == "__main__":
    main()
