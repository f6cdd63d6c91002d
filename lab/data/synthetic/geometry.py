"""The 3D head model of the synthetic faces: a 68-point iBUG template and the extra points the renderer draws.

Head frame: x to the image right in a frontal view (the subject's left), y down, z toward the camera; the
unit is roughly the outer-canthal distance (about 9 cm). Landmarks follow the iBUG 68 layout of
`lab.schema` (jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, lips 48-67; the subject's right eye 36-41 is on
the image left). Besides the 68 landmarks the model carries *extra* 3D points (forehead outline, nose
flanks, ears, skull, neck, hair fringe, eyeballs, glasses) that the renderer uses to draw the head; they go
through the same identity, expression, pose and projection (`shape`, `pose`), so every drawn part moves with
the labels. The arc tables (ARC, ARC_T0, ARC_W, ARC_D) are the contour-marching arcs of `pose`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lab.schema import get_scheme

SCHEME = get_scheme(68)
NUM_POINTS = 68

# ---------------------------------------------------------------------------------------------- template
# Right half and midline of the 68 landmarks (x <= 0); the left half is mirrored through the flip pairs.
_RIGHT_68 = {
    # jaw: the frontal silhouette from the temple-level cheek (0) to the menton (8)
    0: (-0.80, 0.00, -0.55), 1: (-0.79, 0.22, -0.55), 2: (-0.76, 0.43, -0.52), 3: (-0.72, 0.64, -0.46),
    4: (-0.65, 0.84, -0.37), 5: (-0.53, 1.01, -0.24), 6: (-0.38, 1.16, -0.10), 7: (-0.20, 1.27, 0.02),
    8: (0.00, 1.31, 0.07),
    # right brow, lateral (17) to medial (21), along its upper edge
    17: (-0.67, -0.15, -0.10), 18: (-0.56, -0.235, 0.00), 19: (-0.42, -0.255, 0.08), 20: (-0.28, -0.235, 0.12),
    21: (-0.15, -0.18, 0.14),
    # nose: bridge 27-30 (root to tip), base 31-35 (right ala to left ala)
    27: (0.00, -0.02, 0.16), 28: (0.00, 0.13, 0.24), 29: (0.00, 0.275, 0.32), 30: (0.00, 0.42, 0.42),
    31: (-0.15, 0.495, 0.18), 32: (-0.08, 0.525, 0.24), 33: (0.00, 0.55, 0.28),
    # right eye: outer corner 36, upper lid 37-38, inner corner 39, lower lid 40-41
    36: (-0.50, 0.00, -0.06), 37: (-0.415, -0.055, 0.05), 38: (-0.31, -0.055, 0.09), 39: (-0.225, 0.015, 0.10),
    40: (-0.31, 0.045, 0.09), 41: (-0.415, 0.04, 0.04),
    # outer lips 48-59 (48 right corner, 51 top centre, 57 bottom centre), inner lips 60-67
    48: (-0.31, 0.77, 0.10), 49: (-0.20, 0.725, 0.22), 50: (-0.085, 0.70, 0.28), 51: (0.00, 0.715, 0.30),
    57: (0.00, 0.925, 0.26), 58: (-0.095, 0.915, 0.25), 59: (-0.20, 0.87, 0.20),
    60: (-0.27, 0.775, 0.12), 61: (-0.085, 0.775, 0.24), 62: (0.00, 0.78, 0.25),
    66: (0.00, 0.79, 0.245), 67: (-0.085, 0.785, 0.235),
}


def _mirror(p: tuple[float, float, float]) -> tuple[float, float, float]:
    return (-p[0], p[1], p[2])


def _template_68() -> np.ndarray:
    pts: dict[int, tuple[float, float, float]] = dict(_RIGHT_68)
    for i, j in SCHEME.flip_pairs:
        src, dst = (i, j) if i in pts else (j, i)
        pts.setdefault(dst, _mirror(pts[src]))
    if sorted(pts) != list(range(NUM_POINTS)):
        raise RuntimeError("68-point template is incomplete")
    return np.array([pts[i] for i in range(NUM_POINTS)], dtype=np.float64)


def _sided(right: list[tuple[float, float, float]]) -> np.ndarray:
    """Right-side points followed by their mirrors (same order)."""
    r = np.array(right, dtype=np.float64)
    return np.concatenate([r, r * np.array([-1.0, 1.0, 1.0])])


# ellipsoid whose gradient gives the surface normals used for self-occlusion (and the shading model)
_NORMAL_CENTRE = np.array([0.0, 0.25, -0.55])
NORMAL_AXES = np.array([0.82, 1.15, 0.75])
PIVOT = np.array([0.0, 0.30, -0.70])  # rotation centre (head/neck), in head units

# Extra (non-landmark) 3D points, by part. "_r" lists are mirrored to the left side by _sided.
_FOREHEAD_R = [(-0.80, -0.25, -0.55), (-0.77, -0.50, -0.57), (-0.69, -0.73, -0.60), (-0.53, -0.92, -0.58),
               (-0.28, -1.03, -0.48)]
_FOREHEAD_TOP = (0.0, -1.08, -0.38)
_NOSE_FLANK_R = [(-0.085, 0.03, 0.11), (-0.11, 0.22, 0.16), (-0.165, 0.40, 0.15)]
_EAR_R = [(-0.83, -0.06, -0.74), (-0.90, -0.10, -0.92), (-0.95, 0.08, -1.02), (-0.93, 0.30, -1.0),
          (-0.86, 0.46, -0.86), (-0.80, 0.36, -0.74)]
_EYEBALL_R = [(-0.36, 0.0, -0.08)]
EYE_RADIUS = 0.125  # eyeball radius; the iris centre sits on the eyeball, turned by the gaze
_LENS_R_CENTRE = (-0.36, -0.01, 0.18)
_TEMPLE_R = [(-0.82, -0.08, -0.30), (-0.86, -0.06, -0.72)]  # spectacle arm: hinge-side and ear-side ends
# midline front depth of the cheeks/forehead, used by the contour arcs (y -> z of the face front, no nose)
_MIDLINE_Y = np.array([-1.08, -1.03, -0.92, -0.73, -0.5, -0.25, 0.0, 0.22, 0.43, 0.64, 0.84, 1.01, 1.16, 1.27, 1.31])
_MIDLINE_Z = np.array([-0.38, -0.25, -0.12, 0.0, 0.08, 0.13, 0.15, 0.17, 0.22, 0.25, 0.24, 0.20, 0.15, 0.10, 0.07])


def _skull_points() -> np.ndarray:
    """(M, 3) points on the skull ellipsoid above the jaw, for the head and hair outlines (convex hulls)."""
    centre, axes = np.array([0.0, -0.28, -0.78]), np.array([0.93, 1.03, 1.05])
    pts = []
    for lat in np.radians([-80.0, -55.0, -30.0, -5.0, 20.0, 45.0]):  # negative latitude = top of the head
        for lon in np.radians(np.arange(0.0, 360.0, 30.0)):
            pts.append((math.cos(lat) * math.sin(lon), math.sin(lat), math.cos(lat) * math.cos(lon)))
    return centre + np.array(pts) * axes


def _lens_points(centre: tuple[float, float, float], n: int = 10) -> np.ndarray:
    """(n, 3) rim of one spectacle lens (a rounded rectangle-ish ellipse in a plane facing the camera)."""
    t = np.linspace(0.0, 2.0 * math.pi, n, endpoint=False)
    c, s = np.cos(t), np.sin(t)
    rx, ry = 0.21, 0.14
    x = rx * np.sign(c) * np.abs(c) ** 0.7
    y = ry * np.sign(s) * np.abs(s) ** 0.7
    return np.stack([centre[0] + x, centre[1] + y, centre[2] - 0.05 * (x * np.sign(centre[0]) / rx) ** 2], 1)


def _forehead_arc(y: float) -> tuple[float, float, float]:
    """(W, z_c, D) of the forehead's horizontal arc at height y (interpolated from the outline)."""
    fr = np.array(_FOREHEAD_R)[::-1]  # top -> bottom, y increasing
    w = float(np.interp(y, fr[:, 1], -fr[:, 0]))
    zc = float(np.interp(y, fr[:, 1], fr[:, 2]))
    return w, zc, float(np.interp(y, _MIDLINE_Y, _MIDLINE_Z)) - zc


HAIRLINE_Y = -0.62


def _hairline(n: int = 9) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(n, 3) hairline points across the forehead surface, edge to edge, with their arc (t0, W, D)."""
    s = np.linspace(-1.0, 1.0, n)
    pts, t0, ws, ds = [], [], [], []
    for si in s:
        y = HAIRLINE_Y + 0.05 * si * si
        w, zc, d = _forehead_arc(y)
        t = math.asin(abs(si))
        pts.append((si * w, y, zc + d * math.cos(t)))
        t0.append(t), ws.append(w), ds.append(d)
    return np.array(pts), np.array(t0), np.array(ws), np.array(ds)


@dataclass(frozen=True)
class PointSet:
    """Index ranges of the parts inside the full (68 + extras) point array."""

    forehead: slice      # 11 points after jaw 16: left side bottom->top, top centre, right side top->bottom
    nose_flank: slice    # 6: right root, mid, ala-top, then left
    ear_r: slice
    ear_l: slice
    eyeball: slice       # 2: right, left eyeball centres
    iris: slice          # 2: right, left iris centres (eyeball + radius * gaze)
    centre: slice        # 1: centre of the shading ellipsoid
    hair_long: slice     # 6: long hair falling behind the shoulders
    lens_r: slice
    lens_l: slice
    temple: slice        # 4: right hinge, right ear end, left hinge, left ear end
    skull: slice
    hair: slice          # hairline across the forehead, right edge to left edge
    neck_top: slice      # ring under the jaw (moves with the head)
    total: int


def _build() -> tuple[np.ndarray, PointSet]:
    parts: list[np.ndarray] = [_template_68()]
    start = NUM_POINTS

    def add(arr: np.ndarray) -> slice:
        nonlocal start
        parts.append(np.asarray(arr, dtype=np.float64))
        sl = slice(start, start + len(arr))
        start += len(arr)
        return sl

    fr = np.array(_FOREHEAD_R)
    # forehead outline in drawing order after jaw point 16 (left side, x > 0): bottom -> top, top centre,
    # then right side top -> bottom, so jaw 0..16 + forehead is one closed outline.
    forehead = add(np.concatenate([fr * [-1, 1, 1], [_FOREHEAD_TOP], fr[::-1]]))
    nose_flank = add(_sided(_NOSE_FLANK_R))
    ear = _sided(_EAR_R)
    ear_r, ear_l = add(ear[:6]), add(ear[6:])
    eyeball = add(_sided(_EYEBALL_R))
    iris = add(_sided(_EYEBALL_R) + [0.0, 0.0, EYE_RADIUS])
    centre = add(_NORMAL_CENTRE[None])
    hair_long = add(_sided([(-1.0, 0.6, -0.85), (-1.08, 1.3, -0.95), (-0.98, 1.95, -1.0)]))
    lens_r = add(_lens_points(_LENS_R_CENTRE))
    lens_l = add(_lens_points(_mirror(_LENS_R_CENTRE)))
    temple = add(np.concatenate([np.array(_TEMPLE_R), np.array(_TEMPLE_R) * [-1, 1, 1]]))
    skull = add(_skull_points())
    hair = add(_hairline()[0])
    neck_top = add(np.array([(-0.40, 0.95, -0.62), (-0.25, 1.08, -0.32), (0.0, 1.12, -0.22), (0.25, 1.08, -0.32),
                             (0.40, 0.95, -0.62), (0.0, 0.8, -1.05)]))
    sets = PointSet(forehead, nose_flank, ear_r, ear_l, eyeball, iris, centre, hair_long, lens_r, lens_l, temple,
                    skull, hair, neck_top, start)
    return np.concatenate(parts), sets


TEMPLATE, PARTS = _build()
"""(N, 3) neutral mean face (68 landmarks then the extras); PARTS indexes the extras."""

def _cap_indices() -> np.ndarray:
    """Skull points covered by short hair: the top (above the ears) and the back of the head."""
    sk = TEMPLATE[PARTS.skull]
    return np.flatnonzero((sk[:, 1] < -0.12) | (sk[:, 2] < -1.25)) + PARTS.skull.start


SKULL_CAP = _cap_indices()

# body points (neck base and torso) follow a damped body rotation, not the head's
BODY = np.array([(-0.40, 1.9, -0.75), (0.40, 1.9, -0.75), (0.0, 1.9, -0.45), (0.0, 1.9, -1.05),
                 (-2.0, 2.6, -0.8), (-1.45, 2.0, -0.8), (-0.55, 1.72, -0.7), (0.0, 1.95, -0.45),
                 (0.55, 1.72, -0.7), (1.45, 2.0, -0.8), (2.0, 2.6, -0.8), (2.0, 4.5, -0.8), (-2.0, 4.5, -0.8)])
BODY_NECK = slice(0, 4)   # neck base ring
BODY_TORSO = slice(4, 13)  # shoulders and chest outline
BODY_PIVOT = np.array([0.0, 2.2, -0.7])

# outline = jaw 0..16 then forehead: the points that march to the silhouette
OUTLINE = np.concatenate([np.arange(17), np.arange(PARTS.forehead.start, PARTS.forehead.stop)])
# points that march along horizontal arcs: the outline (t0 = 90 deg) and the hairline (on the forehead)
ARC = np.concatenate([OUTLINE, np.arange(PARTS.hair.start, PARTS.hair.stop)])
_N_OUT = len(OUTLINE)


def _arc_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(t0, W, D) per ARC point: arc angle of the point, template half-width, arc depth."""
    p = TEMPLATE[OUTLINE]
    d_out = np.maximum(np.interp(p[:, 1], _MIDLINE_Y, _MIDLINE_Z) - p[:, 2], 0.0)
    _, t0, w, d = _hairline()
    return (np.concatenate([np.full(_N_OUT, 0.5 * math.pi), t0]), np.concatenate([np.abs(p[:, 0]), w]),
            np.concatenate([d_out, d]))


ARC_T0, ARC_W, ARC_D = _arc_tables()


def _normals() -> np.ndarray:
    g = (TEMPLATE[:NUM_POINTS] - _NORMAL_CENTRE) / NORMAL_AXES**2
    return g / np.linalg.norm(g, axis=1, keepdims=True)


NORMALS = _normals()
"""(68, 3) unit surface normals of the template landmarks (ellipsoid gradient), for self-occlusion."""
