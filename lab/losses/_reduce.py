"""Shared reductions and input checks for the losses: the visibility-masked mean over landmarks."""
from __future__ import annotations

import torch

Tensor = torch.Tensor


def masked_mean(values: Tensor, visible: Tensor | None) -> Tensor:
    """Mean of per-landmark losses over the visible landmarks of the whole batch.

    values: (B, K) float, one loss per landmark. visible: (B, K) bool (or 0/1), or None = all visible.
    Returns a scalar. Invisible entries are excluded with `torch.where`, so a NaN or inf there cannot leak into
    the value. A batch with no visible landmark returns 0 that still has a grad_fn (sum * 0), never NaN.
    """
    if visible is None:
        return values.mean()
    if visible.shape != values.shape:
        raise ValueError(f"visible has shape {tuple(visible.shape)}, expected {tuple(values.shape)} (B, K)")
    mask = visible.to(device=values.device, dtype=torch.bool)
    total = torch.where(mask, values, torch.zeros_like(values)).sum()
    count = mask.sum().clamp_min(1).to(values.dtype)
    return total / count


def check_points(target: Tensor, lead_shape: torch.Size | tuple, name: str = "target") -> None:
    """Raise ValueError unless `target` is (..., 2) with leading dims `lead_shape` (B, K)."""
    if tuple(target.shape) != (*lead_shape, 2):
        raise ValueError(f"{name} has shape {tuple(target.shape)}, expected {(*lead_shape, 2)} (B, K, 2) points")


def check_heatmaps(heatmaps: Tensor, target: Tensor) -> None:
    """Raise ValueError unless heatmaps is (B, K, h, w) and target is (B, K, 2)."""
    if heatmaps.dim() != 4:
        raise ValueError(f"heatmaps must be (B, K, h, w), got shape {tuple(heatmaps.shape)}")
    check_points(target, heatmaps.shape[:2])
