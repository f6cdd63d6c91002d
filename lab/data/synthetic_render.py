"""Drawing of the synthetic faces with OpenCV, at the target size, from a posed projection.

Every facial feature is drawn FROM the projected landmarks: the face region is the closed curve through the
jaw points and the forehead outline, each eye is the almond through its six points, the lips are the curves
through the outer and inner lip points, the nose base runs through points 31-35 and the brows are bands
whose upper edge runs along the brow points. So the labels sit on the drawn features by construction.
Curves are uniform Catmull-Rom splines (they pass through their control points); all of a face's curves
come out of one precomputed matrix product.

OpenCV's polygon filling (LINE_AA and LINE_8) pushes every edge about 0.69 px outward (measured); the
polygons whose edge carries labels (face outline, eyes, lips) are inset by that amount first, so the drawn
edge (the 50 % coverage line) passes through the labels.

Layers: background and head (torso, neck, skull, hair, ears, jaw shadow) on one canvas; the face (skin and
every feature, the fringe, glasses and occluders) on a second one, shaded by a Lambertian head model and a
blurred map of feature shadows; the face layer is pasted through the anti-aliased face mask, then global
illumination, contrast, blur, noise and JPEG are applied. Glasses and occluders are drawn on both layers.

Randomness: none here. Textures and noise come from banks built once per process and size from fixed seeds;
which crop a face uses is part of its parameters.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from lab.data.synthetic_geometry import BODY_NECK, BODY_TORSO, NORMAL_AXES, OUTLINE, PARTS, SKULL_CAP, Projection

_SHIFT = 4                 # sub-pixel bits for cv2 drawing
_ONE = float(1 << _SHIFT)
_AA = cv2.LINE_AA
_CV_INSET = 0.69           # px: OpenCV's outward bias of filled polygons (see module docstring)
_BANK_SEED = 20240611      # fixed: texture banks are identical in every process
NUM_BACKGROUNDS = 24
_SHADE_ONE = 200           # value of 1.0 in the uint8 feature-shading map (room for highlights)


# ------------------------------------------------------------------------------------------ parameters
@dataclass(frozen=True)
class Appearance:
    """Colours (RGB 0-255), styles and lighting of one face. Sizes are in head units (see geometry)."""

    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    hair_style: int                    # 0 short, 1 long, 2 bald/shaved
    iris: tuple[float, float, float]
    lips: tuple[float, float, float]
    brow: tuple[float, float, float]
    brow_thickness: float              # about 0.05-0.09
    clothes: tuple[float, float, float]
    background: int                    # index into the background bank
    background_offset: tuple[float, float]  # crop offset, fractions of the free range
    background_flip: bool
    light: tuple[float, float, float]  # unit vector toward the light, camera frame (x right, y down, z to camera)
    ambient: float
    diffuse: float
    makeup: bool
    eyeshadow: tuple[float, float, float]
    skin_texture: int                  # index into the skin-blotch bank


@dataclass(frozen=True)
class Glasses:
    sun: bool                          # dark lenses: eye points under them are occluded
    frame: tuple[float, float, float]
    thickness: float                   # head units


@dataclass(frozen=True)
class Occluder:
    """An object in front of the face. kind: "hand", "object", "bar" or "mask".

    anchor: landmark index it is placed on; offset: (dx, dy) from the anchor in inter-ocular units;
    size: extent in inter-ocular units; angle: degrees; texture: background-bank index for objects.
    """

    kind: str
    anchor: int
    offset: tuple[float, float]
    size: float
    angle: float
    colour: tuple[float, float, float]
    texture: int


@dataclass(frozen=True)
class Degradation:
    """Photometric degradations; blur and motion lengths are in pixels of a 128 px image (scaled by size)."""

    blur: float = 0.0
    motion: float = 0.0
    motion_angle: float = 0.0
    noise: float = 0.0                 # grey-level sigma
    jpeg: int = 0                      # quality 1-100, 0 = off
    gain: float = 1.0
    cast: tuple[float, float, float] = (1.0, 1.0, 1.0)
    gradient: float = 0.0              # multiplicative ramp strength across the image
    gradient_angle: float = 0.0
    contrast: float = 1.0              # 1 = unchanged, < 1 = washed out
    noise_offset: tuple[int, int] = (0, 0)


# ---------------------------------------------------------------------------------------------- curves
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


# ----------------------------------------------------------------------------------------------- banks
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


_CIRCLE = np.stack([np.cos(np.linspace(0, 2 * math.pi, 12, endpoint=False)),
                    np.sin(np.linspace(0, 2 * math.pi, 12, endpoint=False))], 1)


# ------------------------------------------------------------------------------------------- drawing
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


def _background(app: Appearance, size: int) -> np.ndarray:
    tex = background_bank(size)[app.background % NUM_BACKGROUNDS]
    free = tex.shape[0] - size
    ox, oy = int(app.background_offset[0] * free), int(app.background_offset[1] * free)
    crop = tex[oy:oy + size, ox:ox + size]
    return np.ascontiguousarray(crop[:, ::-1] if app.background_flip else crop)


def _hull(img: np.ndarray, pts_fx: np.ndarray, colour) -> None:
    cv2.fillConvexPoly(img, cv2.convexHull(pts_fx), colour, _AA, _SHIFT)


def _draw_head(img: np.ndarray, f: _Face) -> None:
    """Torso, hair behind the head, neck, skull, ears and the shadow under the jaw (all behind the face)."""
    pf, style = f.p_fx, f.app.hair_style
    cv2.fillPoly(img, [f.body_fx[BODY_TORSO]], list(f.app.clothes), _AA, _SHIFT)
    if style == 1:
        _hull(img, np.concatenate([pf[PARTS.skull], pf[PARTS.hair_long]]), f.hair_dark)
    hull = cv2.convexHull(np.concatenate([pf[PARTS.neck_top], f.body_fx[BODY_NECK]]))
    cv2.fillConvexPoly(img, hull, f.neck, _AA, _SHIFT)
    c = hull.mean(axis=(0, 1))
    cv2.fillConvexPoly(img, (c + 0.6 * (hull - c)).astype(np.int32), f.neck_light, _AA, _SHIFT)
    # skull: long hair covers it all; short hair covers the top and back, the sides stay skin; bald: skin.
    # Hair is two-toned: darker at its outline, lit inside.
    skull = cv2.convexHull(pf[PARTS.skull])
    cv2.fillConvexPoly(img, skull, f.hair_dark if style == 1 else f.ear, _AA, _SHIFT)
    if style == 1:
        c = skull.mean(axis=(0, 1))
        cv2.fillConvexPoly(img, (c + 0.85 * (skull - c)).astype(np.int32), f.hair, _AA, _SHIFT)
    elif style == 0:
        cap = cv2.convexHull(pf[SKULL_CAP])
        cv2.fillConvexPoly(img, cap, f.hair_dark, _AA, _SHIFT)
        c = cap.mean(axis=(0, 1))
        cv2.fillConvexPoly(img, (c + 0.85 * (cap - c)).astype(np.int32), f.hair, _AA, _SHIFT)
    if style != 1:
        view_x = f.proj.view[0]
        ears = [f.curve_fx(name) for name, sign in (("ear_r", -1.0), ("ear_l", 1.0)) if sign * view_x > -0.3]
        if ears:
            cv2.fillPoly(img, ears, f.ear, _AA, _SHIFT)
            cv2.polylines(img, ears, True, f.ear_line, 1, _AA, _SHIFT)
            inner = [(e.mean(0) + 0.55 * (e[2:12] - e.mean(0))).astype(np.int32) for e in ears]
            cv2.polylines(img, inner, False, f.ear_line, 1, _AA, _SHIFT)
    # shadow under the chin and jaw: a band below jaw points 4..12 (the face covers its upper half)
    jaw = f.cs[_JAW_SAMPLES]
    band = np.concatenate([jaw, (jaw - f.up * (0.12 * f.u) * _JAW_TAPER)[::-1]])
    cv2.fillPoly(img, [_fx(band)], f.jaw_shadow, _AA, _SHIFT)


_JAW_SAMPLES = slice(_SLICE["outline"].start + 12, _SLICE["outline"].start + 37)  # jaw 4 .. 12 (3 per segment)
_JAW_TAPER = np.sin(np.linspace(0.0, math.pi, _JAW_SAMPLES.stop - _JAW_SAMPLES.start))[:, None]
# lid bands are crescents: full height mid-lid, a third of it at the corners
_LID_TAPER = (0.35 + 0.65 * np.sin(np.linspace(0.0, math.pi, len(_SPAN["eye_r_up"]))))[:, None]
# brow thickness along its curve samples (lateral thin -> medial thick), from a control-point profile
_BROW_PROFILE = (spline_matrix(5, 3, False) @ np.array([0.45, 0.75, 0.95, 1.0, 0.95]))[:, None]


def _eyes(img: np.ndarray, shade: np.ndarray, f: _Face) -> None:
    u, up = f.u, f.up
    cv2.fillPoly(img, [f.exact["eye_r"], f.exact["eye_l"]], (226, 219, 211), _AA, _SHIFT)
    # irises: discs on the eyeballs, foreshortened by the head pose; pupil; glint at larger sizes
    r = 0.062 * u
    n = f.proj.rotation[:, 2]
    squash = max(abs(float(n[2])), 0.25)
    ang = math.atan2(n[1], n[0]) if abs(n[2]) < 0.999 else 0.0
    ca, sa = math.cos(ang), math.sin(ang)
    disc = (_CIRCLE * [r * squash, r]) @ np.array([[ca, sa], [-sa, ca]])
    parts = np.stack([disc, 0.45 * disc, 0.2 * disc + [0.3 * r, -0.35 * r]])  # iris, pupil, glint
    discs = _fx(f.p[PARTS.iris][:, None, None] + parts[None])  # (2 eyes, 3 parts, 12, 2)
    cv2.fillPoly(img, [discs[0, 0], discs[1, 0]], list(f.app.iris), _AA, _SHIFT)
    cv2.fillPoly(img, [discs[0, 1], discs[1, 1]], (18, 16, 16), _AA, _SHIFT)
    if u > 40:
        cv2.fillPoly(img, [discs[0, 2], discs[1, 2]], (245, 245, 245), _AA, _SHIFT)
    # lids: skin crescents outside the opening clip the iris (edge on the label curve); lashes; lower lid
    lids = f.cs[_LID_ROWS]  # (4, 13, 2): right upper, left upper, right lower, left lower
    inner = lids + _LID_SIDE * (up * _CV_INSET)
    outer = lids + _LID_SIDE * (up * (1.6 * r) * _LID_TAPER)
    bands = _fx(np.concatenate([inner, outer[:, ::-1]], 1))
    if f.app.makeup:
        cv2.fillPoly(img, [bands[0], bands[1]], f.eyeshadow, _AA, _SHIFT)
        cv2.fillPoly(img, [bands[2], bands[3]], f.skin, _AA, _SHIFT)
    else:
        cv2.fillPoly(img, list(bands), f.skin, _AA, _SHIFT)
    lines = f.cs_fx[_LID_ROWS]
    cv2.polylines(img, [lines[0], lines[1]], False, f.lash, max(1, round(u * 0.024)), _AA, _SHIFT)
    cv2.polylines(img, [lines[2, 1:-1], lines[3, 1:-1]], False, f.lower_lid, 1, _AA, _SHIFT)
    crease = _fx(lids[:2, 1:-1] + up * (0.9 * r))
    cv2.polylines(shade, list(crease), False, int(_SHADE_ONE * 0.8), max(1, round(u * 0.02)), cv2.LINE_8, _SHIFT)


_LID_ROWS = np.stack([_SPAN[n] for n in ("eye_r_up", "eye_l_up", "eye_r_lo", "eye_l_lo")])
_LID_SIDE = np.array([1.0, 1.0, -1.0, -1.0])[:, None, None]  # bands grow up from upper lids, down from lower


def _brows(img: np.ndarray, f: _Face) -> None:
    th = (f.app.brow_thickness * f.u) * _BROW_PROFILE
    top, bottom = (0.15 * th) * f.up, (0.85 * th) * f.up
    polys = _fx(np.stack([np.concatenate([c + top, (c - bottom)[::-1]])
                          for c in (f.curve("brow_r"), f.curve("brow_l"))]))
    cv2.fillPoly(img, list(polys), list(f.app.brow), _AA, _SHIFT)


def _nose(img: np.ndarray, shade: np.ndarray, f: _Face, light_x: float) -> None:
    p, pf, u, up = f.p, f.p_fx, f.u, f.up
    fl = PARTS.nose_flank.start
    base = f.curve("nose_base")
    # the flank(s) facing away from the light (both, lightly, under frontal light) and the shade under the nose
    right, left = [27, 28, 29, 30, 31, fl + 2, fl + 1, fl], [27, 28, 29, 30, 35, fl + 5, fl + 4, fl + 3]
    if abs(light_x) < 0.15:
        cv2.fillPoly(shade, [pf[right], pf[left]], int(_SHADE_ONE * 0.9), cv2.LINE_8, _SHIFT)
    else:
        dark = int(_SHADE_ONE * (0.9 - 0.25 * min(1.0, abs(light_x))))
        cv2.fillPoly(shade, [pf[right if light_x > 0 else left]], dark, cv2.LINE_8, _SHIFT)
    under = _fx(np.concatenate([base, base[::-1] - up * (0.06 * u)]))
    cv2.fillPoly(shade, [under], int(_SHADE_ONE * 0.8), cv2.LINE_8, _SHIFT)
    tip = p[30] + up * (0.03 * u)
    cv2.circle(shade, (int(tip[0] * _ONE), int(tip[1] * _ONE)), int(0.035 * u * _ONE), int(_SHADE_ONE * 1.12), -1,
               cv2.LINE_8, _SHIFT)
    # nostrils, alar creases, base line
    centres = 0.55 * p[[32, 34]] + 0.25 * p[[31, 35]] + 0.2 * p[[33, 33]] + up * (0.012 * u)
    nostrils = _fx(centres[:, None] + _CIRCLE * [0.034 * u, 0.015 * u])
    cv2.fillPoly(img, list(nostrils), f.nostril, _AA, _SHIFT)
    cv2.polylines(img, [pf[[31, fl + 2, fl + 1]], pf[[35, fl + 5, fl + 4]]], False, f.alar, 1, _AA, _SHIFT)
    cv2.polylines(img, [f.curve_fx("nose_base")], False, f.nose_line, max(1, round(u * 0.012)), _AA, _SHIFT)


def _mouth(img: np.ndarray, shade: np.ndarray, f: _Face) -> None:
    p, u, up = f.p, f.u, f.up
    it_fx, ib_fx = f.curve_fx("lip_it"), f.curve_fx("lip_ib")
    cv2.fillPoly(img, [np.concatenate([it_fx, ib_fx[1:-1]])], (70, 25, 30), _AA, _SHIFT)
    gap = float(np.mean(np.hypot(*(p[[61, 62, 63]] - p[[67, 66, 65]]).T)))
    it = f.curve("lip_it")
    ob = f.curve("lip_ob")[1:-1]
    if gap > 0.05 * u:
        teeth = _fx(np.concatenate([it, it[::-1] - up * min(gap * 0.4, 0.06 * u)]))
        cv2.fillPoly(img, [teeth], (214, 206, 190), _AA, _SHIFT)
    cv2.fillPoly(img, [f.exact["lip_upper"]], f.lips_upper, _AA, _SHIFT)
    cv2.fillPoly(img, [f.exact["lip_lower"]], f.lips, _AA, _SHIFT)
    cv2.polylines(img, [it_fx], False, f.lip_line, 1, _AA, _SHIFT)
    cv2.fillPoly(shade, [_fx(np.concatenate([ob, ob[::-1] - up * (0.05 * u)]))], int(_SHADE_ONE * 0.85),
                 cv2.LINE_8, _SHIFT)
    mid = 0.5 * (p[57] + p[66])
    cv2.ellipse(shade, (int(mid[0] * _ONE), int(mid[1] * _ONE)), (int(0.05 * u * _ONE), int(0.015 * u * _ONE)), 0,
                0, 360, int(_SHADE_ONE * 1.1), -1, cv2.LINE_8, _SHIFT)


def _fringe(img: np.ndarray, f: _Face) -> None:
    """Hair over the forehead: everything above the hairline (in the face layer, so the face mask clips it)."""
    if f.app.hair_style == 2:
        return
    line = f.curve("hairline")
    cv2.fillPoly(img, [_fx(np.concatenate([line, line[::-1] + f.up * (1.5 * f.u)]))], f.hair, _AA, _SHIFT)
    cv2.polylines(img, [f.curve_fx("hairline")], False, f.hair_dark, max(1, round(f.u * 0.02)), _AA, _SHIFT)


def _face_mask(f: _Face, size: int) -> np.ndarray:
    """(S, S) uint8 face region: the outline; once the head turns also the far brow and eye (past ~6 degrees of
    yaw), the nose and the lips (past ~20 degrees), which stick out of the cheek silhouette (the brow ridge and
    the profile are then the edge)."""
    m = np.zeros((size, size), np.uint8)
    cv2.fillPoly(m, [f.exact["outline"]], 255, _AA, _SHIFT)
    view_x = f.proj.view[0]
    if abs(view_x) > 0.1:
        _hull(m, f.p_fx[_FAR_BROW_EYE[view_x < 0]], 255)
    if abs(view_x) > 0.35:
        _hull(m, np.concatenate([f.p_fx[27:36], f.p_fx[PARTS.nose_flank]]), 255)
        cv2.fillPoly(m, [f.exact["lip_upper"], f.exact["lip_lower"]], 255, _AA, _SHIFT)
    return m


# far-side brow and eye, both medial brow ends and the nose root, keyed by view_x < 0 (the far side is +x)
_FAR_BROW_EYE = {True: np.r_[20:27, 42:48, 27, 28], False: np.r_[17:24, 36:42, 27, 28]}


def _lambert(proj: Projection, app: Appearance, size: int) -> np.ndarray:
    """(S, S) float32 Lambertian shading of the head, approximated by a sphere warped onto the head ellipse."""
    n = _sphere_normals()
    g = int(round(math.sqrt(len(n))))
    s = (np.maximum(n @ np.asarray(app.light, np.float32), 0.0) * app.diffuse + app.ambient).reshape(g, g)
    c = proj.points[PARTS.centre][0]
    r = proj.rotation
    h = max(math.hypot(r[0, 0], r[1, 0]), 1e-9)
    cr, sr = r[0, 0] / h, r[1, 0] / h
    ax, ay = proj.scale * NORMAL_AXES[0] * 1.05, proj.scale * NORMAL_AXES[1]
    k, e = 2.0 * _SPHERE_REACH / (g - 1), _SPHERE_REACH
    # grid (j, i) -> unit (j k - e, i k - e) -> image c + ax uu (cr, sr) + ay vv (-sr, cr)
    m = np.array([[ax * cr * k, -ay * sr * k, c[0] - e * (ax * cr - ay * sr)],
                  [ax * sr * k, ay * cr * k, c[1] - e * (ax * sr + ay * cr)]], np.float32)
    # BORDER_CONSTANT: cv2's replicate border is ~8x slower; the grid reaches twice the head ellipse anyway
    return cv2.warpAffine(s, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=float(app.ambient))


def _glasses(layers: tuple[np.ndarray, ...], occ: np.ndarray, f: _Face, g: Glasses) -> None:
    """Frames (and dark lenses) in front of the face; past ~53 degrees of yaw the far lens and arm are behind
    the nose and are not drawn."""
    pf, view_x = f.p_fx, f.proj.view[0]
    th = max(1, round(g.thickness * f.u))
    col = list(g.frame)
    lr, ll, t = PARTS.lens_r.start, PARTS.lens_l.start, PARTS.temple.start
    half = (PARTS.lens_r.stop - lr) // 2
    show_r, show_l = view_x < 0.8, view_x > -0.8  # view_x > 0: the camera is round the left (+x) side
    rims = ([f.curve_fx("lens_r")] if show_r else []) + ([f.curve_fx("lens_l")] if show_l else [])
    bridge = _fx(f.p[27] + f.up * 0.02 * f.u)
    arms = [np.stack([pf[lr] if show_r else bridge, bridge, pf[ll + half] if show_l else bridge])]
    if view_x < 0.35:
        arms.append(pf[[lr + half, t, t + 1]])
    if view_x > -0.35:
        arms.append(pf[[ll, t + 2, t + 3]])
    if g.sun:
        cv2.fillPoly(occ, rims, 255, _AA, _SHIFT)
    for img in layers:
        if g.sun:
            cv2.fillPoly(img, rims, (25, 25, 30), _AA, _SHIFT)
        cv2.polylines(img, rims, True, col, th, _AA, _SHIFT)
        cv2.polylines(img, arms, False, col, th, _AA, _SHIFT)


def _hand(targets, c: np.ndarray, s: float, ang: float) -> None:
    """A palm with four fingers and a thumb pointing along `ang` (degrees), extent about s px."""
    a = math.radians(ang)
    d = np.array([math.cos(a), math.sin(a)])
    n = np.array([-d[1], d[0]])
    palm = _fx(c + (_CIRCLE * [0.34 * s, 0.3 * s]) @ np.array([[d[0], d[1]], [n[0], n[1]]]))
    segs = []
    for off, ln in ((-0.25, 0.55), (-0.08, 0.65), (0.08, 0.62), (0.24, 0.5)):
        base = c + n * off * s + d * 0.15 * s
        segs.append((base, base + d * ln * s))
    thumb = c - n * 0.28 * s
    segs.append((thumb, thumb - n * 0.25 * s + d * 0.3 * s))
    fingers = list(_fx(np.array(segs)))
    lw = max(1, int(round(0.16 * s)))
    for img, colour, line in targets:
        cv2.fillPoly(img, [palm], colour, _AA, _SHIFT)
        cv2.polylines(img, fingers, False, colour, lw, _AA, _SHIFT)
        if line is not None:
            cv2.polylines(img, fingers[1:4], False, line, 1, _AA, _SHIFT)


def _occluders(layers: tuple[np.ndarray, ...], occ: np.ndarray, f: _Face, occluders: tuple[Occluder, ...],
               size: int) -> None:
    p = f.p
    iod = float(np.hypot(*(p[45] - p[36]))) + 1e-6
    for o in occluders:
        col = list(o.colour)
        dark = (np.asarray(o.colour) * 0.75).tolist()
        c = p[o.anchor] + np.asarray(o.offset) * iod
        s = o.size * iod
        a = math.radians(o.angle)
        d = np.array([math.cos(a), math.sin(a)])
        targets = [(img, col) for img in layers] + [(occ, 255)]
        if o.kind == "hand":
            _hand([(img, col, dark) for img in layers] + [(occ, 255, None)], c, s, o.angle)
        elif o.kind == "bar":
            ends = _fx(np.stack([c - d * 3 * iod, c + d * 3 * iod]))
            for img, colour in targets:
                cv2.polylines(img, [ends], False, colour, max(2, int(round(0.3 * s))), _AA, _SHIFT)
        elif o.kind == "mask":  # a surgical-mask-like band over the nose tip, mouth and chin
            top = _fx(np.stack([p[1], 0.6 * p[29] + 0.4 * p[30], p[15]]))
            poly = np.concatenate([top, f.cs_fx[_MASK_SAMPLES]])
            fold = _fx(np.stack([p[3], p[57] + 0.3 * (p[8] - p[57]), p[13]]))
            for img, colour in targets:
                cv2.fillPoly(img, [poly], colour, _AA, _SHIFT)
            for img in layers:
                cv2.polylines(img, [fold], False, dark, 1, _AA, _SHIFT)
        else:  # object: a textured box (cup, phone, book)
            n = np.array([-d[1], d[0]])
            corners = np.array([[-1, -0.6], [1, -0.6], [1, 0.6], [-1, 0.6]]) * 0.5 * s
            poly = _fx(c + corners[:, :1] * d + corners[:, 1:] * n)
            mask = np.zeros((size, size), np.uint8)
            cv2.fillPoly(mask, [poly], 255, _AA, _SHIFT)
            tex = background_bank(size)[o.texture % NUM_BACKGROUNDS][:size, :size]
            flat = np.empty_like(tex)
            cv2.rectangle(flat, (0, 0), (size - 1, size - 1), col, -1)
            tinted = cv2.addWeighted(tex, 0.5, flat, 0.5, 0)
            for img in layers:
                cv2.copyTo(tinted, mask, img)
                cv2.polylines(img, [poly], True, dark, 1, _AA, _SHIFT)
            np.maximum(occ, mask, out=occ)


_MASK_SAMPLES = _SPAN["outline"][45:2:-3]  # jaw 15 back to jaw 1 (the face mask's lower edge)


@lru_cache(maxsize=64)
def _gauss_kernel(sigma: float) -> np.ndarray:
    """(k, 1) float32 Gaussian kernel, k = 2 ceil(3 sigma) + 1 (sigma rounded to 0.05 by the caller)."""
    return cv2.getGaussianKernel(2 * math.ceil(3.0 * sigma) + 1, sigma).astype(np.float32)


def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur (cv2.sepFilter2D is 2-3x faster than cv2.GaussianBlur at these sizes)."""
    k = _gauss_kernel(round(max(sigma, 0.05) * 20.0) / 20.0)
    return cv2.sepFilter2D(img, -1, k, k, borderType=cv2.BORDER_REFLECT_101)


def _finish(face: np.ndarray, canvas: np.ndarray, mask: np.ndarray, shade: np.ndarray, d: Degradation,
            size: int) -> np.ndarray:
    """Paste the shaded face layer through the mask, then illumination, contrast, blur, noise and JPEG.

    out = (canvas (1 - m) + face m shade) * gain * ramp * cast * contrast + (1 - contrast) 118 + noise.
    Per-pixel weights are built on one channel and merged (numpy broadcasting over a last axis of 3 is slow).
    """
    m = mask * np.float32(1.0 / 255.0)
    w_face = shade * m
    w_back = 1.0 - m
    g = d.gain * d.contrast
    if d.gradient > 0:
        x, y = _unit_grid(size)
        a = math.radians(d.gradient_angle)
        ramp = x * np.float32(d.gradient * math.cos(a)) + y * np.float32(d.gradient * math.sin(a)) + np.float32(1.0)
        w_face *= ramp
        w_back *= ramp
    gains = [np.float32(g * c) for c in d.cast]
    out = cv2.multiply(canvas, cv2.merge([w_back * k for k in gains]), dtype=cv2.CV_32F)
    out += cv2.multiply(face, cv2.merge([w_face * k for k in gains]), dtype=cv2.CV_32F)
    k = size / 128.0
    if d.blur * k > 0.3:
        out = gaussian_blur(out, d.blur * k)
    if d.motion * k >= 1.5:
        ln = int(round(d.motion * k)) | 1
        ker = np.zeros((ln, ln), np.float32)
        a, h = math.radians(d.motion_angle), (ln - 1) / 2.0
        cv2.line(ker, (int(round(h - h * math.cos(a))), int(round(h - h * math.sin(a)))),
                 (int(round(h + h * math.cos(a))), int(round(h + h * math.sin(a)))), 1.0, 1)
        out = cv2.filter2D(out, -1, ker / max(float(ker.sum()), 1e-6))
    if d.contrast < 1.0:
        out += np.float32((1.0 - d.contrast) * 118.0)
    if d.noise > 0:
        ox, oy = d.noise_offset[0] % size, d.noise_offset[1] % size
        out = cv2.scaleAdd(noise_bank(size)[oy:oy + size, ox:ox + size], float(d.noise), out)
    img = np.clip(out, 0.0, 255.0, out=out).astype(np.uint8)
    if d.jpeg > 0:
        ok, buf = cv2.imencode(".jpg", img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(d.jpeg)])
        img = np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1])
    return img


def render(proj: Projection, app: Appearance, glasses: Glasses | None, occluders: tuple[Occluder, ...],
           degradation: Degradation, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw one face. Returns the (S, S, 3) uint8 RGB image and (68,) bool 'covered by an occluder'."""
    f = _Face(proj, app)
    canvas = _background(app, size)
    _draw_head(canvas, f)
    face = np.empty((size, size, 3), np.uint8)
    cv2.rectangle(face, (0, 0), (size - 1, size - 1), f.skin, -1)  # (numpy broadcasting of a colour is slow)
    shade = np.full((size, size), _SHADE_ONE, np.uint8)
    _eyes(face, shade, f)
    _brows(face, f)
    _nose(face, shade, f, float(proj.rotation[:, 0] @ np.asarray(app.light)))
    _mouth(face, shade, f)
    _fringe(face, f)
    occ = np.zeros((size, size), np.uint8)
    if glasses is not None:
        _glasses((face, canvas), occ, f, glasses)
    if occluders:
        _occluders((face, canvas), occ, f, occluders, size)
    shade = gaussian_blur(shade, max(0.5, proj.scale * 0.012))
    lam = _lambert(proj, app, size)
    lam *= skin_bank(size)[app.skin_texture % 8]
    lam *= shade
    img = _finish(face, canvas, _face_mask(f, size), lam, degradation, size)
    lm = np.clip(np.rint(proj.points[:68]).astype(np.int64), 0, size - 1)
    return img, occ[lm[:, 1], lm[:, 0]] > 127
