"""Coordinate losses L1 / L2 / smooth-L1 on predicted points (soft-argmax of heatmaps, or a regressor's output).

Per-coordinate functions f(x) of the error x = pred - target as defined in Feng et al., CVPR 2018 (Wing loss
paper, Sec. 3): L1(x) = |x|, L2(x) = x^2 / 2, smooth-L1(x) = x^2 / (2 beta) if |x| < beta else |x| - beta / 2.
The loss of a landmark is f(dx) + f(dy); the batch loss is its mean over visible landmarks. All coordinates are
heatmap pixels (the lab's one unit), so beta is in heatmap pixels too.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from lab.losses._reduce import check_points, masked_mean
from lab.losses.registry import LossSpec, register

Tensor = torch.Tensor


def l1(x: Tensor) -> Tensor:
    """L1(x) = |x| (Feng et al. 2018, Sec. 3). Elementwise, any shape."""
    return x.abs()


def l2(x: Tensor) -> Tensor:
    """L2(x) = x^2 / 2 (Feng et al. 2018, Sec. 3). Elementwise, any shape."""
    return 0.5 * x.square()


def smooth_l1(x: Tensor, beta: float = 1.0) -> Tensor:
    """smooth-L1(x) = x^2 / (2 beta) if |x| < beta else |x| - beta / 2 (Girshick 2015). Elementwise."""
    return F.smooth_l1_loss(x, torch.zeros_like(x), reduction="none", beta=beta)


def coordinate_loss(fn: Callable[..., Tensor], pred: Tensor, target: Tensor, visible: Tensor | None = None,
                    **kwargs) -> Tensor:
    """mean over visible landmarks of fn(dx) + fn(dy). pred, target: (B, K, 2); visible (B, K) | None -> scalar."""
    if pred.dim() != 3:
        raise ValueError(f"pred must be (B, K, 2) points, got shape {tuple(pred.shape)}")
    check_points(pred, pred.shape[:2], name="pred")
    check_points(target, pred.shape[:2])
    return masked_mean(fn(pred - target.to(pred.dtype), **kwargs).sum(dim=-1), visible)


class CoordinateLoss(nn.Module):
    """A per-coordinate function applied to pred - target: forward(pred (B,K,2), target (B,K,2), visible) -> scalar."""

    def __init__(self, fn: Callable[..., Tensor], **kwargs: float):
        super().__init__()
        self.fn = fn
        self.kwargs = {k: float(v) for k, v in kwargs.items()}

    def forward(self, pred: Tensor, target: Tensor, visible: Tensor | None = None) -> Tensor:
        return coordinate_loss(self.fn, pred, target, visible, **self.kwargs)

    def extra_repr(self) -> str:
        return ", ".join([self.fn.__name__] + [f"{k}={v}" for k, v in self.kwargs.items()])


def build_l1() -> CoordinateLoss:
    return CoordinateLoss(l1)


def build_l2() -> CoordinateLoss:
    return CoordinateLoss(l2)


def build_smooth_l1(beta: float = 1.0) -> CoordinateLoss:
    if beta <= 0:
        raise ValueError(f"smooth_l1: beta must be > 0 heatmap pixels, got {beta}")
    return CoordinateLoss(smooth_l1, beta=beta)


_PAPER = "Feng et al., CVPR 2018 (Wing loss), Sec. 3 baselines; on soft-argmax points (Chapelle & Wu 2010)"
register(LossSpec("l1", build_l1, "coords", "soft_argmax", _PAPER, "|dx| + |dy|"))
register(LossSpec("l2", build_l2, "coords", "soft_argmax", _PAPER, "(dx^2 + dy^2) / 2"))
register(LossSpec("smooth_l1", build_smooth_l1, "coords", "soft_argmax", _PAPER,
                  "sum_axes x^2/(2 beta) if |x| < beta else |x| - beta/2", {"beta": 1.0}))
