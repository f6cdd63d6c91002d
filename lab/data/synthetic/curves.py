"""Face curves and the per-face drawing context of the synthetic renderer.

Every facial feature is drawn FROM the projected landmarks, through curves: uniform Catmull-Rom splines
(they pass through their control points); all of a face's curves come out of one precomputed matrix product.

OpenCV's polygon filling (LINE_AA and LINE_8) pushes every edge about 0.69 px outward (measured); the
polygons whose edge carries labels (face outline, eyes, lips) are inset by that amount first, so the drawn
edge (the 50 % coverage line) passes through the labels.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from lab.data.synthetic.geometry import OUTLINE, PARTS
from lab.data.synthetic.params import Appearance
from lab.data.synthetic.pose import Projection

_SHIFT = 4                 # sub-pixel bits for cv2 drawing
_ONE = float(1 << _SHIFT)
_AA = cv2.LINE_AA
_CV_INSET = 0.69           # px: OpenCV's outward bias of filled polygons (see module docstring)
_SHADE_ONE = 200           # value of 1.0 in the uint8 feature-shading map (room for highlights)


def spline_matrix(n: int, per_seg: int, closed: bool) -> np.ndarray:
    """(M, n) uniform Catmull-Rom samples through n control points (passes through every control point).

    Open: M = (n - 1) * per_seg + 1, first and last samples are the end points. Closed: M = n * per_seg.
    """
    t = np.arange(per_seg) / per_seg
    w = np.stack([(-t**3 + 2 * t**2 - t) / 2, (3 * t**3 - 5 * t**2 + 2) / 2,
                  (-3 * t**3 + 4 * t**2 + t) / 2, (t**3 - t**2) / 2], 1)  # (per_seg, 4)
    segs = n if closed else n - 1
    out = np.zeros((segs * per_seg + (0 if closed else 1), n))
    for s in range(segs):
        idx = [s - 1, s, s + 1, s + 2]
        idx = [i % n for i in idx] if closed else [min(max(i, 0), n - 1) for i in idx]
        for k, i in enumerate(idx):
            out[s * per_seg:(s + 1) * per_seg, i] += w[:, k]
    if not closed:
        out[-1, n - 1] = 1.0
    return out


def _sl(s: slice) -> list[int]:
    return list(range(s.start, s.stop))


# name: (control point indices into the projected points, samples per segment, closed)
_CURVES: dict[str, tuple[list[int], int, bool]] = {
    "outline": (OUTLINE.tolist(), 3, True),
    "eye_r_up": ([36, 37, 38, 39], 4, False), "eye_r_lo": ([39, 40, 41, 36], 4, False),
    "eye_l_up": ([42, 43, 44, 45], 4, False), "eye_l_lo": ([45, 46, 47, 42], 4, False),
    "brow_r": ([17, 18, 19, 20, 21], 3, False), "brow_l": ([26, 25, 24, 23, 22], 3, False),
    "nose_base": ([31, 32, 33, 34, 35], 3, False),
    "lip_ot": ([48, 49, 50, 51, 52, 53, 54], 3, False), "lip_ob": ([54, 55, 56, 57, 58, 59, 48], 3, False),
    "lip_it": ([60, 61, 62, 63, 64], 3, False), "lip_ib": ([64, 65, 66, 67, 60], 3, False),
    "hairline": (_sl(PARTS.hair), 3, False),
    "ear_r": (_sl(PARTS.ear_r), 3, True), "ear_l": (_sl(PARTS.ear_l), 3, True),
    "lens_r": (_sl(PARTS.lens_r), 2, True), "lens_l": (_sl(PARTS.lens_l), 2, True),
}


def _build_curves():
    used = sorted({i for idx, _, _ in _CURVES.values() for i in idx})
    col = {p: k for k, p in enumerate(used)}
    blocks, spans, start = [], {}, 0
    for name, (idx, per, closed) in _CURVES.items():
        m = spline_matrix(len(idx), per, closed)
        block = np.zeros((len(m), len(used)))
        for j, p in enumerate(idx):
            block[:, col[p]] += m[:, j]
        blocks.append(block)
        spans[name] = np.arange(start, start + len(m))
        start += len(m)
    return np.array(used), np.concatenate(blocks), spans


_USED, _MATRIX, _SPAN = _build_curves()
# sample index lists of the polygons whose edges carry labels (inset before filling)
_EXACT = {
    "outline": _SPAN["outline"],
    "eye_r": np.concatenate([_SPAN["eye_r_up"], _SPAN["eye_r_lo"][1:-1]]),
    "eye_l": np.concatenate([_SPAN["eye_l_up"], _SPAN["eye_l_lo"][1:-1]]),
    "lip_upper": np.concatenate([_SPAN["lip_ot"], _SPAN["lip_it"][::-1]]),
    "lip_lower": np.concatenate([_SPAN["lip_ob"], _SPAN["lip_ib"][::-1]]),
}


def _inset_tables():
    """Matrix giving, from the used points, every exact-polygon vertex and its tangent (next - previous
    vertex of the same polygon), plus the polygon starts, owners and bounds."""
    idx = np.concatenate(list(_EXACT.values()))
    lengths = [len(p) for p in _EXACT.values()]
    starts = np.cumsum([0] + lengths)
    nxt, prv = [], []
    for pos, n in zip(starts[:-1], lengths):
        nxt.extend(pos + (np.arange(n) + 1) % n)
        prv.extend(pos + (np.arange(n) - 1) % n)
    rows = _MATRIX[idx]
    matrix = np.concatenate([rows, rows[nxt] - rows[prv]])
    owner = np.repeat(np.arange(len(_EXACT)), lengths)
    return matrix, starts[:-1], owner, starts


_EX_MATRIX, _EX_START, _EX_OWNER, _EX_BOUNDS = _inset_tables()
_EX_NAMES = list(_EXACT)
_EX_FLIP = np.array([-1.0, 1.0])


_SLICE = {name: slice(int(idx[0]), int(idx[-1]) + 1) for name, idx in _SPAN.items()}  # contiguous: views
_BOTH_MATRIX = np.concatenate([_MATRIX, _EX_MATRIX])  # curves and exact polygons in one product


def face_curves(points: np.ndarray) -> np.ndarray:
    """(M, 2) every curve sample of a face from its projected points (slices in _SLICE)."""
    return _MATRIX @ points[_USED]


def _exact_polygons(points: np.ndarray) -> dict[str, np.ndarray]:
    """Fixed-point (shift 4) int32 polygons of _EXACT, each inset by _CV_INSET px along its vertex normals."""
    return _inset(_EX_MATRIX @ points[_USED])


def _inset(vt: np.ndarray) -> dict[str, np.ndarray]:
    """The exact polygons from their stacked vertices and tangents (rows of _EX_MATRIX @ used points).

    With t = next - previous vertex, twice a polygon's signed area is sum(v x t) / 2, which orients the
    normal (-t_y, t_x) inward.
    """
    n = len(vt) // 2
    v, t = vt[:n], vt[n:]
    area = np.add.reduceat(v[:, 0] * t[:, 1] - v[:, 1] * t[:, 0], _EX_START)
    k = np.where(area > 0, _CV_INSET * _ONE, -_CV_INSET * _ONE)[_EX_OWNER]
    k /= np.maximum(np.hypot(t[:, 0], t[:, 1]), 1e-9)
    fixed = np.rint(v * _ONE + t[:, ::-1] * (k[:, None] * _EX_FLIP)).astype(np.int32)
    return {name: fixed[_EX_BOUNDS[i]:_EX_BOUNDS[i + 1]] for i, name in enumerate(_EX_NAMES)}


def _fx(points: np.ndarray) -> np.ndarray:
    """Float pixel coordinates -> int32 fixed point for cv2 drawing with shift=_SHIFT."""
    return np.rint(points * _ONE).astype(np.int32)


def _hull(img: np.ndarray, pts_fx: np.ndarray, colour) -> None:
    cv2.fillConvexPoly(img, cv2.convexHull(pts_fx), colour, _AA, _SHIFT)



_CIRCLE = np.stack([np.cos(np.linspace(0, 2 * math.pi, 12, endpoint=False)),
                    np.sin(np.linspace(0, 2 * math.pi, 12, endpoint=False))], 1)


class _Face:
    """What every drawing step needs about one face: points and curve samples in float and fixed point,
    the inset label polygons, the head's image 'up' direction, pixels per head unit and the colours."""

    _SKIN = (1.0, 0.75, 0.7, 0.6, 0.55, 0.45, 0.42, 0.4, 0.72, 0.62)

    def __init__(self, proj: Projection, app: Appearance):
        self.proj, self.app = proj, app
        self.p = proj.points
        self.p_fx = _fx(proj.points)
        self.body_fx = _fx(proj.body)
        both = _BOTH_MATRIX @ proj.points[_USED]
        self.cs = both[:len(_MATRIX)]
        self.cs_fx = _fx(self.cs)
        self.exact = _inset(both[len(_MATRIX):])
        u = -proj.rotation[:2, 1]
        self.up = u / max(math.hypot(u[0], u[1]), 1e-9)
        self.u = proj.scale
        skin = np.asarray(app.skin)
        (self.skin, self.lower_lid, self.ear, self.neck_light, self.neck, self.ear_line, self.nostril,
         self.jaw_shadow, self.alar, self.nose_line) = np.minimum(np.outer(self._SKIN, skin), 255.0).tolist()
        hair = np.asarray(app.hair)
        self.hair, self.hair_dark, self.lash = hair.tolist(), (hair * 0.8).tolist(), (hair * 0.35).tolist()
        lips = np.asarray(app.lips)
        self.lips, self.lips_upper, self.lip_line = lips.tolist(), (lips * 0.88).tolist(), (lips * 0.5).tolist()
        self.eyeshadow = (0.55 * skin + 0.45 * np.asarray(app.eyeshadow)).tolist()

    def curve(self, name: str) -> np.ndarray:
        return self.cs[_SLICE[name]]

    def curve_fx(self, name: str) -> np.ndarray:
        return self.cs_fx[_SLICE[name]]

