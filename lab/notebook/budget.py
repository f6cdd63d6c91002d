"""The size of the notebooks' live runs: a CPU budget (a model that has started to learn in 20-30 s) or, with CUDA, a
bigger one, and the backbone per budget (LIVE_MODELS)."""
from __future__ import annotations

import os
from typing import Any

import torch

from lab.config import RunConfig

# Live runs in the notebooks. On a CPU a run is ~200 optimiser steps of 16 faces on a small model, 20-30 s with one
# thread: the loss falls and the NME drops from ~80 % to 20-40 % — a model that has started to learn, not a good one
# (the reference results are for that). With CUDA a run is 2000 faces x 12 epochs with a wider model, a few minutes.
# Synthetic faces are rendered on the fly (a few ms each); the CUDA budget renders them in DataLoader workers.
# The live runs use the training recipe's defaults (lab/config.py: AdamW, warm-up + cosine, EMA, fresh faces).
CPU_BUDGET = {"train_n": 1024, "val_n": 32, "test_n": 32, "epochs": 8, "batch_size": 32, "synth_size": 96}
CUDA_BUDGET = {"train_n": 4096, "val_n": 100, "test_n": 100, "epochs": 20, "batch_size": 32, "synth_size": 128,
               "workers": min(8, max((os.cpu_count() or 1) - 1, 0))}
# Backbones per budget. The small hourglass (64 px input, 16 px maps) does several times more steps per CPU second
# than the Laplace paper's RCN (80 px maps at stride 1), so the CPU runs use it for every heatmap loss.
LIVE_MODELS = {
    "hourglass": {"cpu": {"model": "hourglass", "width": 0.5, "model_kw": {"stacks": 1, "input_size": 64, "depth": 3}},
                  "cuda": {"model": "hourglass", "width": 1.0, "model_kw": {"stacks": 2}}},
    "rcn": {"cpu": {"model": "rcn", "width": 0.0625}, "cuda": {"model": "rcn", "width": 0.25}},
    "regressor": {"cpu": {"model": "regressor", "width": 0.5}, "cuda": {"model": "regressor", "width": 1.0}},
}


def pick_budget(model: str = "hourglass", cuda: bool | None = None, cpu: dict | None = None, **overrides: Any) -> dict:
    """RunConfig fields for a live run: the CPU budget and a small `model` ("hourglass", "rcn", "regressor"), or,
    when a CUDA device is present (or cuda=True), the CUDA budget and a wider model; `overrides` on top, and
    `cpu` (a dict of fields) on top of those on the CPU budget only (e.g. a smaller run for a costlier method)."""
    if model not in LIVE_MODELS:
        raise ValueError(f"pick_budget: unknown live model {model!r}; valid: {', '.join(LIVE_MODELS)}")
    use_cuda = torch.cuda.is_available() if cuda is None else bool(cuda)
    kind = "cuda" if use_cuda else "cpu"
    budget = CUDA_BUDGET if use_cuda else CPU_BUDGET
    return {**budget, **LIVE_MODELS[model][kind], "device": kind, **overrides, **({} if use_cuda else cpu or {})}


def live_config(name: str, loss: str, model: str = "hourglass", cpu: dict | None = None, **fields: Any) -> RunConfig:
    """A RunConfig for a notebook's live run: pick_budget(model, cpu=cpu) with `fields` (loss_kw, decoder, ...)."""
    return RunConfig(name=name, loss=loss, **pick_budget(model, cpu=cpu, **fields))
