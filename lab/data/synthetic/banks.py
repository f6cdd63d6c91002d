"""Texture banks of the synthetic renderer: backgrounds, sensor noise, skin blotches, shading normals.

Built once per process and size from fixed seeds, so they are identical in every process; which crop a face
uses is part of its parameters.
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from lab.data.synthetic.curves import _AA, _SHADE_ONE

_BANK_SEED = 20240611      # fixed: texture banks are identical in every process
NUM_BACKGROUNDS = 24


def _make_background(rng: np.random.Generator, side: int) -> np.ndarray:
    """(side, side, 3) uint8 cluttered scene: smooth colour field, furniture-like blocks, lines, blobs."""
    base = rng.uniform(30, 220, size=(3, 3, 1)) + rng.uniform(-35, 35, size=(3, 3, 3))
    img = np.clip(cv2.resize(base.astype(np.float32), (side, side), interpolation=cv2.INTER_CUBIC), 0, 255)
    img = img.astype(np.uint8)
    grey = rng.uniform(40, 200, size=(6, 1))
    palette = grey + rng.uniform(0.15, 0.6) * (rng.uniform(0, 255, size=(6, 3)) - grey)
    for _ in range(int(rng.integers(6, 16))):
        kind = rng.integers(0, 4)
        col = tuple(float(v) for v in palette[rng.integers(0, 6)] * rng.uniform(0.6, 1.2))
        c = rng.uniform(-0.1, 1.1, 2) * side
        s = rng.uniform(0.05, 0.45, 2) * side
        if kind == 0:
            cv2.rectangle(img, (int(c[0]), int(c[1])), (int(c[0] + s[0]), int(c[1] + s[1])), col, -1, _AA)
        elif kind == 1:
            cv2.ellipse(img, (int(c[0]), int(c[1])), (int(s[0] / 2), int(s[1] / 2)), float(rng.uniform(0, 180)),
                        0, 360, col, -1, _AA)
        elif kind == 2:
            cv2.line(img, (int(c[0]), int(c[1])), (int(c[0] + s[0] * 2), int(c[1] - s[1])), col,
                     int(rng.integers(1, max(2, side // 25))), _AA)
        else:
            cv2.fillPoly(img, [(c + rng.uniform(-1, 1, (5, 2)) * s).astype(np.int32)], col, _AA)
    if rng.random() < 0.5:  # tiles for high-frequency clutter
        period = int(rng.integers(max(3, side // 40), max(5, side // 8)))
        mask = (np.arange(side)[:, None] // period + np.arange(side)[None, :] // period) % 2 == 0
        img[mask] = (img[mask] * rng.uniform(0.7, 0.95)).astype(np.uint8)
    blur = rng.uniform(0.0, 2.5) * side / 192.0
    if blur > 0.3:
        img = cv2.GaussianBlur(img, (0, 0), blur)
    grain = rng.normal(0, 6, size=img.shape).astype(np.float32)
    return np.clip(img.astype(np.float32) + grain, 0, 255).astype(np.uint8)


@lru_cache(maxsize=8)
def background_bank(size: int) -> tuple[np.ndarray, ...]:
    """NUM_BACKGROUNDS textures of side 1.5 * size, identical in every process."""
    side = int(round(1.5 * size))
    return tuple(_make_background(np.random.default_rng([_BANK_SEED, size, k]), side) for k in range(NUM_BACKGROUNDS))


@lru_cache(maxsize=8)
def noise_bank(size: int) -> np.ndarray:
    """(2 * size, 2 * size, 3) float32 standard-normal noise (fixed seed)."""
    return np.random.default_rng([_BANK_SEED, size, 999]).standard_normal((2 * size, 2 * size, 3)).astype(np.float32)


@lru_cache(maxsize=8)
def skin_bank(size: int) -> np.ndarray:
    """(8, size, size) float32 smooth skin blotches around 1/_SHADE_ONE (fixed seed), folded into the shading."""
    rng = np.random.default_rng([_BANK_SEED, size, 777])
    out = []
    for _ in range(8):
        low = cv2.resize(rng.normal(0, 1, (6, 6)).astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
        fine = cv2.GaussianBlur(rng.normal(0, 1, (size, size)).astype(np.float32), (0, 0), max(0.6, size / 128.0))
        out.append((1.0 + 0.035 * low + 0.05 * fine) / _SHADE_ONE)
    return np.stack(out).astype(np.float32)


_SPHERE_REACH = 2.0  # the normal grid spans [-2, 2] radii, so the warp never samples its border


@lru_cache(maxsize=1)
def _sphere_normals(grid: int = 48) -> np.ndarray:
    """(grid * grid, 3) unit normals of a unit sphere seen from the camera, on [-2, 2]^2 (rim normals outside)."""
    u = np.linspace(-_SPHERE_REACH, _SPHERE_REACH, grid)
    x, y = np.meshgrid(u, u)
    n = np.stack([x, y, np.sqrt(np.clip(1.0 - x * x - y * y, 0.0, None))], -1).reshape(-1, 3)
    return (n / np.linalg.norm(n, axis=-1, keepdims=True)).astype(np.float32)


@lru_cache(maxsize=8)
def _unit_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    u = np.linspace(-1.0, 1.0, size, dtype=np.float32)
    return u[None, :].repeat(size, 0), u[:, None].repeat(size, 1)

