"""Moments of heatmaps read as distributions: the one place STAR, W2, LaplaceKL, the decoders and the overlays take
P, its mean, covariance and Laplace scale from.

    P = normalize(H, mode)          "softmax": softmax(H / T); "relu": relu(H) / sum relu(H); "sum": H / sum H
    mu = sum_q P(q) q,  Sigma = sum_q P(q) (q - mu)(q - mu)^T,  b = sum_q P(q) |q - mu|  (per axis)

Pixel-centre coordinates (DESIGN.md, "Coordinates"): pixel (row i, col j) is the point (x=j, y=i).
heatmaps / P: (..., h, w); points (..., 2) as (x, y); covariances (..., 2, 2).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


def coordinate_grid(h: int, w: int, device=None, dtype=None) -> tuple[Tensor, Tensor]:
    """Pixel-centre coordinates: xs (w,) = 0..w-1 and ys (h,) = 0..h-1."""
    dtype = dtype or torch.get_default_dtype()
    return torch.arange(w, device=device, dtype=dtype), torch.arange(h, device=device, dtype=dtype)


def normalize(heatmaps: Tensor, mode: str = "softmax", temperature: float = 1.0, eps: float = 1e-8) -> Tensor:
    """Per-landmark distribution P (..., h, w) summing to 1 over each map.

    mode "softmax": softmax(H / T) (soft-argmax, LaplaceKL); "relu": relu(H) / sum relu(H) (2D Wasserstein);
    "sum": H / sum H (STAR v2; assumes non-negative maps). An all-zero map under "relu"/"sum" becomes
    the uniform distribution (a uniform floor of total mass eps is mixed in), never NaN. Half-precision
    input is normalised in float32 (the floor would round to 0) and returned in its own dtype.
    """
    if heatmaps.dtype in (torch.float16, torch.bfloat16):
        return normalize(heatmaps.float(), mode, temperature, eps).to(heatmaps.dtype)
    shape = heatmaps.shape
    flat = heatmaps.reshape(*shape[:-2], -1)
    if mode == "softmax":
        p = torch.softmax(flat / temperature, dim=-1)
    elif mode in ("relu", "sum"):
        v = F.relu(flat) if mode == "relu" else flat
        v = v + eps / flat.shape[-1]
        p = v / v.sum(dim=-1, keepdim=True)
    else:
        raise ValueError(f"unknown normalisation {mode!r}; valid: softmax, relu, sum")
    return p.reshape(shape)


def marginals(p: Tensor) -> tuple[Tensor, Tensor]:
    """Marginals of P (..., h, w): px (..., w) over x and py (..., h) over y."""
    return p.sum(dim=-2), p.sum(dim=-1)


def expectation(p: Tensor) -> Tensor:
    """Mean (x, y) of distributions P (..., h, w) -> (..., 2)."""
    px, py = marginals(p)
    xs, ys = coordinate_grid(p.shape[-2], p.shape[-1], p.device, p.dtype)
    return torch.stack([px @ xs, py @ ys], dim=-1)


def moments(p: Tensor, unbiased: bool = False) -> tuple[Tensor, Tensor, Tensor]:
    """Mean (..., 2), covariance (..., 2, 2) and per-axis Laplace scale E|q - mu| (..., 2) of P (..., h, w).

    Computed on centred coordinates (no E[x^2] - mu^2 cancellation). `unbiased=True` divides the covariance by
    1 - sum P^2 (the unbiased weighted covariance with reliability weights, as STAR's official code does).
    """
    px, py = marginals(p)
    xs, ys = coordinate_grid(p.shape[-2], p.shape[-1], p.device, p.dtype)
    mx, my = px @ xs, py @ ys
    dx = xs - mx[..., None]  # (..., w)
    dy = ys - my[..., None]  # (..., h)
    vxx = (px * dx.square()).sum(-1)
    vyy = (py * dy.square()).sum(-1)
    vxy = ((p @ dx[..., None]).squeeze(-1) * dy).sum(-1)
    if unbiased:
        denom = (1.0 - p.flatten(-2).square().sum(-1)).clamp_min(1e-6)
        vxx, vyy, vxy = vxx / denom, vyy / denom, vxy / denom
    cov = torch.stack([torch.stack([vxx, vxy], -1), torch.stack([vxy, vyy], -1)], -2)
    scale = torch.stack([(px * dx.abs()).sum(-1), (py * dy.abs()).sum(-1)], -1)
    return torch.stack([mx, my], -1), cov, scale


def axis_moments(p1: Tensor, coords: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Mean, variance and mean absolute deviation (...,) of 1-D distributions p1 (..., n) on coords (n,)."""
    mean = p1 @ coords
    d = coords - mean[..., None]
    return mean, (p1 * d.square()).sum(-1), (p1 * d.abs()).sum(-1)


def softmax_axis_moments(heatmaps: Tensor, temperature: float) -> tuple[Tensor, Tensor, Tensor]:
    """mean (B,K,2), per-axis variance (B,K,2) and Laplace scale (B,K,2) of P = softmax(H / T) (B,K,h,w).

    Per-axis statistics need only the marginals of P (what moments computes, minus the x-y covariance
    pass over the full map, which the per-axis KL does not use).
    """
    p = normalize(heatmaps, "softmax", temperature)
    px, py = marginals(p)
    xs, ys = coordinate_grid(p.shape[-2], p.shape[-1], p.device, p.dtype)
    stats = zip(axis_moments(px, xs), axis_moments(py, ys))
    return tuple(torch.stack(pair, dim=-1) for pair in stats)


class _ReluRowSums(torch.autograd.Function):
    """rows = relu(H) @ basis (N, h, 3) and sum relu(H)^2 (N,), with a fused backward: the map gradient is formed
    once (grad_rows @ basis^T, + 2 grad_sq relu(H) in place, relu mask in place) instead of three autograd
    branches accumulated separately. H: (N, h, w); basis: (N, w, 3), not differentiated."""

    @staticmethod
    def forward(ctx, maps: Tensor, basis: Tensor, with_square: bool) -> tuple[Tensor, Tensor]:
        r = F.relu(maps)
        rows = torch.matmul(r, basis)
        sq = torch.linalg.vector_norm(r.flatten(1), dim=-1).square() if with_square else r.new_zeros(r.shape[0])
        ctx.save_for_backward(r, basis)
        ctx.with_square = with_square
        return rows, sq

    @staticmethod
    def backward(ctx, grad_rows: Tensor, grad_sq: Tensor):
        r, basis = ctx.saved_tensors
        grad = torch.matmul(grad_rows, basis.transpose(-1, -2))
        if ctx.with_square and grad_sq is not None:
            grad.addcmul_(r, (2.0 * grad_sq)[:, None, None])
        grad.masked_fill_(r <= 0, 0.0)  # relu'(H) = 0 where H <= 0, as torch's relu
        return grad, None, None


def relu_moments(heatmaps: Tensor, origin: Tensor, unbiased: bool = False, eps: float = 1e-8,
                 bessel_eps: float | None = None) -> tuple[Tensor, Tensor]:
    """Mean and covariance of P = normalize(H, "relu", eps=eps) in one pass over the maps (fused, no P tensor).

    Same values as `moments(normalize(H, "relu"), unbiased)` (without the Laplace scale): P is
    (relu(H) + eps/n) / sum, n = h*w. One batched matmul of relu(H) against [1, dx, dx^2] (dx = x - origin_x)
    gives every row's sums; a second, small one contracts the rows with [1, dy, dy^2]. Moments are about `origin`
    (pass the label: no E[x^2] - mu^2 cancellation when the prediction is near it). `unbiased` divides by
    1 - sum P^2 (clamped at 1e-6, as moments), with sum P^2 from a norm (no squared map is stored);
    with `bessel_eps` given it divides instead by the official STAR v2 denominator V1 - V2 / V1,
    V1 = sum P + bessel_eps (= 1 + bessel_eps), V2 = sum P^2 + bessel_eps (>= bessel_eps, never zero).
    `bessel_eps` is ignored unless `unbiased` (the W2 loss calls this biased: unchanged).
    heatmaps: (..., h, w); origin: (..., 2) (x, y), not differentiated. Returns (..., 2) and (..., 2, 2).
    """
    h, w = heatmaps.shape[-2:]
    lead = heatmaps.shape[:-2]
    o = origin.detach().to(heatmaps.dtype).reshape(-1, 2)
    xs, ys = coordinate_grid(h, w, heatmaps.device, heatmaps.dtype)
    dx, dy = xs - o[:, :1], ys - o[:, 1:]  # (N, w), (N, h)
    ones = torch.ones_like(dx[:, :1]).expand_as(dx)
    basis_x = torch.stack([ones, dx, dx * dx], -1)  # (N, w, 3)
    basis_y = torch.stack([ones[:, :1].expand_as(dy), dy, dy * dy], -2)  # (N, 3, h)
    rows, sq = _ReluRowSums.apply(heatmaps.reshape(-1, h, w), basis_x, unbiased)  # (N, h, 3), (N,)
    c = eps / (h * w)  # the uniform floor normalize() adds to every pixel, accounted for in closed form
    floor = c * basis_y.sum(-1)[:, :, None] * basis_x.sum(-2)[:, None, :]
    sums = torch.matmul(basis_y, rows) + floor  # (N, 3, 3): [i, j] = sum_q P~(q) dy^i dx^j, P~ unnormalised
    s0 = sums[:, 0, 0]
    m = sums / s0[:, None, None]
    mx, my = m[:, 0, 1], m[:, 1, 0]  # mean offset from the origin
    vxx, vyy, vxy = m[:, 0, 2] - mx * mx, m[:, 2, 0] - my * my, m[:, 1, 1] - mx * my
    if unbiased:
        mass = s0 - eps  # sum relu(H)
        sumsq = (sq + 2 * c * mass + c * c * h * w) / s0.square()
        if bessel_eps is None:
            denom = (1.0 - sumsq).clamp_min(1e-6)
        else:
            v1 = 1.0 + bessel_eps  # sum P is 1 by construction (its derivative w.r.t. H is 0)
            denom = v1 - (sumsq + bessel_eps) / v1
        vxx, vyy, vxy = vxx / denom, vyy / denom, vxy / denom
    mean = o + torch.stack([mx, my], -1)
    cov = torch.stack([torch.stack([vxx, vxy], -1), torch.stack([vxy, vyy], -1)], -2)
    return mean.reshape(*lead, 2), cov.reshape(*lead, 2, 2)
