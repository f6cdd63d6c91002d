"""Skin and facial features of the synthetic faces: eyes, brows, nose, mouth, fringe, the face mask and the
Lambertian head shading. Each feature is drawn from the projected landmarks (see `curves`)."""
from __future__ import annotations

import math

import cv2
import numpy as np

from lab.data.synthetic.banks import _SPHERE_REACH, _sphere_normals
from lab.data.synthetic.curves import (_AA, _CIRCLE, _CV_INSET, _ONE, _SHADE_ONE, _SHIFT, _SPAN, _Face, _fx, _hull,
                                       spline_matrix)
from lab.data.synthetic.geometry import NORMAL_AXES, PARTS
from lab.data.synthetic.params import Appearance
from lab.data.synthetic.pose import Projection

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

