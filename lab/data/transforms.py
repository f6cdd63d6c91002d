"""Geometry for crops and augmentation: similarity crops from a face box, the flip matrix, box jitter.

Everything uses the lab's pixel-centre convention: pixel (row i, col j) has its centre at (x=j, y=i) and
an image of width W spans x in [-0.5, W - 0.5]. A (2, 3) affine matrix M maps a point p (x, y) to
M[:, :2] @ p + M[:, 2]. `cv2.warpAffine` uses exactly this convention — it samples dst pixel (x, y)
at src M^-1 (x, y) with integer coordinates at pixel centres — so the matrix that maps points is the
matrix that warps the image, with no half-pixel correction (tests/test_transforms.py checks this).
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import cv2
import numpy as np

BORDERS = {"constant": cv2.BORDER_CONSTANT, "replicate": cv2.BORDER_REPLICATE, "reflect": cv2.BORDER_REFLECT_101}
INTERPOLATIONS = {"linear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST, "cubic": cv2.INTER_CUBIC}
AUG_ROTATION_DEG = 15.0  # augmentation rotation, degrees, uniform in [-r, r]: the dataset's and RunConfig's default


# ---------------------------------------------------------------------------------------------------- affines

def crop_matrix(box: Sequence[float] | np.ndarray, size: int, scale: float = 1.25, rotation_deg: float = 0.0,
                shift: Sequence[float] = (0.0, 0.0)) -> np.ndarray:
    """(2, 3) float64 similarity mapping image coordinates to the coordinates of a size x size crop.

    box: (4,) x_min, y_min, x_max, y_max in image coordinates. The crop covers a square of side
    `side = scale * max(box width, box height)` image pixels centred on the box centre c (moved by
    `shift` = (dx, dy) in fractions of `side`, along the image axes), rotated by `rotation_deg` about c
    (OpenCV's sign: positive turns the face counter-clockwise on screen). In the pixel-centre convention
    the crop spans [-0.5, size - 0.5], so c maps to (size - 1) / 2 and the square's edges c -+ side / 2
    map to -0.5 and size - 0.5: x_crop = (size / side) * R (x - c) + (size - 1) / 2. For example the box
    (-0.5, -0.5, W - 0.5, W - 0.5) of a W x W image with scale 1 and size W gives the identity, and
    size W / s gives x_crop = (x + 0.5) / s - 0.5, the heatmap formula.
    """
    box = np.asarray(box, dtype=np.float64).reshape(4)
    if size <= 0:
        raise ValueError(f"crop size must be positive, got {size}")
    side = scale * max(box[2] - box[0], box[3] - box[1])
    if not np.isfinite(side) or side <= 0:
        raise ValueError(f"box {box.tolist()} with scale {scale} gives a crop side of {side}; need > 0")
    centre = (box[:2] + box[2:]) / 2.0 + np.asarray(shift, dtype=np.float64) * side
    theta = np.deg2rad(rotation_deg)
    linear = (size / side) * np.array([[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]])
    offset = (size - 1) / 2.0 - linear @ centre
    return np.concatenate([linear, offset[:, None]], axis=1)


def apply_affine(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(..., K, 2) points mapped by a (2, 3) matrix or by a batch of matrices (..., 2, 3)."""
    points = np.asarray(points, dtype=np.float64)
    matrix = np.asarray(matrix, dtype=np.float64)
    if points.ndim < 2 or points.shape[-1] != 2:
        raise ValueError(f"points must have shape (..., K, 2), got {points.shape}")
    if matrix.shape[-2:] != (2, 3):
        raise ValueError(f"matrix must have shape (..., 2, 3), got {matrix.shape}")
    return points @ np.swapaxes(matrix[..., :2], -1, -2) + matrix[..., None, :, 2]


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """(..., 2, 3) inverse of an invertible affine map (crop -> image for a crop matrix)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    linear = matrix[..., :2]
    if np.any(np.abs(np.linalg.det(linear)) < 1e-12):
        raise ValueError("affine matrix is singular (zero scale); cannot invert")
    inv = np.linalg.inv(linear)
    return np.concatenate([inv, -(inv @ matrix[..., 2:])], axis=-1)


def compose_affine(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """(..., 2, 3) map that applies `first`, then `second` (x -> second(first(x)))."""
    first = np.asarray(first, dtype=np.float64)
    second = np.asarray(second, dtype=np.float64)
    linear = second[..., :2] @ first[..., :2]
    offset = second[..., :2] @ first[..., 2:] + second[..., 2:]
    return np.concatenate([linear, offset], axis=-1)


def uncrop_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(..., K, 2) crop coordinates mapped back to the image through the inverse of `matrix` (image -> crop)."""
    return apply_affine(points, invert_affine(matrix))


def warp_image(image: np.ndarray, matrix: np.ndarray, size: int | tuple[int, int], border: str = "constant",
               value: float = 0.0, interpolation: str = "linear") -> np.ndarray:
    """The crop (size, size[, C]) (or (h, w[, C]) for size=(w, h)) of `image` (H, W[, C]) under `matrix`.

    border: "constant" (filled with `value`), "replicate" or "reflect"; interpolation: "linear",
    "nearest" or "cubic". dtype is kept (uint8 or float32 images). OpenCV rounds sampling positions to
    1/32 px (INTER_BITS), so a warped smooth blob's centroid sits within ~0.005 px of `apply_affine`.
    """
    if border not in BORDERS:
        raise ValueError(f"border must be one of {sorted(BORDERS)}, got {border!r}")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {sorted(INTERPOLATIONS)}, got {interpolation!r}")
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.shape != (2, 3):
        raise ValueError(f"matrix must have shape (2, 3), got {matrix.shape}")
    w, h = (size, size) if isinstance(size, (int, np.integer)) else size
    image = np.asarray(image)
    channels = image.shape[2] if image.ndim == 3 else 1
    out = cv2.warpAffine(image, matrix, (int(w), int(h)), flags=INTERPOLATIONS[interpolation],
                         borderMode=BORDERS[border], borderValue=(value,) * min(channels, 4))
    return out[:, :, None] if image.ndim == 3 and out.ndim == 2 else out


# ------------------------------------------------------------------------------------------------------ flips

def flip_matrix(width: int) -> np.ndarray:
    """(2, 3) horizontal mirror of an image `width` pixels wide: x' = width - 1 - x.

    A flip is this matrix composed after the crop (`compose_affine(crop, flip_matrix(size))`): it maps the points
    and, through `warp_image`, the pixels; the points are then reordered with the scheme's `flip_permutation`
    (lab.schema) so the subject's right eye stays "right eye".
    """
    return np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0]])


# --------------------------------------------------------------------------------------------- random changes

def _generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def jitter_box(box: np.ndarray, shift_frac: float, scale_frac: float,
               rng: np.random.Generator | int | None = None) -> np.ndarray:
    """(..., 4) boxes perturbed as in the box-robustness protocol.

    Each box's centre moves by N(0, (shift_frac * w)^2) along x and N(0, (shift_frac * h)^2) along y
    (w, h = that box's width and height); its width and height are both multiplied by exp(N(0,
    scale_frac^2)) (aspect ratio kept; log-normal, so shrinking and growing are equally likely).
    shift_frac = scale_frac = 0 returns the boxes unchanged.
    """
    if shift_frac < 0 or scale_frac < 0:
        raise ValueError(f"jitter fractions must be >= 0, got shift {shift_frac}, scale {scale_frac}")
    rng = _generator(rng)
    box = np.asarray(box, dtype=np.float64)
    if box.shape[-1] != 4:
        raise ValueError(f"box must have shape (..., 4), got {box.shape}")
    size = box[..., 2:] - box[..., :2]
    centre = (box[..., :2] + box[..., 2:]) / 2.0 + rng.normal(size=size.shape) * shift_frac * size
    factor = np.exp(rng.normal(size=box.shape[:-1] + (1,)) * scale_frac)
    half = size * factor / 2.0
    return np.concatenate([centre - half, centre + half], axis=-1)


class Similarity(NamedTuple):
    """Random crop parameters for `crop_matrix(box, size, scale=base_scale * s.scale,
    rotation_deg=s.rotation_deg, shift=s.shift)`."""

    rotation_deg: float
    scale: float
    shift: tuple[float, float]


def random_similarity(rng: np.random.Generator | int | None, rotation_deg: float = AUG_ROTATION_DEG,
                      scale_range: tuple[float, float] = (0.9, 1.1), shift_frac: float = 0.05) -> Similarity:
    """Augmentation draw: rotation ~ U(-rotation_deg, rotation_deg), scale ~ U(scale_range),
    shift ~ U(-shift_frac, shift_frac) per axis (fractions of the crop side)."""
    lo, hi = scale_range
    if not 0 < lo <= hi:
        raise ValueError(f"scale_range must satisfy 0 < low <= high, got {scale_range}")
    rng = _generator(rng)
    rotation = float(rng.uniform(-rotation_deg, rotation_deg))
    scale = float(rng.uniform(lo, hi))
    dx, dy = rng.uniform(-shift_frac, shift_frac, size=2)
    return Similarity(rotation, scale, (float(dx), float(dy)))
