"""One face as every reader and the synthetic generator return it."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class FaceRecord:
    """A face: image, K landmarks in 0-based pixel-centre coordinates, visibility, box and attributes.

    image: a path to the image file, or an (H, W, 3) uint8 RGB array.
    points: (K, 2) float64, x then y, 0-based, pixel centres at integers.
    visible: (K,) bool; False for occluded or self-occluded points (excluded from NME).
    box: (4,) float64 face box x_min, y_min, x_max, y_max in the same coordinates.
    attributes: benchmark flags (e.g. WFLW's pose/expression/illumination/make-up/occlusion/blur).
    source: where the record came from ("file.pts", "list.txt:12"), used in error messages.
    """

    image: str | Path | np.ndarray
    points: np.ndarray
    visible: np.ndarray
    box: np.ndarray
    attributes: dict[str, int] = field(default_factory=dict)
    source: str = ""

    @property
    def num_points(self) -> int:
        return int(self.points.shape[0])


def box_from_points(points: np.ndarray, visible: np.ndarray | None = None) -> np.ndarray:
    """(4,) tight box x_min, y_min, x_max, y_max around the (visible) points (the ground-truth-box protocol)."""
    pts = points if visible is None or not np.any(visible) else points[np.asarray(visible, bool)]
    return np.array([pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()], dtype=np.float64)
