"""The training recipe's parts: optimiser, learning-rate schedule and the weight EMA, built from a RunConfig.

    optimizer  "adamw": AdamW (Loshchilov & Hutter 2019, decoupled weight decay), "adam": Adam with an L2 penalty
    schedule   "warmup_cosine", per optimiser step t of T = epochs * steps_per_epoch:
                   lr(t) = lr * (t + 1) / warmup                                   for t < warmup
                   lr(t) = lr * (r + (1 - r) (1 + cos(pi (t - warmup) / (T - warmup))) / 2)   after, r = min_lr_ratio
               "cosine": per epoch, cosine to 0 over the epochs (version 1); "constant"
    EMA        e <- d_n e + (1 - d_n) w after every step, d_n = min(decay, (1 + n) / (10 + n)) (warm-up, as timm's
               ModelEmaV2 and TF's ExponentialMovingAverage with num_updates): early EMA weights are not stuck at
               the initialisation. Buffers (BatchNorm statistics) are copied, not averaged.
"""
from __future__ import annotations

import copy
import math

import torch
from torch import nn

from lab.config import RunConfig

OPTIMIZERS = ("adamw", "adam")
SCHEDULES = ("warmup_cosine", "cosine", "constant")


def build_optimizer(cfg: RunConfig, params) -> torch.optim.Optimizer:
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}; valid: {', '.join(OPTIMIZERS)}")


def warmup_cosine(step: int, total: int, warmup: int, min_ratio: float) -> float:
    """The learning-rate factor at optimiser step `step` (0-based) of `total` (module docstring)."""
    if step < warmup:
        return (step + 1) / warmup
    span = max(total - warmup, 1)
    progress = min((step - warmup) / span, 1.0)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(cfg: RunConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int
                    ) -> tuple[torch.optim.lr_scheduler.LRScheduler, bool]:
    """(scheduler, per_step): per_step tells the loop to call scheduler.step() after every optimiser step."""
    if cfg.schedule == "warmup_cosine":
        total = max(cfg.epochs * steps_per_epoch, 1)
        warmup = min(cfg.warmup_steps, total // 2)
        fn = lambda t: warmup_cosine(t, total, warmup, cfg.min_lr_ratio)  # noqa: E731
        return torch.optim.lr_scheduler.LambdaLR(optimizer, fn), True
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(cfg.epochs, 1)), False
    if cfg.schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0), False
    raise ValueError(f"unknown schedule {cfg.schedule!r}; valid: {', '.join(SCHEDULES)}")


class ModelEMA:
    """Exponential moving average of a model's weights with warm-up (module docstring); `.module` is the EMA copy."""

    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema decay must be in (0, 1), got {decay}")
        self.decay = float(decay)
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        d = min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))
        ema = [p for p in self.module.parameters()]
        cur = [p.detach() for p in model.parameters()]
        torch._foreach_lerp_(ema, cur, 1.0 - d)
        for b_ema, b in zip(self.module.buffers(), model.buffers()):
            b_ema.copy_(b)
        self.updates += 1

    def state_dict(self) -> dict:
        return {"module": self.module.state_dict(), "updates": self.updates, "decay": self.decay}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["module"])
        self.updates = int(state["updates"])
