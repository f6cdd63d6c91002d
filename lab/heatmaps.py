"""Heatmap codecs: target encoding (Gaussian, Laplace) and decoding (argmax, soft-argmax, local barycenter, moments).

One convention everywhere (see DESIGN.md, "Coordinates"): pixel (row i, col j) has its centre at (x=j, y=i);
a crop coordinate x maps to heatmap coordinate x_h = (x + 0.5) / stride - 0.5.
Every function accepts any leading dimensions: heatmaps are (..., h, w), points are (..., 2) as (x, y).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F

from lab.registry import Registry
from lab.moments import coordinate_grid, expectation, marginals, moments, normalize  # noqa: F401 (decoders use them)

Tensor = torch.Tensor


def to_heatmap_coords(points, stride: float):
    """Crop-pixel (x, y) -> heatmap-pixel (x, y): x_h = (x + 0.5) / stride - 0.5. numpy or torch."""
    return (points + 0.5) / stride - 0.5


def from_heatmap_coords(points_h, stride: float):
    """Heatmap-pixel (x, y) -> crop-pixel (x, y): x = (x_h + 0.5) * stride - 0.5. numpy or torch."""
    return (points_h + 0.5) * stride - 0.5


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


DISTRIBUTIONS = ("softmax", "relu")


@dataclass(frozen=True)
class Decoder:
    """A registered decoder: heatmaps (..., h, w) -> heatmap-pixel points (..., 2).

    fn: the function; distribution: how the map it reads becomes the per-landmark distribution P whose moments
    (mean, covariance, Laplace scale, spread) are reported beside its points -- "softmax" (softmax(H / T), the
    soft-argmax family) or "relu" (relu(H) / sum relu(H)); params: its keyword parameters with their defaults
    (a "temperature" parameter receives the temperature the run was trained with); summary: one line for menus.
    """

    name: str
    fn: Callable[..., Tensor]
    distribution: str
    params: dict = field(default_factory=dict)
    summary: str = ""

    def __call__(self, heatmaps: Tensor, **kwargs) -> Tensor:
        unknown = set(kwargs) - set(self.params)
        if unknown:
            raise ValueError(f"decoder {self.name!r} has no parameter {sorted(unknown)}; its parameters: "
                             f"{sorted(self.params) or 'none'}")
        return self.fn(heatmaps, **{**self.params, **kwargs})

    def distribution_of(self, heatmaps: Tensor, temperature: float = 1.0) -> Tensor:
        """P (..., h, w) as this decoder reads the maps (the temperature applies to "softmax" only)."""
        return normalize(heatmaps, self.distribution, temperature)


DECODERS: Registry[Decoder] = Registry("decoder")


def register_decoder(name: str, distribution: str, summary: str, **params) -> Callable:
    """Decorator: `@register_decoder("argmax", "relu", "integer peak + quarter shift", quarter_shift=True)`.

    Adds the decorated function to DECODERS under `name`; the CLI's --decoder choices, the dashboard, the overlays
    and the notebooks all read that dict, so a new decoder is this one entry.
    """
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"decoder {name!r}: distribution must be one of {DISTRIBUTIONS}, got {distribution!r}")

    def add(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
        DECODERS.add(name, Decoder(name, fn, distribution, dict(params), summary))
        return fn
    return add


def get_decoder(name: str) -> Decoder:
    return DECODERS.lookup(name)


def decode(heatmaps: Tensor, method: str = "argmax", **kwargs) -> Tensor:
    """Decode (..., h, w) heatmaps to (..., 2) heatmap-pixel points with a named decoder from DECODERS."""
    return get_decoder(method)(heatmaps, **kwargs)


@register_decoder("soft_argmax", "softmax", "expectation of softmax(H / T) over the map", temperature=1.0)
def soft_argmax(heatmaps: Tensor, temperature: float = 1.0) -> Tensor:
    """Soft-argmax: expectation of softmax(H / T). (..., h, w) -> (..., 2)."""
    return expectation(normalize(heatmaps, "softmax", temperature))


@register_decoder("relu_mean", "relu", "mean of relu(H) / sum relu(H) over the whole map (STAR's official decoder)")
def decode_relu_mean(heatmaps: Tensor) -> Tensor:
    """The mean of the map's relu distribution, over every pixel: what STAR's official code decodes
    (ZhenglinZhou/STAR, decoder_default.get_coords_from_heatmap: sum(grid * H) / sum H on its in+relu maps, which
    are non-negative), and the first moment STAR's and W2's losses train. No argmax, no window: a wide map is read
    by its centre of mass, not by its noisiest pixel. (..., h, w) -> (..., 2); an all-zero map gives its centre."""
    return expectation(normalize(heatmaps, "relu"))


def _argmax_xy(heatmaps: Tensor) -> tuple[Tensor, Tensor]:
    """Integer column and row of each map's maximum: two (...,) long tensors."""
    w = heatmaps.shape[-1]
    idx = heatmaps.flatten(-2).argmax(dim=-1)
    return idx % w, idx // w


@register_decoder("argmax", "relu", "integer peak, shifted a quarter pixel towards the higher neighbour",
                  quarter_shift=True)
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


@register_decoder("barycenter", "relu", "barycenter of relu(H) in a window around the peak", window=BARYCENTER_WINDOW)
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


@register_decoder("dark", "relu", "peak refined by a Taylor step on log H (DARK)", floor=1e-6, max_offset=1.0)
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
