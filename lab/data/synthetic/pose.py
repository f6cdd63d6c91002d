"""Pose and projection of the synthetic faces: rotation, 300W-style contour marching, self-occlusion flags.

Pose (degrees): positive yaw turns the nose toward the image right (the subject's left half, jaw 9-16,
turns away), positive pitch lifts the chin (looks up), positive roll turns the face clockwise in the image.
R = Rz(roll) Rx(pitch) Ry(yaw).

Contour marching: each outline point (jaw and forehead) owns a horizontal quarter-ellipse arc from the
point to the facial midline, (x_c sin t, y, z_c + D cos t), t in [0, 90 deg]. When the point turns away
from the camera its label slides along the arc to the silhouette, the point where the arc's normal is
orthogonal to the view ray; this is where 300W annotators put far-side jaw points. A point is flagged
self-occluded (visible=False) when its surface normal turns away by more than a per-point tolerance
(30 degrees past the silhouette for the outline, 3 degrees for inner points) or, for points on the far
half of the face, when it projects inside the nose.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from lab.data.synthetic.geometry import (ARC, ARC_D, ARC_T0, ARC_W, BODY, BODY_PIVOT, NORMALS, NUM_POINTS, OUTLINE,
                                         PARTS, PIVOT, TEMPLATE)

# tolerance: a point is hidden when normal . view < -TOL (outline points already sit on the frontal
# silhouette, so they may turn 30 degrees further before the label stops standing for the point)
_TOL = np.full(NUM_POINTS, math.sin(math.radians(3.0)))
_TOL[:17] = math.sin(math.radians(30.0))
_TOL[[7, 8, 9]] = 1.0  # the chin never hides within the pose range
# points the nose can hide when they are on the far half of the face
_NOSE_HIDEABLE = np.array([31, 32, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 21, 22, 20, 23])
_N_OUT = len(OUTLINE)


def rotation_matrix(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """(3, 3) R = Rz(roll) Rx(pitch) Ry(yaw), angles in degrees (conventions in the module docstring)."""
    y, p, r = math.radians(yaw), math.radians(pitch), math.radians(roll)
    cy, sy, cp, sp, cr, sr = math.cos(y), math.sin(y), math.cos(p), math.sin(p), math.cos(r), math.sin(r)
    m0, m1, m2 = (cy, 0.0, sy), (sp * sy, cp, -sp * cy), (-cp * sy, sp, cp * cy)  # rows of Rx Ry
    return np.array([[cr * a - sr * b for a, b in zip(m0, m1)], [sr * a + cr * b for a, b in zip(m0, m1)], m2])


def _far_arcs(sign: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For the half x * sign > 0: ARC positions, point rows, outline-or-hairline mask, t0, cos t0."""
    k = np.flatnonzero(TEMPLATE[ARC, 0] * sign > 1e-6)
    return k, ARC[k], k < _N_OUT, ARC_T0[k], np.cos(ARC_T0[k])


_FAR = {1.0: _far_arcs(1.0), -1.0: _far_arcs(-1.0)}  # keyed by the sign of x on the far half


def march_outline(shape: np.ndarray, view: np.ndarray, depth_scale: float = 1.0,
                  width_scale: float = 1.0) -> np.ndarray:
    """Slide the arc points (outline and hairline) that turned past the silhouette onto it; returns a new (N, 3).

    Arc point k sits at angle t0 on (side W sin t, y, z_c + D cos t). On the far side the silhouette is at
    tan t* = v_z W / (|v_x| D) (where the arc normal (sin t / W, cos t / D) is orthogonal to the view);
    points with t0 > t* move to t*. view: (3,) unit vector toward the camera in the head frame (R^T e_z).
    """
    out = shape.copy()
    vx = float(view[0])
    if abs(vx) < 1e-9:
        return out
    side = -1.0 if vx > 0 else 1.0  # the camera is round the -side half; the +side half turns away
    k, rows, is_outline, t0, cos_t0 = _FAR[side]
    p = shape[rows]
    w = np.where(is_outline, np.abs(p[:, 0]), ARC_W[k] * width_scale)
    d = ARC_D[k] * depth_scale
    t = np.minimum(np.arctan2(max(float(view[2]), 1e-6) * w, abs(vx) * d), t0)
    out[rows, 0] = side * w * np.sin(t)
    out[rows, 2] = p[:, 2] + d * (np.cos(t) - cos_t0)
    return out


@dataclass
class Projection:
    """A posed, projected face.

    points: (N, 2) all points (68 landmarks then extras) in image pixels, pixel-centre convention.
    depth: (N,) camera-frame z of each point (larger = nearer the camera), head units.
    visible: (68,) bool, False for self-occluded landmarks.
    body: (len(BODY), 2) torso/neck-base points in pixels.
    scale: pixels per head unit; view: (3,) direction to the camera in the head frame; rotation: (3, 3).
    """

    points: np.ndarray
    depth: np.ndarray
    visible: np.ndarray
    body: np.ndarray
    scale: float
    view: np.ndarray
    rotation: np.ndarray


def _points_in_polygon(pts: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """(P,) bool: even-odd test of points (P, 2) against a closed polygon (V, 2)."""
    a = poly
    b = np.concatenate([poly[1:], poly[:1]])
    px, py = pts[:, 0:1], pts[:, 1:2]
    ay, by = a[None, :, 1], b[None, :, 1]
    crosses = (ay > py) != (by > py)
    with np.errstate(divide="ignore", invalid="ignore"):
        xint = a[None, :, 0] + (py - ay) * (b[None, :, 0] - a[None, :, 0]) / (by - ay)
    return np.sum(crosses & (px < xint), axis=1) % 2 == 1


def _near_nose(sign: int) -> np.ndarray:
    """Indices of the near-side half of the nose outline (ridge, tip, subnasale, near ala, near flank)."""
    fl = np.arange(PARTS.nose_flank.start, PARTS.nose_flank.stop)
    flank, ala = (fl[:3], 31) if sign > 0 else (fl[3:], 35)
    return np.concatenate([[27, 28, 29, 30, 33, ala], flank[::-1]])


# yaw sign -> (near-side nose polygon, far-side points the nose can hide)
_NOSE_TEST = {s: (_near_nose(s), _NOSE_HIDEABLE[np.sign(TEMPLATE[_NOSE_HIDEABLE, 0]) == s]) for s in (1, -1)}
_NOSE_MIN_YAW = 15.0  # below this the nose hides nothing


def self_occlusion(shape_cam: np.ndarray, proj2d: np.ndarray, view: np.ndarray, yaw: float) -> np.ndarray:
    """(68,) bool visibility from surface normals and, past _NOSE_MIN_YAW, the nose (module docstring)."""
    vis = NORMALS @ view > -_TOL
    if abs(yaw) > _NOSE_MIN_YAW:
        poly, cand = _NOSE_TEST[1 if yaw > 0 else -1]
        inside = _points_in_polygon(proj2d[cand], proj2d[poly])
        behind = shape_cam[cand, 2] < shape_cam[30, 2]
        vis[cand[inside & behind]] = False
    return vis


def project(shape: np.ndarray, yaw: float, pitch: float, roll: float, size: int, fill: float,
            shift: tuple[float, float] = (0.0, 0.0), camera_distance: float = 8.0,
            scale: float | None = None, depth_scale: float = 1.0, width_scale: float = 1.0) -> Projection:
    """Pose and project a face into an image of `size` x `size` pixels.

    fill: the larger side of the 68 landmarks' tight box as a fraction of the image (when scale is None).
    shift: box centre offset from the image centre as a fraction of the image.
    scale: fixed pixels per head unit (sequences), overriding fill; then shift positions the pivot.
    camera_distance: perspective camera distance from the pivot in head units (large = weak perspective).
    depth_scale, width_scale: the identity's depth and width factors (for the marching arcs).
    """
    r = rotation_matrix(yaw, pitch, roll)
    view = r[2].copy()  # R^T e_z
    marched = march_outline(shape, view, depth_scale, width_scale)
    cam = (marched - PIVOT) @ r.T
    f = camera_distance / np.maximum(camera_distance - cam[:, 2], 1e-3)
    uv = cam[:, :2] * f[:, None]
    body_r = rotation_matrix(0.25 * yaw, 0.0, 0.3 * roll)
    body_cam = (BODY - BODY_PIVOT) @ body_r.T + (BODY_PIVOT - PIVOT)
    body_uv = body_cam[:, :2] * (camera_distance / np.maximum(camera_distance - body_cam[:, 2], 1e-3))[:, None]
    lm = uv[:NUM_POINTS]
    centre = (size - 1) / 2.0 + np.asarray(shift, dtype=np.float64) * size
    if scale is None:
        lo, hi = lm.min(0), lm.max(0)
        scale = fill * size / max(hi[0] - lo[0], hi[1] - lo[1])
        origin = (lo + hi) / 2.0
    else:
        origin = np.zeros(2)
    pts = (uv - origin) * scale + centre
    body = (body_uv - origin) * scale + centre
    vis = self_occlusion(cam, pts, view, yaw)
    return Projection(points=pts, depth=cam[:, 2], visible=vis, body=body, scale=float(scale), view=view,
                      rotation=r)


@lru_cache(maxsize=None)
def frontal_scale(size: int, fill: float) -> float:
    """Pixels per head unit that make the neutral frontal template's landmark box span `fill` of the image."""
    lm = TEMPLATE[:NUM_POINTS]
    ext = lm.max(0) - lm.min(0)
    return fill * size / max(ext[0], ext[1])
