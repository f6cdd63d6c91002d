"""Drawing of the synthetic faces with OpenCV, at the target size, from a posed projection.

Every facial feature is drawn FROM the projected landmarks: the face region is the closed curve through the
jaw points and the forehead outline, each eye is the almond through its six points, the lips are the
curves through the outer and inner lip points, the nose base runs through points 31-35 and the brows are
bands whose upper edge passes along the brow points. So the labels sit on the drawn features by
construction. Curves are uniform Catmull-Rom splines, which pass through their control points.

OpenCV's polygon filling (LINE_AA and LINE_8) pushes every edge about 0.69 px outward; filled polygons
that carry labels on their edge are inset by that amount first (`_inset`), so the drawn edge (the 50 %
coverage line) passes through the labels to within ~0.05 px.

Randomness: none here. Textures and noise come from banks built once per process and size from fixed
seeds; which crop a face uses is part of its parameters.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from lab.data.synthetic_geometry import BODY_NECK, BODY_TORSO, NORMAL_AXES, PARTS, Projection

_SHIFT = 4                 # sub-pixel bits for cv2 drawing
_ONE = float(1 << _SHIFT)
_AA = cv2.LINE_AA
_CV_INSET = 0.69           # px: OpenCV's outward bias of filled polygons (measured, see module docstring)
_BANK_SEED = 20240611      # fixed: texture banks are identical in every process
_NUM_BACKGROUNDS = 24
SHADE_ONE = 200.0          # value of 1.0 in the uint8 feature-shading map (room for highlights)


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
@lru_cache(maxsize=None)
def _spline_matrix(n: int, per_seg: int, closed: bool) -> np.ndarray:
    """(M, n) uniform Catmull-Rom samples through n control points (passes through every control point)."""
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


def curve(points: np.ndarray, per_seg: int = 4, closed: bool = False) -> np.ndarray:
    """(M, 2) smooth curve through the (n, 2) control points."""
    return _spline_matrix(len(points), per_seg, closed) @ points


def _inset(poly: np.ndarray, d: float = _CV_INSET) -> np.ndarray:
    """(M, 2) closed polygon moved `d` px inward along its vertex normals (compensates cv2's fill bias)."""
    nxt = np.roll(poly, -1, 0)
    prv = np.roll(poly, 1, 0)
    tang = nxt - prv
    area2 = np.sum(poly[:, 0] * nxt[:, 1] - nxt[:, 0] * poly[:, 1])
    normal = np.stack([tang[:, 1], -tang[:, 0]], 1) * (1.0 if area2 > 0 else -1.0)
    length = np.linalg.norm(normal, axis=1, keepdims=True)
    return poly - d * normal / np.maximum(length, 1e-9)


def _cv(points: np.ndarray) -> np.ndarray:
    return np.round(points * _ONE).astype(np.int32)


def _fill(img: np.ndarray, poly: np.ndarray, colour, exact: bool = False) -> None:
    cv2.fillPoly(img, [_cv(_inset(poly) if exact else poly)], colour, _AA, _SHIFT)


def _line(img: np.ndarray, pts: np.ndarray, colour, thickness: int = 1, closed: bool = False) -> None:
    cv2.polylines(img, [_cv(pts)], closed, colour, max(1, int(thickness)), _AA, _SHIFT)


def _hull(img: np.ndarray, pts: np.ndarray, colour) -> None:
    cv2.fillConvexPoly(img, cv2.convexHull(_cv(pts)), colour, _AA, _SHIFT)


def _ellipse(img: np.ndarray, centre: np.ndarray, axes: tuple[float, float], angle: float, colour,
             thickness: int = -1) -> None:
    ax = (max(int(round(axes[0] * _ONE)), 1), max(int(round(axes[1] * _ONE)), 1))
    c = (int(round(centre[0] * _ONE)), int(round(centre[1] * _ONE)))
    cv2.ellipse(img, c, ax, angle, 0, 360, colour, thickness, _AA, _SHIFT)


def _col(c, k: float = 1.0) -> tuple[float, float, float]:
    return (min(c[0] * k, 255.0), min(c[1] * k, 255.0), min(c[2] * k, 255.0))


# ----------------------------------------------------------------------------------------------- banks
def _make_background(rng: np.random.Generator, side: int) -> np.ndarray:
    """(side, side, 3) uint8 cluttered scene: smooth colour field, furniture-like blocks, lines, blobs."""
    base = rng.uniform(30, 220, size=(3, 3, 1)) + rng.uniform(-35, 35, size=(3, 3, 3))
    base = base.astype(np.float32)
    img = cv2.resize(base, (side, side), interpolation=cv2.INTER_CUBIC)
    img = np.clip(img, 0, 255).astype(np.uint8)
    grey = rng.uniform(40, 200, size=(6, 1))
    palette = grey + rng.uniform(0.15, 0.6) * (rng.uniform(0, 255, size=(6, 3)) - grey)
    n_items = int(rng.integers(6, 16))
    for _ in range(n_items):
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
            pts = (c + rng.uniform(-1, 1, (5, 2)) * s).astype(np.int32)
            cv2.fillPoly(img, [pts], col, _AA)
    if rng.random() < 0.5:  # stripes / tiles for high-frequency clutter
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
    """_NUM_BACKGROUNDS textures of side 1.5 * size, identical in every process."""
    side = int(round(1.5 * size))
    return tuple(_make_background(np.random.default_rng([_BANK_SEED, size, k]), side)
                 for k in range(_NUM_BACKGROUNDS))


@lru_cache(maxsize=8)
def noise_bank(size: int) -> np.ndarray:
    """(2 * size, 2 * size, 3) float32 standard-normal noise (fixed seed)."""
    return np.random.default_rng([_BANK_SEED, size, 999]).standard_normal((2 * size, 2 * size, 3)).astype(np.float32)


@lru_cache(maxsize=8)
def skin_bank(size: int) -> np.ndarray:
    """(8, size, size) float32 smooth multiplicative skin blotches around 1 (fixed seed)."""
    rng = np.random.default_rng([_BANK_SEED, size, 777])
    out = []
    for _ in range(8):
        low = rng.normal(0, 1, (6, 6)).astype(np.float32)
        fine = rng.normal(0, 1, (size, size)).astype(np.float32)
        field = cv2.resize(low, (size, size), interpolation=cv2.INTER_CUBIC) * 0.035
        field += cv2.GaussianBlur(fine, (0, 0), max(0.6, size / 128.0)) * 0.05
        out.append(1.0 + field)
    return np.stack(out)


@lru_cache(maxsize=1)
def _sphere_normals(grid: int = 48) -> np.ndarray:
    """(grid, grid, 3) unit normals of a sphere seen from the camera (rim normals outside the disc)."""
    u = np.linspace(-1.0, 1.0, grid)
    x, y = np.meshgrid(u, u)
    r2 = x * x + y * y
    z = np.sqrt(np.clip(1.0 - r2, 0.0, None))
    n = np.stack([x, y, z], -1)
    return (n / np.linalg.norm(n, axis=-1, keepdims=True)).astype(np.float32)


@lru_cache(maxsize=8)
def _unit_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    u = np.linspace(-1.0, 1.0, size, dtype=np.float32)
    return u[None, :].repeat(size, 0), u[:, None].repeat(size, 1)


# ------------------------------------------------------------------------------------------- drawing
def _background(app: Appearance, size: int) -> np.ndarray:
    tex = background_bank(size)[app.background % _NUM_BACKGROUNDS]
    free = tex.shape[0] - size
    ox, oy = int(app.background_offset[0] * free), int(app.background_offset[1] * free)
    crop = tex[oy:oy + size, ox:ox + size]
    return np.ascontiguousarray(crop[:, ::-1] if app.background_flip else crop)


def _up_vector(proj: Projection) -> np.ndarray:
    """(2,) image direction of the head's 'up' (-y) axis, unit length."""
    u = -proj.rotation[:2, 1]
    return u / max(float(np.linalg.norm(u)), 1e-9)


def _draw_head(img: np.ndarray, proj: Projection, app: Appearance) -> None:
    """Torso, hair behind the head, neck, skull, ears and the shadow under the jaw (all behind the face)."""
    p = proj.points
    skin = app.skin
    u = proj.scale
    _fill(img, proj.body[BODY_TORSO], _col(app.clothes))
    if app.hair_style == 1:
        _hull(img, np.concatenate([p[PARTS.skull], p[PARTS.hair_long]]), _col(app.hair, 0.8))
    neck = np.concatenate([p[PARTS.neck_top], proj.body[BODY_NECK]])
    _hull(img, neck, _col(skin, 0.5))
    centre = neck.mean(0)
    _hull(img, centre + 0.6 * (neck - centre), _col(skin, 0.62))
    _hull(img, p[PARTS.skull], _col(app.hair) if app.hair_style != 2 else _col(skin, 0.75))
    if app.hair_style != 1:
        for ear, sign in ((PARTS.ear_r, -1.0), (PARTS.ear_l, 1.0)):
            if sign * proj.view[0] > -0.3:  # the ear faces the camera
                pts = p[ear]
                outline = curve(pts, 3, closed=True)
                _fill(img, outline, _col(skin, 0.7))
                _line(img, outline, _col(skin, 0.45), 1, closed=True)
                inner = pts.mean(0) + 0.55 * (pts - pts.mean(0))
                _line(img, curve(inner[1:5], 3), _col(skin, 0.45), max(1, round(u * 0.015)))
    # shadow under the chin and jaw: a band below jaw points 4..12 (the face covers its upper half)
    jaw = curve(p[4:13], 3)
    taper = np.sin(np.linspace(0.0, math.pi, len(jaw)))[:, None]
    _fill(img, np.concatenate([jaw, (jaw - _up_vector(proj) * (0.16 * u) * taper)[::-1]]), _col(skin, 0.32))


def _eye(img: np.ndarray, shade: np.ndarray, p: np.ndarray, idx: range, iris_c: np.ndarray, proj: Projection,
         app: Appearance, up: np.ndarray, skin: tuple) -> None:
    i = list(idx)
    upper = curve(p[[i[0], i[1], i[2], i[3]]])
    lower = curve(p[[i[3], i[4], i[5], i[0]]])
    eye = np.concatenate([upper, lower[1:-1]])
    u = proj.scale
    _fill(img, eye, (225, 218, 210), exact=True)
    # iris: a disc on the eyeball facing the gaze, foreshortened by the pose
    r = 0.062 * u
    n_cam = proj.rotation[:, 2]
    squash = max(abs(float(n_cam[2])), 0.25)
    ang = math.degrees(math.atan2(n_cam[1], n_cam[0])) if abs(n_cam[2]) < 0.999 else 0.0
    _ellipse(img, iris_c[0], (r * squash, r), ang, _col(app.iris))
    _ellipse(img, iris_c[0], (0.45 * r * squash, 0.45 * r), ang, (20, 18, 18))
    if u > 40:
        hl = iris_c[0] + np.array([0.3 * r, -0.35 * r])
        _ellipse(img, hl, (0.18 * r, 0.18 * r), 0, (250, 250, 250))
    # lids: skin bands outside the opening clip the iris; then lash line and lower lid line
    h = 1.6 * r
    lid_col = _col(app.eyeshadow) if app.makeup else _col(skin, 0.97)
    _fill(img, np.concatenate([upper, upper[::-1] + up * h]), lid_col, exact=True)
    _fill(img, np.concatenate([lower, lower[::-1] - up * h]), _col(skin), exact=True)
    lash = max(1, round(u * 0.024))
    _line(img, upper, _col(app.hair, 0.35), lash)
    _line(img, lower[1:-1], _col(skin, 0.75), 1)
    # socket shading above the eye and a crease line
    crease = upper + up * (0.9 * r)
    _line(shade, crease[1:-1], SHADE_ONE * 0.8, max(1, round(u * 0.02)))


def _brow(img: np.ndarray, p: np.ndarray, idx: list[int], app: Appearance, up: np.ndarray, unit: float) -> None:
    pts = p[idx]  # lateral -> medial
    th = app.brow_thickness * unit * np.array([0.45, 0.75, 0.95, 1.0, 0.95])[:, None]
    top = curve(pts + 0.15 * th * up, 3)
    bottom = curve(pts - 0.85 * th * up, 3)
    _fill(img, np.concatenate([top, bottom[::-1]]), _col(app.brow))


def _nose(img: np.ndarray, shade: np.ndarray, p: np.ndarray, proj: Projection, app: Appearance, up: np.ndarray,
          light_side: float) -> None:
    u = proj.scale
    skin = app.skin
    fl = p[PARTS.nose_flank]
    base = curve(p[31:36], 3)
    # nose side in shadow (the flank facing away from the light) and the shade under the nose
    side = fl[:3] if light_side > 0 else fl[3:]
    ala = 31 if light_side > 0 else 35
    _fill(shade, np.concatenate([p[[27, 28, 29, 30]], p[[ala]], side[::-1]]), SHADE_ONE * 0.82)
    _fill(shade, np.concatenate([base, base[::-1] - up * (0.06 * u)]), SHADE_ONE * 0.78)
    _ellipse(shade, p[30] + up * (0.03 * u), (0.035 * u, 0.03 * u), 0, SHADE_ONE * 1.12)
    # nostrils and alar creases
    for a, b, c in ((31, 32, 33), (35, 34, 33)):
        centre = 0.55 * p[b] + 0.25 * p[a] + 0.2 * p[c] + up * (0.012 * u)
        _ellipse(img, centre, (0.034 * u, 0.017 * u), math.degrees(math.atan2(p[c][1] - p[a][1], p[c][0] - p[a][0])),
                 _col(skin, 0.42))
    for a, f in ((31, 2), (35, 5)):
        _line(img, curve(np.stack([p[a], fl[f], fl[f - 1]]), 3), _col(skin, 0.72), 1)
    _line(img, base, _col(skin, 0.62), max(1, round(u * 0.012)))


def _mouth(img: np.ndarray, shade: np.ndarray, p: np.ndarray, app: Appearance, up: np.ndarray, unit: float) -> None:
    outer_top = curve(p[48:55])
    outer_bottom = curve(p[[54, 55, 56, 57, 58, 59, 48]])
    inner_top = curve(p[60:65], 3)
    inner_bottom = curve(p[[64, 65, 66, 67, 60]], 3)
    _fill(img, np.concatenate([inner_top, inner_bottom[1:-1]]), (70, 25, 30))
    gap = float(np.mean(np.linalg.norm(p[[61, 62, 63]] - p[[67, 66, 65]], axis=1)))
    if gap > 0.03 * unit:
        teeth = min(gap * 0.45, 0.06 * unit)
        _fill(img, np.concatenate([inner_top, inner_top[::-1] - up * teeth]), (228, 222, 205))
    lips = _col(app.lips)
    _fill(img, np.concatenate([outer_top, inner_top[::-1]]), _col(app.lips, 0.88), exact=True)
    _fill(img, np.concatenate([outer_bottom, inner_bottom]), lips, exact=True)
    _line(img, inner_top, _col(app.lips, 0.5), 1)
    # soft shadow below the lower lip, highlight on it
    _fill(shade, np.concatenate([outer_bottom[1:-1], outer_bottom[-2:0:-1] - up * (0.05 * unit)]), SHADE_ONE * 0.85)
    mid = 0.5 * (p[57] + p[66])
    _ellipse(shade, mid, (0.05 * unit, 0.015 * unit), 0, SHADE_ONE * 1.1)


def _face_layer(proj: Projection, app: Appearance, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(S, S, 3) uint8 skin with every facial feature, and the (S, S) uint8 feature-shading map."""
    p = proj.points
    u = proj.scale
    up = _up_vector(proj)
    tex = skin_bank(size)[app.skin_texture % 8]
    layer = (tex[..., None] * np.asarray(app.skin, np.float32)).clip(0, 255).astype(np.uint8)
    shade = np.full((size, size), SHADE_ONE, np.uint8)
    skin = app.skin
    light_head = proj.rotation.T @ np.asarray(app.light)
    iris = p[PARTS.iris]
    for k, idx in enumerate((range(36, 42), range(42, 48))):
        _eye(layer, shade, p, idx, iris[k:k + 1], proj, app, up, skin)
    _brow(layer, p, [17, 18, 19, 20, 21], app, up, u)
    _brow(layer, p, [26, 25, 24, 23, 22], app, up, u)
    _nose(layer, shade, p, proj, app, up, float(light_head[0]))
    _mouth(layer, shade, p, app, up, u)
    _fringe(layer, proj, app)
    return layer, shade


def face_outline(p: np.ndarray) -> np.ndarray:
    """(M, 2) closed curve through jaw 0..16 and the forehead outline (the drawn face region)."""
    return curve(np.concatenate([p[:17], p[PARTS.forehead]]), 4, closed=True)


def _face_mask(proj: Projection, size: int) -> np.ndarray:
    p = proj.points
    m = np.zeros((size, size), np.uint8)
    _fill(m, face_outline(p), 255, exact=True)
    _hull(m, np.concatenate([p[27:36], p[PARTS.nose_flank]]), 255)
    _fill(m, curve(p[48:60], 3, closed=True), 255, exact=True)
    return m


def _lambert(proj: Projection, app: Appearance, size: int) -> np.ndarray:
    """(S, S) float32 Lambertian shading of the head approximated by an ellipse-warped sphere."""
    n = _sphere_normals()
    g = n.shape[0]
    s = np.maximum(n @ np.asarray(app.light, np.float32), 0.0) * app.diffuse + app.ambient
    c = proj.points[PARTS.centre][0]
    r = proj.rotation
    ax = proj.scale * NORMAL_AXES[0] * 1.05
    ay = proj.scale * NORMAL_AXES[1]
    cr, sr = r[0, 0] / max(math.hypot(r[0, 0], r[1, 0]), 1e-9), r[1, 0] / max(math.hypot(r[0, 0], r[1, 0]), 1e-9)
    k = 2.0 / (g - 1)
    # grid (j, i) -> unit (uu, vv) = (j k - 1, i k - 1) -> image c + ax uu (cr, sr) + ay vv (-sr, cr)
    m = np.array([[ax * cr * k, -ay * sr * k, c[0] - ax * cr + ay * sr],
                  [ax * sr * k, ay * cr * k, c[1] - ax * sr - ay * cr]], np.float32)
    return cv2.warpAffine(s, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _fringe(img: np.ndarray, proj: Projection, app: Appearance) -> None:
    """Hair over the forehead: everything above the hairline (drawn in the face layer, so the face mask clips it)."""
    if app.hair_style == 2:
        return
    line = curve(proj.points[PARTS.hair], 3)
    lift = _up_vector(proj) * (1.5 * proj.scale)
    _fill(img, np.concatenate([line, line[::-1] + lift]), _col(app.hair))
    _line(img, line, _col(app.hair, 0.8), max(1, round(proj.scale * 0.02)))


def _glasses(img: np.ndarray, occ: np.ndarray, proj: Projection, g: Glasses) -> None:
    p = proj.points
    th = max(1, round(g.thickness * proj.scale))
    col = _col(g.frame)
    lr, ll = p[PARTS.lens_r], p[PARTS.lens_l]
    for lens in (lr, ll):
        rim = curve(lens, 2, closed=True)
        if g.sun:
            _fill(img, rim, (25, 25, 30))
            _fill(occ, rim, 255)
        _line(img, rim, col, th, closed=True)
    n = len(lr)
    _line(img, np.stack([lr[0], p[27] + _up_vector(proj) * 0.02 * proj.scale, ll[n // 2]]), col, th)
    t = p[PARTS.temple]
    if proj.view[0] > -0.35:  # right arm visible
        _line(img, np.stack([lr[n // 2], t[0], t[1]]), col, th)
    if proj.view[0] < 0.35:
        _line(img, np.stack([ll[0], t[2], t[3]]), col, th)


def _hand(img: np.ndarray, occ: np.ndarray, c: np.ndarray, s: float, ang: float, col) -> None:
    """A palm with four fingers pointing along `ang` (degrees), extent about s px."""
    a = math.radians(ang)
    d = np.array([math.cos(a), math.sin(a)])
    n = np.array([-d[1], d[0]])
    dark = _col(col, 0.7)
    lw = max(1, int(round(0.16 * s)))
    for target in (img, occ):
        colour = col if target is img else 255
        _ellipse(target, c, (0.34 * s, 0.3 * s), ang, colour)
        for k, (off, ln) in enumerate(((-0.21, 0.55), (-0.07, 0.65), (0.07, 0.62), (0.21, 0.5))):
            base = c + n * off * s * 1.2 + d * 0.15 * s
            tip = base + d * ln * s
            cv2.line(target, tuple(_cv(base)), tuple(_cv(tip)), colour, lw, _AA, _SHIFT)
        thumb0 = c - n * 0.28 * s
        cv2.line(target, tuple(_cv(thumb0)), tuple(_cv(thumb0 - n * 0.25 * s + d * 0.3 * s)), colour, lw, _AA, _SHIFT)
    for k, off in enumerate((-0.14, 0.0, 0.14)):
        base = c + n * off * s * 1.2 + d * 0.15 * s
        _line(img, np.stack([base, base + d * 0.5 * s]), dark, 1)


def _occluders(img: np.ndarray, occ: np.ndarray, proj: Projection, occluders: tuple[Occluder, ...], size: int) -> None:
    p = proj.points
    iod = float(np.linalg.norm(p[45] - p[36])) + 1e-6
    for o in occluders:
        c = p[o.anchor] + np.asarray(o.offset) * iod
        s = o.size * iod
        a = math.radians(o.angle)
        d = np.array([math.cos(a), math.sin(a)])
        n = np.array([-d[1], d[0]])
        if o.kind == "hand":
            _hand(img, occ, c, s, o.angle, _col(o.colour))
        elif o.kind == "bar":
            lw = max(2, int(round(0.3 * s)))
            a0, a1 = c - d * 3 * iod, c + d * 3 * iod
            for target, colour in ((img, _col(o.colour)), (occ, 255)):
                cv2.line(target, tuple(_cv(a0)), tuple(_cv(a1)), colour, lw, _AA, _SHIFT)
            _line(img, np.stack([a0 - n * lw * 0.3, a1 - n * lw * 0.3]), _col(o.colour, 1.25), max(1, lw // 4))
        elif o.kind == "mask":
            # a surgical-mask-like band over the nose tip, mouth and chin
            top = np.stack([p[1], p[29] * 0.6 + p[30] * 0.4, p[15]])
            poly = np.concatenate([curve(top, 3), curve(p[[15, 13, 11, 9, 8, 7, 5, 3, 1]], 2)])
            for target, colour in ((img, _col(o.colour)), (occ, 255)):
                _fill(target, poly, colour)
            for k in (0.3, 0.55, 0.8):
                fold = top * (1 - k) + np.stack([p[3], p[57] + (p[8] - p[57]) * 0.3, p[13]]) * k
                _line(img, curve(fold, 3), _col(o.colour, 0.82), 1)
        else:  # object: a textured rounded box (cup, phone, book)
            corners = np.array([[-1, -0.6], [1, -0.6], [1, 0.6], [-1, 0.6]]) * 0.5 * s
            poly = c + corners[:, :1] * d + corners[:, 1:] * n
            mask = np.zeros((size, size), np.uint8)
            _fill(mask, poly, 255)
            tex = background_bank(size)[o.texture % _NUM_BACKGROUNDS][:size, :size]
            tinted = (tex.astype(np.float32) * 0.5 + np.asarray(o.colour, np.float32) * 0.5).astype(np.uint8)
            alpha = mask.astype(np.float32)[..., None] / 255.0
            img[:] = (img * (1 - alpha) + tinted * alpha).astype(np.uint8)
            np.maximum(occ, mask, out=occ)
            _line(img, poly, _col(o.colour, 0.5), 1, closed=True)


def _photometric(img: np.ndarray, d: Degradation, size: int) -> np.ndarray:
    k = size / 128.0
    if d.blur * k > 0.3:
        img = cv2.GaussianBlur(img, (0, 0), d.blur * k)
    if d.motion * k >= 1.5:
        ln = int(round(d.motion * k)) | 1
        ker = np.zeros((ln, ln), np.float32)
        a = math.radians(d.motion_angle)
        h = (ln - 1) / 2.0
        cv2.line(ker, (int(round(h - h * math.cos(a))), int(round(h - h * math.sin(a)))),
                 (int(round(h + h * math.cos(a))), int(round(h + h * math.sin(a)))), 1.0, 1)
        img = cv2.filter2D(img, -1, ker / max(float(ker.sum()), 1e-6))
    x, y = _unit_grid(size)
    a = math.radians(d.gradient_angle)
    light = d.gain * (1.0 + d.gradient * (math.cos(a) * x + math.sin(a) * y))
    gain = np.asarray(d.cast, np.float32) * d.contrast
    out = img.astype(np.float32) * light[..., None] * gain + (1.0 - d.contrast) * 118.0
    if d.noise > 0:
        bank = noise_bank(size)
        ox, oy = d.noise_offset[0] % size, d.noise_offset[1] % size
        out += bank[oy:oy + size, ox:ox + size] * d.noise
    img = np.clip(out, 0, 255).astype(np.uint8)
    if d.jpeg > 0:
        ok, buf = cv2.imencode(".jpg", img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(d.jpeg)])
        img = np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1])
    return img


def render(proj: Projection, app: Appearance, glasses: Glasses | None, occluders: tuple[Occluder, ...],
           degradation: Degradation, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw one face. Returns the (S, S, 3) uint8 RGB image and (68,) bool 'covered by an occluder'."""
    canvas = _background(app, size)
    _draw_head(canvas, proj, app)
    layer, fshade = _face_layer(proj, app, size)
    fshade = cv2.GaussianBlur(fshade, (0, 0), max(0.5, proj.scale * 0.012))
    shade = _lambert(proj, app, size) * (fshade.astype(np.float32) * (1.0 / SHADE_ONE))
    mask = _face_mask(proj, size).astype(np.float32) * (1.0 / 255.0)
    base = canvas.astype(np.float32)
    face = layer.astype(np.float32) * shade[..., None]
    comp = base + mask[..., None] * (face - base)
    img = np.clip(comp, 0, 255).astype(np.uint8)
    occ = np.zeros((size, size), np.uint8)
    if glasses is not None:
        _glasses(img, occ, proj, glasses)
    _occluders(img, occ, proj, occluders, size)
    lm = np.clip(np.round(proj.points[:68]).astype(np.int64), 0, size - 1)
    covered = occ[lm[:, 1], lm[:, 0]] > 127
    return _photometric(img, degradation, size), covered
