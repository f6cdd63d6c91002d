"""Heatmap codecs: target encoding (Gaussian, Laplace) and decoding (argmax, soft-argmax, local barycenter, moments).

One convention everywhere (see DESIGN.md, "Coordinates"): pixel (row i, col j) has its centre at (x=j, y=i);
a crop coordinate x maps to heatmap coordinate x_h = (x + 0.5) / stride - 0.5.
Every function accepts any leading dimensions: heatmaps are (..., h, w), points are (..., 2) as (x, y).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


def to_heatmap_coords(points, stride: float):
    """Crop-pixel (x, y) -> heatmap-pixel (x, y): x_h = (x + 0.5) / stride - 0.5. numpy or torch."""
    return (points + 0.5) / stride - 0.5


def from_heatmap_coords(points_h, stride: float):
    """Heatmap-pixel (x, y) -> crop-pixel (x, y): x = (x_h + 0.5) * stride - 0.5. numpy or torch."""
    return (points_h + 0.5) * stride - 0.5


def coordinate_grid(h: int, w: int, device=None, dtype=None) -> tuple[Tensor, Tensor]:
    """Pixel-centre coordinates: xs (w,) = 0..w-1 and ys (h,) = 0..h-1."""
    dtype = dtype or torch.get_default_dtype()
    return torch.arange(w, device=device, dtype=dtype), torch.arange(h, device=device, dtype=dtype)


def _offsets(points: Tensor, size: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """dx (..., 1, w) and dy (..., h, 1): grid minus each point, for points (..., 2)."""
    h, w = size
    xs, ys = coordinate_grid(h, w, points.device, points.dtype)
    dx = xs - points[..., 0, None]
    dy = ys - points[..., 1, None]
    return dx[..., None, :], dy[..., :, None]


def encode_gaussian(points: Tensor, size: tuple[int, int], sigma: float) -> Tensor:
    """Gaussian targets exp(-|q - p|^2 / (2 sigma^2)), peak 1 at the sub-pixel point.

    points: (..., 2) heatmap-pixel (x, y). size: (h, w). Returns (..., h, w).
    """
    dx, dy = _offsets(points, size)
    k = -0.5 / (sigma * sigma)
    return torch.exp(dy.square() * k) * torch.exp(dx.square() * k)  # separable: h + w exps, one product


def encode_laplace(points: Tensor, size: tuple[int, int], scale: float) -> Tensor:
    """Laplace targets exp(-(|dx| + |dy|) / b), peak 1 at the sub-pixel point (a product of per-axis Laplaces).

    points: (..., 2) heatmap-pixel (x, y). size: (h, w). Returns (..., h, w).
    """
    dx, dy = _offsets(points, size)
    return torch.exp(-dy.abs() / scale) * torch.exp(-dx.abs() / scale)


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


def soft_argmax(heatmaps: Tensor, temperature: float = 1.0) -> Tensor:
    """Soft-argmax: expectation of softmax(H / T). (..., h, w) -> (..., 2)."""
    return expectation(normalize(heatmaps, "softmax", temperature))


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


def _argmax_xy(heatmaps: Tensor) -> tuple[Tensor, Tensor]:
    """Integer column and row of each map's maximum: two (...,) long tensors."""
    w = heatmaps.shape[-1]
    idx = heatmaps.flatten(-2).argmax(dim=-1)
    return idx % w, idx // w


def decode_argmax(heatmaps: Tensor, quarter_shift: bool = True) -> Tensor:
    """Argmax of each map, shifted a quarter pixel towards the higher neighbour per axis (Newell et al.).

    heatmaps: (..., h, w). Returns (..., 2) float (x, y); border maxima are not shifted on that axis.
    """
    h, w = heatmaps.shape[-2:]
    ix, iy = _argmax_xy(heatmaps)
    out = torch.stack([ix, iy], -1).to(heatmaps.dtype if heatmaps.is_floating_point() else torch.float32)
    if not quarter_shift:
        return out
    flat = heatmaps.flatten(-2)

    def at(x: Tensor, y: Tensor) -> Tensor:
        return flat.gather(-1, (y.clamp(0, h - 1) * w + x.clamp(0, w - 1))[..., None])[..., 0]

    sx = torch.sign(at(ix + 1, iy) - at(ix - 1, iy)) * ((ix > 0) & (ix < w - 1))
    sy = torch.sign(at(ix, iy + 1) - at(ix, iy - 1)) * ((iy > 0) & (iy < h - 1))
    return out + 0.25 * torch.stack([sx, sy], -1).to(out.dtype)


def window_mask(heatmaps: Tensor, window: int) -> Tensor:
    """(..., h, w) 0/1 mask of the window x window square centred on each map's argmax (clipped at borders)."""
    if window < 1 or window % 2 == 0:
        raise ValueError(f"barycenter window must be a positive odd number of pixels, got {window}")
    h, w = heatmaps.shape[-2:]
    ix, iy = _argmax_xy(heatmaps)
    xs, ys = coordinate_grid(h, w, heatmaps.device, torch.long)
    r = window // 2
    inx = (xs - ix[..., None]).abs() <= r  # (..., w)
    iny = (ys - iy[..., None]).abs() <= r  # (..., h)
    return (iny[..., :, None] & inx[..., None, :]).to(heatmaps.dtype)


BARYCENTER_WINDOW = 9  # px; version-1 runs used 5 (their configs say so)


def decode_barycenter(heatmaps: Tensor, window: int = BARYCENTER_WINDOW) -> Tensor:
    """Barycenter of relu(H) in a window x window square around the argmax (Wasserstein paper's decoder).

    The window truncates the map around the argmax *pixel*, which biases the estimate towards that pixel's centre:
    on perfect sigma = 1.5 px Gaussian maps the mean error is 0.28 / 0.14 / 0.047 / 0.010 / 0.0026 heatmap px for
    windows 3 / 5 / 7 / 9 / 11 (at stride 4 a 0.14 px floor is ~1 % NME_io). The default, 9, is still local
    (robust to a second mode a few pixels away) and its floor is negligible.

    heatmaps: (..., h, w). Returns (..., 2). A window with no positive mass falls back to its centre.
    Half-precision input is decoded in float32.
    """
    if heatmaps.dtype in (torch.float16, torch.bfloat16):
        return decode_barycenter(heatmaps.float(), window).to(heatmaps.dtype)
    mask = window_mask(heatmaps, window)
    mass = F.relu(heatmaps) * mask + 1e-12 * mask  # the floor keeps empty windows at their centre
    return expectation(mass / mass.flatten(-2).sum(-1)[..., None, None])


def decode_dark(heatmaps: Tensor, floor: float = 1e-6, max_offset: float = 1.0) -> Tensor:
    """Sub-pixel argmax by a second-order Taylor expansion of log H at the maximum (Zhang et al., "Distribution-Aware
    Coordinate Representation for Human Pose Estimation" (DARK), CVPR 2020, Eq. 2-5, without their smoothing).

        m = argmax H,  L = log max(H, floor),  g = grad L(m),  Hs = Hessian L(m)  (central differences, 3x3)
        x = m - Hs^-1 g                                   (exact for a Gaussian map: log G is quadratic)

    Falls back to the quarter-pixel shift of `decode_argmax` where the Hessian is not negative definite or the
    offset exceeds `max_offset` px, and on border maxima. heatmaps: (..., h, w). Returns (..., 2) (x, y).
    Why: on perfect sigma = 1.5 Gaussian maps of 32 x 32 px the quarter-shift argmax alone errs by 1.7 % NME_io
    (synthetic faces, 128 px crops), a floor no training can go below; this decoder recovers them exactly.
    """
    if heatmaps.dtype in (torch.float16, torch.bfloat16):
        return decode_dark(heatmaps.float(), floor, max_offset).to(heatmaps.dtype)
    h, w = heatmaps.shape[-2:]
    ix, iy = _argmax_xy(heatmaps)
    base = decode_argmax(heatmaps)
    logs = torch.log(heatmaps.clamp_min(floor)).flatten(-2)
    x0, y0 = ix.clamp(1, w - 2), iy.clamp(1, h - 2)

    def at(dx: int, dy: int) -> Tensor:
        return logs.gather(-1, ((y0 + dy) * w + (x0 + dx))[..., None])[..., 0]

    c = at(0, 0)
    gx, gy = 0.5 * (at(1, 0) - at(-1, 0)), 0.5 * (at(0, 1) - at(0, -1))
    hxx, hyy = at(1, 0) - 2 * c + at(-1, 0), at(0, 1) - 2 * c + at(0, -1)
    hxy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
    det = hxx * hyy - hxy * hxy
    ok = (hxx < 0) & (det > 0) & (ix > 0) & (ix < w - 1) & (iy > 0) & (iy < h - 1)
    safe = torch.where(ok, det, torch.ones_like(det))
    ox = -(hyy * gx - hxy * gy) / safe
    oy = -(hxx * gy - hxy * gx) / safe
    ok = ok & (ox.abs() <= max_offset) & (oy.abs() <= max_offset)
    refined = torch.stack([x0.to(base.dtype) + ox, y0.to(base.dtype) + oy], -1)
    return torch.where(ok[..., None], refined, base)


DECODERS: dict[str, Callable[..., Tensor]] = {
    "argmax": decode_argmax,
    "dark": decode_dark,
    "soft_argmax": soft_argmax,
    "barycenter": decode_barycenter,
}


def decode(heatmaps: Tensor, method: str = "argmax", **kwargs) -> Tensor:
    """Decode (..., h, w) heatmaps to (..., 2) heatmap-pixel points with a named decoder from DECODERS."""
    try:
        fn = DECODERS[method]
    except KeyError:
        raise ValueError(f"unknown decoder {method!r}; valid: {sorted(DECODERS)}") from None
    return fn(heatmaps, **kwargs)
