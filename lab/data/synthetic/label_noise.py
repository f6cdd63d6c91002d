"""Label-noise models for training labels: isotropic Gaussian and tangential (along each contour).

Tangential noise models the semantic ambiguity STAR (Zhou et al., CVPR 2023) addresses: annotators agree on
where a contour is but not on where along it a point sits (jaw, brows, lips). Each point moves by
N(0, sigma^2) pixels along the unit tangent of its contour group (`Scheme.groups`); closed groups (eyes,
lips) wrap around. Points in no group, or in a one-point group, do not move.

Tangent estimate for a point with neighbours a (before) and b (after): the sum of the unit chords
(p - a)/|p - a| + (b - p)/|b - p|; at the open ends of a contour, the first chord rotated back by half the
turn to the next chord (both exact for evenly spaced points on a circle).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lab.schema import Scheme

NOISE_KINDS = ("isotropic", "tangential")


@dataclass(frozen=True)
class LabelNoise:
    """kind: "isotropic" or "tangential"; sigma: standard deviation in pixels of the image the points live in."""

    kind: str
    sigma: float

    def __post_init__(self):
        if self.kind not in NOISE_KINDS:
            raise ValueError(f"label_noise kind {self.kind!r} is unknown; valid: {list(NOISE_KINDS)}")
        if not np.isfinite(self.sigma) or self.sigma < 0:
            raise ValueError(f"label_noise sigma must be a finite number >= 0 pixels, got {self.sigma!r}")


def as_label_noise(spec: LabelNoise | tuple[str, float] | dict | None) -> LabelNoise | None:
    """Accept None, a LabelNoise, a (kind, sigma) pair or {"kind": ..., "sigma": ...}."""
    if spec is None or isinstance(spec, LabelNoise):
        return spec
    if isinstance(spec, dict):
        return LabelNoise(str(spec.get("kind")), float(spec.get("sigma", float("nan"))))
    if isinstance(spec, (tuple, list)) and len(spec) == 2:
        return LabelNoise(str(spec[0]), float(spec[1]))
    raise ValueError(f"label_noise must be None, LabelNoise, (kind, sigma) or a dict, got {spec!r}")


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.where(n > 1e-12, v / np.maximum(n, 1e-12), 0.0)


def _end_tangent(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray) -> np.ndarray:
    """Tangent at p0 of the contour p0, p1, p2: chord p0->p1 rotated back by half the turn to p1->p2."""
    c01, c12 = _unit(p1 - p0), _unit(p2 - p1)
    reflected = 2.0 * np.sum(c01 * c12, -1, keepdims=True) * c01 - c12  # c12 mirrored about c01
    return _unit(c01 + reflected)


def contour_tangents(points: np.ndarray, scheme: Scheme) -> np.ndarray:
    """(K, 2) unit tangent of every point along its contour group (zeros for points without a contour)."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.shape != (scheme.num_points, 2):
        raise ValueError(f"points must have shape ({scheme.num_points}, 2) for scheme {scheme.name}, got {pts.shape}")
    out = np.zeros_like(pts)
    for name, idx in scheme.groups.items():
        idx = np.asarray(idx)
        n = len(idx)
        if n < 2:
            continue
        g = pts[idx]
        if name in scheme.closed_groups and n >= 3:
            prev, nxt = np.roll(g, 1, 0), np.roll(g, -1, 0)
            out[idx] = _unit(_unit(g - prev) + _unit(nxt - g))
            continue
        t = np.zeros_like(g)
        if n == 2:
            t[:] = _unit(g[1] - g[0])
        else:
            t[1:-1] = _unit(_unit(g[1:-1] - g[:-2]) + _unit(g[2:] - g[1:-1]))
            t[0] = _end_tangent(g[0], g[1], g[2])
            t[-1] = -_end_tangent(g[-1], g[-2], g[-3])
        out[idx] = t
    return out


def apply_label_noise(points: np.ndarray, noise: LabelNoise, rng: np.random.Generator, scheme: Scheme) -> np.ndarray:
    """(K, 2) noisy copy of `points`. Isotropic: + N(0, sigma^2 I); tangential: + N(0, sigma^2) * tangent."""
    pts = np.asarray(points, dtype=np.float64)
    if noise.kind == "isotropic":
        return pts + rng.normal(0.0, noise.sigma, size=pts.shape)
    tangents = contour_tangents(pts, scheme)
    return pts + tangents * rng.normal(0.0, noise.sigma, size=(len(pts), 1))
