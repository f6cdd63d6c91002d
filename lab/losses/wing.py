"""Wing loss (Feng et al., CVPR 2018) on coordinates and Adaptive Wing (Wang et al., ICCV 2019) on heatmaps.

Units. Wing's constants are lengths: the paper's w = 10, eps = 2 are pixels of its CNN-6's 64 x 64 input image.
The lab's coordinates are heatmap pixels, so `Wing` takes w and eps in INPUT pixels together with `stride` (input
pixels per heatmap pixel, the model's `stride`) and applies w / stride, eps / stride to heatmap-pixel errors. The
value is then the input-pixel Wing loss divided by stride (wing_{w/s, eps/s}(x / s) = wing_{w, eps}(x) / s).
Never give pixel constants to normalised [-1, 1] coordinates: a 10-pixel w there covers every error and Wing
degenerates to a pure log loss. For other input sizes, `wing_scaled_for(input_size, stride)` scales the paper's
constants by input_size / 64 (the same fraction of the face).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from lab.heatmaps import encode_gaussian
from lab.losses._reduce import check_heatmaps, masked_mean
from lab.losses.coord import CoordinateLoss
from lab.losses.registry import LossSpec, register

Tensor = torch.Tensor

WING_REFERENCE_INPUT = 64  # the input size (pixels) at which Feng et al. report w = 10, eps = 2 (CNN-6)


def wing(x: Tensor, w: float = 10.0, eps: float = 2.0) -> Tensor:
    """Feng et al. CVPR 2018, Wing loss: w ln(1 + |x|/eps) if |x| < w else |x| - C, C = w - w ln(1 + w/eps).

    x: error, any shape, in the same unit as w and eps. Returns the same shape. C makes it continuous at |x| = w
    (the slope jumps from w / (w + eps) to 1 there).
    """
    if w <= 0 or eps <= 0:
        raise ValueError(f"wing: w and eps must be > 0, got w={w}, eps={eps}")
    a = x.abs()
    c = w - w * math.log1p(w / eps)
    return torch.where(a < w, w * torch.log1p(a / eps), a - c)


def wing_scaled_for(input_size: int, stride: float = 1.0, w: float = 10.0, eps: float = 2.0) -> dict:
    """Wing hyper-parameters for an input of `input_size` pixels: the paper's (w, eps) at 64 px scaled by size / 64.

    Returns the keyword arguments of `Wing` / build_loss("wing", ...): {"w", "eps" (input px), "stride"}.
    """
    if input_size <= 0 or stride <= 0:
        raise ValueError(f"wing_scaled_for: input_size and stride must be > 0, got {input_size}, {stride}")
    f = input_size / WING_REFERENCE_INPUT
    return {"w": w * f, "eps": eps * f, "stride": float(stride)}


class Wing(CoordinateLoss):
    """Wing loss on (B, K, 2) heatmap-pixel points; w, eps in input pixels, stride = input px per heatmap px.

    forward(pred (B,K,2), target (B,K,2), visible (B,K) | None) -> mean over visible landmarks of
    wing(dx) + wing(dy) with w / stride, eps / stride.
    """

    def __init__(self, w: float = 10.0, eps: float = 2.0, stride: float = 1.0):
        if w <= 0 or eps <= 0 or stride <= 0:
            raise ValueError(f"wing: w, eps (input px) and stride must be > 0, got w={w}, eps={eps}, stride={stride}")
        super().__init__(wing, w=w / stride, eps=eps / stride)
        self.w, self.eps, self.stride = float(w), float(eps), float(stride)

    def extra_repr(self) -> str:
        return f"w={self.w} px, eps={self.eps} px, stride={self.stride}"


def awing(pred: Tensor, target: Tensor, alpha: float = 2.1, omega: float = 14.0, eps: float = 1.0,
          theta: float = 0.5) -> Tensor:
    """Wang et al. ICCV 2019, Adaptive Wing: omega ln(1 + |d/eps|^(alpha-y)) if |d| < theta else A|d| - C.

    d = y - y_hat, A = omega (alpha-y) (theta/eps)^(alpha-y-1) / (eps (1 + (theta/eps)^(alpha-y))),
    C = theta A - omega ln(1 + (theta/eps)^(alpha-y)) (continuous and C1 at |d| = theta).
    pred (y_hat), target (y): (..., h, w) with target in [0, 1]. Returns elementwise loss (..., h, w).
    """
    y = target.detach()
    p = alpha - y
    with torch.no_grad():  # A and C depend on the target only
        r = theta / eps
        rp = torch.pow(r, p)
        big_a = omega * p * (rp / r) / (eps * (1.0 + rp))
        c = theta * big_a - omega * torch.log1p(rp)
    d = (y - pred).abs()
    return torch.where(d < theta, omega * torch.log1p((d / eps).pow(p)), big_a * d - c)


def awing_weight_map(target: Tensor, weight: float = 10.0, threshold: float = 0.2) -> Tensor:
    """Wang et al. ICCV 2019 loss weight map: W = weight * [dilate3x3(G) >= threshold] + 1.

    target: (B, K, h, w) Gaussian maps G. Returns (B, K, h, w), no gradient.
    """
    with torch.no_grad():
        shape = target.shape
        dil = F.max_pool2d(target.reshape(-1, 1, *shape[-2:]), 3, stride=1, padding=1).reshape(shape)
        return weight * (dil >= threshold).to(target.dtype) + 1.0


class AdaptiveWing(nn.Module):
    """Adaptive Wing loss on heatmaps with its weight map; target G = exp(-|q - g|^2 / (2 sigma^2)).

    sigma in heatmap pixels. forward(heatmaps (B,K,h,w), target (B,K,2), visible (B,K) | None) -> scalar:
    mean over pixels and visible landmarks of W * AWing(H, G).
    """

    def __init__(self, alpha: float = 2.1, omega: float = 14.0, eps: float = 1.0, theta: float = 0.5,
                 weight: float = 10.0, threshold: float = 0.2, sigma: float = 1.5):
        super().__init__()
        if sigma <= 0 or eps <= 0 or theta <= 0 or alpha <= 2.0:
            raise ValueError(f"awing: need sigma, eps, theta > 0 and alpha > 2 (so alpha - y > 1 on [0, 1] targets), "
                             f"got sigma={sigma}, eps={eps}, theta={theta}, alpha={alpha}")
        self.params = {"alpha": float(alpha), "omega": float(omega), "eps": float(eps), "theta": float(theta)}
        self.weight, self.threshold, self.sigma = float(weight), float(threshold), float(sigma)

    def forward(self, heatmaps: Tensor, target: Tensor, visible: Tensor | None = None) -> Tensor:
        check_heatmaps(heatmaps, target)
        g = encode_gaussian(target.to(heatmaps.dtype), heatmaps.shape[-2:], self.sigma)
        per_pixel = awing_weight_map(g, self.weight, self.threshold) * awing(heatmaps, g, **self.params)
        return masked_mean(per_pixel.mean(dim=(-2, -1)), visible)

    def extra_repr(self) -> str:
        return f"{self.params}, weight={self.weight}, threshold={self.threshold}, sigma={self.sigma}"


register(LossSpec(
    name="wing", build=Wing, input="coords", decoder="soft_argmax",
    paper="Feng et al., Wing loss, CVPR 2018",
    equation="sum_axes w ln(1 + |x|/eps) if |x| < w else |x| - C, C = w - w ln(1 + w/eps); w, eps in input px",
    defaults={"w": 10.0, "eps": 2.0, "stride": 1.0},
    geometry=lambda model: wing_scaled_for(model.input_size, model.stride),
))
register(LossSpec(
    name="awing", build=AdaptiveWing, input="heatmap", decoder="dark",
    paper="Wang, Bo & Fuxin, Adaptive Wing loss, ICCV 2019",
    equation="mean W * (omega ln(1 + |d/eps|^(alpha-y)) if |d| < theta else A|d| - C), W = 10[dilate(G) >= 0.2] + 1",
    defaults={"alpha": 2.1, "omega": 14.0, "eps": 1.0, "theta": 0.5, "weight": 10.0, "threshold": 0.2,
              "sigma": 1.5},
))
