"""Geometry of the synthetic faces: a 3D 68-point iBUG template, identity and expression bases, pose,
projection, 300W-style contour marching and self-occlusion flags.

Head frame: x to the image right in a frontal view (the subject's left), y down, z toward the camera; the
unit is roughly the outer-canthal distance (about 9 cm). Landmarks follow the iBUG 68 layout of
`lab.schema` (jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, lips 48-67; the subject's right eye 36-41 is on
the image left). Besides the 68 landmarks the model carries *extra* 3D points (forehead outline, nose
flanks, ears, skull, neck, hair fringe, eyeballs, glasses) that the renderer uses to draw the head; they go
through the same identity, expression, pose and projection, so every drawn part moves with the labels.

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
# tolerance: a point is hidden when normal . view < -TOL (outline points already sit on the frontal
# silhouette, so they may turn 30 degrees further before the label stops standing for the point)
_TOL = np.full(NUM_POINTS, math.sin(math.radians(3.0)))
_TOL[:17] = math.sin(math.radians(30.0))
_TOL[[7, 8, 9]] = 1.0  # the chin never hides within the pose range
# points the nose can hide when they are on the far half of the face
_NOSE_HIDEABLE = np.array([31, 32, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 21, 22, 20, 23])


# ---------------------------------------------------------------------------------------- shape model
IDENTITY_NAMES = (
    "face_width", "face_length", "forehead_height", "eye_spacing", "eye_size", "eye_openness", "canthal_tilt",
    "brow_height", "brow_arch", "nose_length", "nose_width", "nose_depth", "mouth_width", "upper_lip",
    "lower_lip", "mouth_height", "chin_width", "jaw_square", "chin_length", "depth", "asymmetry",
    "hairline", "hair_volume", "fringe_tilt", "bangs",
)
EXPRESSION_NAMES = ("mouth_open", "smile", "brow_raise")


def _idx(*ranges: range | list[int] | tuple[int, ...]) -> np.ndarray:
    out: list[int] = []
    for r in ranges:
        out.extend(list(r))
    return np.array(out, dtype=np.int64)


def _sl(s: slice) -> np.ndarray:
    return np.arange(s.start, s.stop)


_JAW = _idx(range(0, 17))
_BROWS = _idx(range(17, 27))
_NOSE = _idx(range(27, 36))
_EYE_R, _EYE_L = _idx(range(36, 42)), _idx(range(42, 48))
_LIPS = _idx(range(48, 68))
_FOREHEAD = _sl(PARTS.forehead)
_HAIR = _sl(PARTS.hair)
_EARS = np.concatenate([_sl(PARTS.ear_r), _sl(PARTS.ear_l), _sl(PARTS.temple)])
_SIDE = np.concatenate([_JAW, _FOREHEAD, _EARS, _sl(PARTS.skull), _HAIR, _sl(PARTS.neck_top), _sl(PARTS.hair_long)])


def _basis_identity() -> np.ndarray:
    """(len(IDENTITY_NAMES), N, 3) displacement per unit coefficient (about one standard deviation)."""
    t = TEMPLATE
    n = len(t)
    out = np.zeros((len(IDENTITY_NAMES), n, 3))
    b = dict(zip(IDENTITY_NAMES, out))
    sx = np.sign(t[:, 0])
    b["face_width"][_SIDE, 0] = 0.06 * t[_SIDE, 0]
    lens = np.concatenate([_sl(PARTS.lens_r), _sl(PARTS.lens_l)])
    b["face_width"][lens, 0] = 0.02 * sx[lens]
    low = t[:, 1] > 0.05
    b["face_length"][low, 1] = 0.06 * (t[low, 1] - 0.05)
    b["face_length"][_sl(PARTS.neck_top), 1] = 0.06
    hi = np.concatenate([_FOREHEAD, _HAIR, _sl(PARTS.skull)])
    b["forehead_height"][hi, 1] = 0.07 * np.minimum(t[hi, 1] + 0.2, 0.0)
    eyes = np.concatenate([_EYE_R, _EYE_L, _sl(PARTS.eyeball), _sl(PARTS.iris), _sl(PARTS.lens_r),
                           _sl(PARTS.lens_l)])
    b["eye_spacing"][eyes, 0] = 0.025 * sx[eyes]
    b["eye_spacing"][_BROWS, 0] = 0.012 * sx[_BROWS]
    for e in (_EYE_R, _EYE_L):
        b["eye_size"][e, :2] = 0.08 * (t[e, :2] - t[e, :2].mean(0))
    b["canthal_tilt"][[36, 45], 1] = -0.012
    b["canthal_tilt"][39, 1], b["canthal_tilt"][42, 1] = 0.006, 0.006
    b["eye_openness"][[37, 38, 43, 44], 1] = -0.010
    b["eye_openness"][[40, 41, 46, 47], 1] = 0.005
    b["brow_height"][_BROWS, 1] = -0.035
    b["brow_arch"][[18, 19, 24, 25], 1] = -0.015
    b["brow_arch"][[17, 26], 1] = 0.01
    ramp = {28: 0.3, 29: 0.6, 30: 1.0, 31: 1.0, 32: 1.0, 33: 1.0, 34: 1.0, 35: 1.0}
    for i, w in ramp.items():
        b["nose_length"][i, 1] = 0.035 * w
    fl = _sl(PARTS.nose_flank)
    b["nose_length"][fl, 1] = 0.035 * np.clip(t[fl, 1] / 0.42, 0, 1)
    nb = np.concatenate([_idx([31, 32, 34, 35]), fl])
    b["nose_width"][nb, 0] = 0.13 * t[nb, 0]
    depth_w = {27: 0.3, 28: 0.5, 29: 0.8, 30: 1.0, 31: 0.4, 32: 0.6, 33: 0.6, 34: 0.6, 35: 0.4}
    for i, w in depth_w.items():
        b["nose_depth"][i, 2] = 0.05 * w
    b["nose_depth"][fl, 2] = 0.02
    b["mouth_width"][_LIPS, 0] = 0.08 * t[_LIPS, 0]
    b["upper_lip"][[49, 50, 51, 52, 53], 1] = [-0.012, -0.018, -0.016, -0.018, -0.012]
    b["lower_lip"][[55, 56, 57, 58, 59], 1] = [0.014, 0.02, 0.022, 0.02, 0.014]
    b["mouth_height"][_LIPS, 1] = 0.025
    chin = _idx(range(4, 13))
    b["chin_width"][chin, 0] = 0.09 * t[chin, 0] * np.array([0.3, 0.6, 0.9, 1, 1, 1, 0.9, 0.6, 0.3])
    b["jaw_square"][[3, 4, 5, 11, 12, 13], 0] = 0.03 * sx[[3, 4, 5, 11, 12, 13]]
    b["jaw_square"][[4, 12], 1] = 0.02
    b["chin_length"][_idx(range(4, 13)), 1] = 0.04 * np.array([0.2, 0.5, 0.8, 1, 1, 1, 0.8, 0.5, 0.2])
    b["chin_length"][_sl(PARTS.neck_top), 1] = 0.03
    b["depth"][:, 2] = 0.07 * (t[:, 2] - PIVOT[2])
    right = t[:, 0] < 0
    b["asymmetry"][right, 1] = 0.012 * np.clip(-t[right, 0] / 0.5, 0, 1)
    b["asymmetry"][right, 0] = 0.01 * t[right, 0]
    s = np.linspace(-1.0, 1.0, len(_HAIR))
    b["hairline"][_HAIR, 1] = 0.07
    b["fringe_tilt"][_HAIR, 1] = 0.07 * s
    b["bangs"][_HAIR, 1] = 0.07 * (1.0 - s * s)
    b["hair_volume"][_sl(PARTS.skull), :] = 0.05 * (t[_sl(PARTS.skull)] - np.array([0.0, -0.28, -0.78]))
    return out


def _basis_expression() -> np.ndarray:
    """(3, N, 3) displacements for mouth_open, smile and brow_raise at coefficient 1."""
    t = TEMPLATE
    out = np.zeros((len(EXPRESSION_NAMES), len(t), 3))
    mo, sm, br = out
    sx = np.sign(t[:, 0])
    mo[[55, 56, 57, 58, 59], 1] = [0.17, 0.21, 0.22, 0.21, 0.17]
    mo[[65, 66, 67], 1] = [0.19, 0.20, 0.19]
    mo[[48, 54], 1], mo[[60, 64], 1] = 0.07, 0.075
    mo[[48, 54, 60, 64], 0] = -0.02 * sx[[48, 54, 60, 64]]
    mo[[61, 62, 63], 1] = -0.008
    jaw_w = {8: 0.25, 7: 0.235, 9: 0.235, 6: 0.18, 10: 0.18, 5: 0.11, 11: 0.11, 4: 0.05, 12: 0.05, 3: 0.015, 13: 0.015}
    for i, w in jaw_w.items():
        mo[i, 1] = w
        mo[i, 2] = -0.2 * w
    mo[_sl(PARTS.neck_top), 1] = 0.12
    corners = _idx([48, 54, 60, 64])
    sm[corners, 0] = 0.055 * sx[corners]
    sm[corners, 1] = -0.05
    sm[[49, 53], 0], sm[[49, 53], 1] = 0.02 * sx[[49, 53]], -0.015
    sm[[59, 55], 0], sm[[59, 55], 1] = 0.03 * sx[[59, 55]], -0.03
    sm[[58, 56], 1], sm[57, 1] = -0.012, -0.005
    sm[[61, 63, 65, 67], 0] = 0.02 * sx[[61, 63, 65, 67]]
    sm[[65, 67], 1] = -0.012
    sm[[40, 41, 46, 47], 1] = -0.010
    sm[[2, 3, 4, 12, 13, 14], 0] = 0.012 * sx[[2, 3, 4, 12, 13, 14]]
    br[_BROWS, 1] = -0.06
    br[[20, 21, 22, 23], 1] = -0.075
    br[[20, 21, 22, 23], 0] = 0.0
    br[[37, 38, 43, 44], 1] = -0.010
    return out


BASIS_IDENTITY = _basis_identity().reshape(len(IDENTITY_NAMES), -1)
BASIS_EXPRESSION = _basis_expression().reshape(len(EXPRESSION_NAMES), -1)
_BASIS = np.concatenate([BASIS_IDENTITY, BASIS_EXPRESSION])
_TEMPLATE_FLAT = TEMPLATE.reshape(-1)
_UPPER_LID = np.array([37, 38, 43, 44])
_LOWER_LID = np.array([41, 40, 47, 46])


def build_shape(identity: np.ndarray, expression: np.ndarray, eye_close: tuple[float, float] = (0.0, 0.0),
                jitter: np.ndarray | None = None, gaze: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """(N, 3) face in the head frame: template + identity + expression (+ per-point 3D jitter on the 68).

    identity: (len(IDENTITY_NAMES),) coefficients, about N(0, 1).
    expression: (3,) mouth_open in [0, 1], smile in [-0.5, 1], brow_raise in [-1, 1].
    eye_close: closure of the right and left eye in [0, 1] (1 = lids meet).
    jitter: optional (68, 3) displacement added to the landmarks (individual asymmetry).
    gaze: (horizontal, vertical) eye rotation as tangents (0 = looking straight ahead); moves the irises.
    """
    shape = (_TEMPLATE_FLAT + np.concatenate([identity, expression]) @ _BASIS).reshape(-1, 3)
    if jitter is not None:
        shape[:NUM_POINTS] += jitter
    close = np.array([eye_close[0], eye_close[0], eye_close[1], eye_close[1]])
    if np.any(close > 0):
        up, lo = shape[_UPPER_LID], shape[_LOWER_LID]
        gap = lo - up
        shape[_UPPER_LID] = up + (0.92 * close)[:, None] * gap
        shape[_LOWER_LID] = lo - (0.05 * close)[:, None] * gap
    if gaze != (0.0, 0.0):
        g = np.array([gaze[0], gaze[1], 1.0])
        shape[PARTS.iris] = shape[PARTS.eyeball] + EYE_RADIUS * g / np.linalg.norm(g)
    # keep parts from overlapping at extreme coefficients: brows (with their drawn band) above the eyes,
    # the hairline above the brows, so a drawn feature never covers another one's labels
    shape[17:27, 1] = np.minimum(shape[17:27, 1], shape[_BROW_EYE, 1] - _BROW_EYE_GAP)
    shape[PARTS.hair, 1] = np.minimum(shape[PARTS.hair, 1], shape[17:27, 1].min() - _HAIR_BROW_GAP)
    drop = shape[31:36, 1].max() + _NOSE_LIP_GAP - shape[48:55, 1].min()  # the mouth stays below the nose
    if drop > 0:
        shape[48:68, 1] += drop
    return shape


_BROW_EYE = np.array([36, 37, 37, 38, 39, 42, 43, 44, 44, 45])  # the eye point under each brow point 17..26
_BROW_EYE_GAP = 0.14  # > the drawn brow band below its points (0.85 * thickness <= 0.075) + a margin
_HAIR_BROW_GAP = 0.08
_NOSE_LIP_GAP = 0.09


# ----------------------------------------------------------------------------------- pose and projection
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
