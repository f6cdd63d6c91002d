"""Face boxes for any photo: dlib's HOG frontal-face detector (its model ships inside the `dlib-bin` wheel: no file,
no download), with each detection mapped to the box convention the lab's models are trained on.

The models see crops made from the *tight box of the 68 ground-truth points* (the 300-W "ground-truth box"
protocol, lab.data.record.box_from_points). dlib's boxes are squares a little above and larger than that box, so a
detection d (centre cx, cy, size w, h) becomes

    x_c = cx + DX * w,  y_c = cy + DY * h,  width = SW * w,  height = SH * h

with the medians of those ratios over matched pairs on the LFPW training split (benchmarks/detector.py fits and
prints them, and measures the NME they give against ground-truth boxes on the validation split).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

# fitted by `python benchmarks/detector.py` on the 684 training faces of the LFPW split (split_seed 0)
DX, DY, SW, SH = 0.024, 0.103, 0.912, 0.916
THRESHOLD = -0.5  # dlib's adjust_threshold: keeps weaker detections than its default 0 (98 % vs 96 % found)


@dataclass(frozen=True)
class Detection:
    """One face: box (4,) x0, y0, x1, y1 in the lab's landmark-box convention; raw (4,) dlib's own box; score."""

    box: np.ndarray
    raw: np.ndarray
    score: float


@lru_cache(maxsize=1)
def _detector():
    import dlib

    return dlib.get_frontal_face_detector()


def to_landmark_box(raw: np.ndarray) -> np.ndarray:
    """(N, 4) dlib boxes -> (N, 4) boxes in the tight-landmark-box convention (the mapping above)."""
    raw = np.asarray(raw, np.float64).reshape(-1, 4)
    w, h = raw[:, 2] - raw[:, 0], raw[:, 3] - raw[:, 1]
    cx, cy = (raw[:, 0] + raw[:, 2]) / 2 + DX * w, (raw[:, 1] + raw[:, 3]) / 2 + DY * h
    hw, hh = SW * w / 2, SH * h / 2
    return np.stack([cx - hw, cy - hh, cx + hw, cy + hh], -1)


def detect_faces(image: np.ndarray, upsample: int | None = None, threshold: float = THRESHOLD) -> list[Detection]:
    """Faces in an (H, W, 3) uint8 RGB image, best score first. upsample: dlib's pyramid up-sampling (finds faces
    down to ~40 px per level); None: once for images under 640 px on their short side, else not."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"detect_faces: expected an (H, W, 3) uint8 RGB image, got {image.dtype} {image.shape}")
    if upsample is None:
        upsample = 1 if min(image.shape[:2]) < 640 else 0
    rects, scores, _ = _detector().run(np.ascontiguousarray(image), upsample, threshold)
    if not len(rects):
        return []
    raw = np.array([[r.left(), r.top(), r.right() + 1, r.bottom() + 1] for r in rects], np.float64)
    boxes = to_landmark_box(raw)
    order = np.argsort(-np.asarray(scores))
    return [Detection(boxes[i], raw[i], float(scores[i])) for i in order]
