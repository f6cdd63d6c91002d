"""Heatmap MSE: the L2 baseline between predicted maps and Gaussian targets rendered from the labels, with the
Adaptive Wing paper's foreground weight map so that it does not collapse to the all-zero map.

    L = mean_q W(q) (H(q) - G(q))^2,   G(q) = exp(-|q - g|^2 / (2 sigma^2)),
    W = 1 + fg_weight * [dilate3x3(G) >= threshold]                    (fg_weight = 10, threshold = 0.2)

The plain MSE (Tompson et al. 2014; Newell et al. 2016) is fg_weight = 0 (then W == 1 and the value is exactly
mean (H - G)^2). Why the weight: the all-zero map scores sum_q G^2 / (h w) ~ pi sigma^2 / (h w) (the integral of
exp(-|q|^2 / sigma^2)), 1.7e-3 for sigma = 1.5 on a 64 x 64 map, against 0 for a perfect map, and the gradient
towards the peak is spread over the few pixels of the Gaussian while every background pixel pulls towards 0:
networks settle on the empty map. The loss weight map of Wang, Bo & Fuxin ("Adaptive Wing Loss", ICCV 2019;
`lab.losses.wing.awing_weight_map`) multiplies the loss on the dilated foreground by 1 + fg_weight, which makes
the empty map ~11 times as costly as before (`zero_map_loss`) while a map equal to G still scores 0. As in that
paper, the weighted sum is divided by the pixel count h w (not by sum W).
"""
from __future__ import annotations

import torch
from torch import nn

from lab.heatmaps import encode_gaussian
from lab.losses._reduce import check_heatmaps, masked_mean
from lab.losses.registry import LossSpec, register
from lab.losses.wing import awing_weight_map

Tensor = torch.Tensor

FG_WEIGHT = 10.0  # Wang et al. 2019's weight-map foreground weight
FG_THRESHOLD = 0.2  # ... and its threshold on the dilated target


def heatmap_mse(heatmaps: Tensor, target_maps: Tensor, fg_weight: float = FG_WEIGHT,
                threshold: float = FG_THRESHOLD) -> Tensor:
    """Per-map foreground-weighted MSE mean_q W(q) (H(q) - G(q))^2, W = 1 + fg_weight [dilate3x3(G) >= threshold].

    Tompson et al. 2014 / Newell et al. 2016 (fg_weight = 0: the plain mean, exactly); weight map of Wang et al.
    ICCV 2019 (`awing_weight_map`, no gradient). heatmaps, target_maps: (..., h, w). Returns (...) (e.g. (B, K)).
    """
    if fg_weight < 0:
        raise ValueError(f"heatmap_mse: fg_weight must be >= 0, got {fg_weight}")
    sq = (heatmaps - target_maps).square()
    if fg_weight != 0:
        sq = awing_weight_map(target_maps, fg_weight, threshold) * sq
    return sq.mean(dim=(-2, -1))


def zero_map_loss(size: int | tuple[int, int], sigma: float, fg_weight: float = FG_WEIGHT,
                  threshold: float = FG_THRESHOLD) -> float:
    """The loss of the all-zero map, mean_q W(q) G(q)^2, for a target at the map centre ((w-1)/2, (h-1)/2).

    size: n or (h, w) heatmap pixels; sigma in heatmap pixels. For fg_weight = 0 it is ~ pi sigma^2 / (h w) (the
    integral of G^2 over the plane is pi sigma^2; the grid sum matches it to ~exp(-pi^2 sigma^2) by Poisson
    summation). The value a collapsed network sits at: compare the training loss with it.
    """
    h, w = (size, size) if isinstance(size, int) else size
    centre = torch.tensor([(w - 1) / 2.0, (h - 1) / 2.0], dtype=torch.float64)
    g = encode_gaussian(centre, (h, w), sigma)
    return heatmap_mse(torch.zeros_like(g), g, fg_weight, threshold).item()


class HeatmapMSE(nn.Module):
    """Foreground-weighted heatmap MSE (module docstring) over pixels and visible landmarks.

    sigma: target std in heatmap pixels; fg_weight, threshold: the weight map W = 1 + fg_weight
    [dilate3x3(G) >= threshold] (fg_weight = 0: plain MSE). forward(heatmaps (B,K,h,w), target (B,K,2) heatmap px,
    visible (B,K) bool | None) -> scalar.
    """

    def __init__(self, sigma: float = 1.5, fg_weight: float = FG_WEIGHT, threshold: float = FG_THRESHOLD):
        super().__init__()
        if sigma <= 0:
            raise ValueError(f"heatmap_mse: sigma must be > 0 heatmap pixels, got {sigma}")
        if fg_weight < 0:
            raise ValueError(f"heatmap_mse: fg_weight must be >= 0, got {fg_weight}")
        self.sigma, self.fg_weight, self.threshold = float(sigma), float(fg_weight), float(threshold)

    def forward(self, heatmaps: Tensor, target: Tensor, visible: Tensor | None = None) -> Tensor:
        check_heatmaps(heatmaps, target)
        g = encode_gaussian(target.to(heatmaps.dtype), heatmaps.shape[-2:], self.sigma)
        return masked_mean(heatmap_mse(heatmaps, g, self.fg_weight, self.threshold), visible)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}, fg_weight={self.fg_weight}, threshold={self.threshold}"


register(LossSpec(
    name="heatmap_mse",
    build=HeatmapMSE,
    input="heatmap",
    decoder="dark",
    paper="Tompson et al., NeurIPS 2014 / Newell et al., ECCV 2016 (heatmap L2 baseline); weight map of Wang et al., "
          "ICCV 2019",
    equation="mean_q W(q) (H(q) - G(q))^2, W = 1 + fg_weight [dilate3x3(G) >= threshold], "
             "G(q) = exp(-|q - g|^2 / (2 sigma^2))",
    defaults={"sigma": 1.5, "fg_weight": FG_WEIGHT, "threshold": FG_THRESHOLD},
))
