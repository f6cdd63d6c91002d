"""Drawing landmarks on images with OpenCV (for PNG outputs; the notebooks and app use matplotlib / plotly)."""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from lab.schema import get_scheme

GT_COLOUR = (40, 220, 60)
PRED_COLOUR = (255, 60, 40)


def draw_points(image: np.ndarray, points: np.ndarray, colour: Sequence[int] = PRED_COLOUR,
                visible: np.ndarray | None = None, box: Sequence[float] | None = None, contours: bool = True,
                radius: float | None = None) -> np.ndarray:
    """A copy of `image` (H, W, 3) uint8 RGB with points (K, 2) drawn (sub-pixel, antialiased), their contours
    joined (scheme groups) and the box; invisible points are drawn hollow."""
    out = np.ascontiguousarray(image.copy())
    h, w = out.shape[:2]
    shift = 4  # cv2 sub-pixel drawing: coordinates scaled by 2^shift
    f = float(1 << shift)
    r = radius if radius is not None else max(1.0, min(h, w) / 128)
    vis = np.ones(len(points), bool) if visible is None else np.asarray(visible, bool)
    if contours and len(points) in (68, 98, 29, 19):
        scheme = get_scheme(len(points))
        for name, idx in scheme.groups.items():
            if len(idx) > 1 and len(points) in (68, 98):
                poly = np.round(points[list(idx)] * f).astype(np.int32)
                cv2.polylines(out, [poly], name in scheme.closed_groups, colour, 1, cv2.LINE_AA, shift)
    for (x, y), v in zip(points, vis):
        cv2.circle(out, (int(round(x * f)), int(round(y * f))), int(round(r * f)), colour,
                   -1 if v else 1, cv2.LINE_AA, shift)
    if box is not None:
        x0, y0, x1, y1 = (int(round(c * f)) for c in box)
        cv2.rectangle(out, (x0, y0), (x1, y1), (255, 220, 0), 1, cv2.LINE_AA, shift)
    return out


def face_thumbnail(image: np.ndarray, gt: np.ndarray | None, points: np.ndarray | None, side: int = 160
                   ) -> np.ndarray:
    """A small picture for the gallery: GT (green) and one run's points (red) drawn, resized to `side` px wide."""
    scale = side / image.shape[1]
    out = cv2.resize(image, (side, max(1, round(image.shape[0] * scale))), interpolation=cv2.INTER_AREA)
    to_small = lambda p: (np.asarray(p, np.float64) + 0.5) * scale - 0.5  # noqa: E731 - pixel-centre resize
    for pts, colour in ((gt, GT_COLOUR), (points, PRED_COLOUR)):
        if pts is not None:
            out = draw_points(out, to_small(pts), colour, contours=False, radius=1.0)
    return out
