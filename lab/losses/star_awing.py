"""STAR + Adaptive Wing, the combination the official STAR code trains with (Zhou et al., CVPR 2023; Wang et al.,
"Adaptive Wing Loss for Robust Face Alignment via Heatmap Regression", ICCV 2019).

    L = STAR(H, g) + awing_weight * AWing(H, G),   G = exp(-|q - g|^2 / (2 sigma^2)),   awing_weight = 10

STAR is `lab.losses.star.STARLoss` (official STARLoss_v2) and AWing is `lab.losses.wing.AdaptiveWing` (its loss
with the weight map W = fg_weight [dilate3x3(G) >= threshold] + 1, mean over pixels), both averaged over the
visible landmarks; both act on the SAME maps H (B, K, h, w).

The official recipe (conf/alignment.py of ZhenglinZhou/STAR, with lib/backbone/stackedHGNetV1.py, as we read
them): per hourglass stack i of 4, loss weight 2^i / 2^3 times [1 * STARLoss_v2, 10 * AWingLoss, 10 * AWingLoss];
STAR supervises the stack's landmark heatmaps (an "in+relu" head, fused with the AAM masks), the two AWing terms
supervise the AAM module's *separate* heads -- sigmoid-activated point maps (one per landmark) and edge maps (one
per facial contour). Deviation here: the lab's models have one head, so AWing supervises the same maps STAR does
(raw H, no sigmoid); there is no edge-map term and no per-stack weighting (the lab's loss sees the final maps).
With AWing on the same maps, H is pulled towards the peak-1 Gaussian G while STAR only reads H / sum H, so the
AWing term also fixes the maps' scale, which STAR alone leaves free.

Hyper-parameters, flat so the CLI's --loss-kw KEY=VALUE can set each: `awing_weight` (the combination weight,
official 10); STAR's `w`, `eps`, `beta` as `star_w`, `star_eps`, `star_beta`; AdaptiveWing's `alpha`, `omega`,
`eps`, `theta`, `threshold`, `sigma` as `awing_alpha`, ... `awing_sigma`, and its weight-map foreground weight
`weight` as `awing_fg_weight` (the name `awing_weight` being the combination weight).
Decoder: "barycenter" (window 9 around the argmax), not STAR's full-map "relu_mean": the AWing term makes the raw
maps peaked, and on them the local barycenter was the better reading (reference runs: 4.86 vs 5.32 % NME_io on
the LFPW validation split, 13.1 vs 14.5 % on synthetic full).
"""
from __future__ import annotations

import torch
from torch import nn

from lab.losses.registry import LossSpec, register
from lab.losses.star import STARLoss
from lab.losses.wing import AdaptiveWing

Tensor = torch.Tensor


class StarAWing(nn.Module):
    """STAR(H, g) + awing_weight * AdaptiveWing(H, G) on the same heatmaps (module docstring for the recipe).

    forward(heatmaps (B,K,h,w), target (B,K,2) heatmap px, visible (B,K) bool | None) -> scalar.
    `parts(...)` returns the two terms (STAR, unweighted AWing) as scalars, for logging.
    """

    def __init__(self, awing_weight: float = 10.0, star_w: float = 1.0, star_eps: float = 1e-5,
                 star_beta: float = 0.01, awing_alpha: float = 2.1, awing_omega: float = 14.0,
                 awing_eps: float = 1.0, awing_theta: float = 0.5, awing_fg_weight: float = 10.0,
                 awing_threshold: float = 0.2, awing_sigma: float = 1.5):
        super().__init__()
        if awing_weight < 0:
            raise ValueError(f"star_awing: awing_weight must be >= 0, got {awing_weight}")
        self.awing_weight = float(awing_weight)
        self.star = STARLoss(w=star_w, eps=star_eps, beta=star_beta)
        self.awing = AdaptiveWing(alpha=awing_alpha, omega=awing_omega, eps=awing_eps, theta=awing_theta,
                                  weight=awing_fg_weight, threshold=awing_threshold, sigma=awing_sigma)

    def parts(self, heatmaps: Tensor, target: Tensor, visible: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self.star(heatmaps, target, visible), self.awing(heatmaps, target, visible)

    def forward(self, heatmaps: Tensor, target: Tensor, visible: Tensor | None = None) -> Tensor:
        star, awing = self.parts(heatmaps, target, visible)
        return star + self.awing_weight * awing

    def extra_repr(self) -> str:
        return f"awing_weight={self.awing_weight}"


register(LossSpec(
    name="star_awing",
    build=StarAWing,
    input="heatmap",
    decoder="barycenter",
    paper="Zhou et al., STAR Loss, CVPR 2023 (official recipe: STARLoss_v2 + 10 AWingLoss; Wang et al., ICCV 2019)",
    equation="STAR(H, g) + awing_weight * mean W * AWing(H, G), on the same maps (official: AWing on separate "
             "AAM point/edge heads)",
    defaults={"awing_weight": 10.0, "star_w": 1.0, "star_eps": 1e-5, "star_beta": 0.01, "awing_alpha": 2.1,
              "awing_omega": 14.0, "awing_eps": 1.0, "awing_theta": 0.5, "awing_fg_weight": 10.0,
              "awing_threshold": 0.2, "awing_sigma": 1.5},
))
