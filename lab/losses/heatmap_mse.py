"""Heatmap MSE: the plain L2 baseline between predicted maps and Gaussian targets rendered from the labels."""
from __future__ import annotations

import torch
from torch import nn

from lab.heatmaps import encode_gaussian
from lab.losses._reduce import check_heatmaps, masked_mean
from lab.losses.registry import LossSpec, register

Tensor = torch.Tensor


def heatmap_mse(heatmaps: Tensor, target_maps: Tensor) -> Tensor:
    """Per-map mean squared error mean_q (H(q) - G(q))^2 (Tompson et al. 2014; Newell et al. 2016).

    heatmaps, target_maps: (..., h, w). Returns (...) (e.g. (B, K)).
    """
    return (heatmaps - target_maps).square().mean(dim=(-2, -1))


class HeatmapMSE(nn.Module):
    """mean (H - G)^2 over pixels and visible landmarks; G = exp(-|q - g|^2 / (2 sigma^2)), peak 1.

    sigma: target std in heatmap pixels. forward(heatmaps (B,K,h,w), target (B,K,2) heatmap px,
    visible (B,K) bool | None) -> scalar.
    """

    def __init__(self, sigma: float = 1.5):
        super().__init__()
        if sigma <= 0:
            raise ValueError(f"heatmap_mse: sigma must be > 0 heatmap pixels, got {sigma}")
        self.sigma = float(sigma)

    def forward(self, heatmaps: Tensor, target: Tensor, visible: Tensor | None = None) -> Tensor:
        check_heatmaps(heatmaps, target)
        g = encode_gaussian(target.to(heatmaps.dtype), heatmaps.shape[-2:], self.sigma)
        return masked_mean(heatmap_mse(heatmaps, g), visible)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}"


register(LossSpec(
    name="heatmap_mse",
    build=HeatmapMSE,
    input="heatmap",
    decoder="argmax",
    paper="Tompson et al., NeurIPS 2014 / Newell et al., ECCV 2016 (heatmap L2 baseline)",
    equation="mean_q (H(q) - G(q))^2, G(q) = exp(-|q - g|^2 / (2 sigma^2))",
    defaults={"sigma": 1.5},
))
