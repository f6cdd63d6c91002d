"""What the recipe's speed switches buy on this machine: channels_last, bf16 autocast, threads, glibc's free list.

    python benchmarks/recipe_speed.py [--steps 10] [--models hourglass:0.25,rcn:0.125]

Each configuration runs in a fresh process (the malloc setting and the thread count are process-wide): a few
warm-up steps, then `--steps` timed training steps (forward, LaplaceKL, backward, AdamW) at batch 32 on random
input. Prints ms per step, user and system CPU seconds, and the speed-up against the first row of each model,
all measured in this one run.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import time

import pandas as pd

VARIANTS = [  # (label, threads, channels_last, bf16, keep_freed_memory)
    ("version 1: NCHW fp32, 1 thread, default malloc", 1, False, False, False),
    ("+ keep freed memory", 1, False, False, True),
    ("+ channels_last", 1, True, False, True),
    ("+ bf16 autocast", 1, True, True, True),
    ("channels_last fp32, 2 threads", 2, True, False, True),
]


def _measure(args: tuple) -> dict:
    model_name, width, threads, channels_last, bf16, malloc, steps = args
    import torch

    from lab.heatmaps import to_heatmap_coords
    from lab.losses import build_loss
    from lab.models import build_model
    from lab.models.fast import keep_freed_memory

    torch.set_num_threads(threads)
    if malloc:
        keep_freed_memory()
    torch.manual_seed(0)
    kw = {"stacks": 1} if model_name == "hourglass" else {}
    model = build_model(model_name, width=width, **kw)
    loss = build_loss("laplace_kl", model=model)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    x = torch.randn(32, 3, model.input_size, model.input_size).contiguous(memory_format=fmt)
    target = to_heatmap_coords(torch.rand(32, 68, 2) * model.input_size, model.stride)

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            outs = model(x)
        value = sum(loss(o.float(), target) for o in outs)
        opt.zero_grad()
        value.backward()
        opt.step()

    for _ in range(3):
        step()
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for _ in range(steps):
        step()
    dt, r1 = (time.perf_counter() - t0) / steps, resource.getrusage(resource.RUSAGE_SELF)
    return {"ms/step": 1000 * dt, "user s/step": (r1.ru_utime - r0.ru_utime) / steps,
            "sys s/step": (r1.ru_stime - r0.ru_stime) / steps}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--models", default="hourglass:0.25,rcn:0.125")
    args = p.parse_args(argv)
    import torch

    rows = []
    ctx = mp.get_context("spawn")
    for spec in args.models.split(","):
        name, width = spec.split(":")
        base = None
        for label, threads, cl, bf16, malloc in VARIANTS:
            with ctx.Pool(1) as pool:
                m = pool.apply(_measure, ((name, float(width), threads, cl, bf16, malloc, args.steps),))
            base = base or m["ms/step"]
            rows.append({"model": f"{name} x{width}", "variant": label, **{k: round(v, 3) for k, v in m.items()},
                         "speed-up": round(base / m["ms/step"], 2)})
    print(f"batch 32, LaplaceKL, AdamW; torch {torch.__version__}, CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}\n")
    print(pd.DataFrame(rows).to_markdown(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
