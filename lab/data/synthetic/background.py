"""The layer behind the face: a background crop, then torso, neck, skull, hair, ears and the jaw shadow."""
from __future__ import annotations

import math

import cv2
import numpy as np

from lab.data.synthetic.banks import NUM_BACKGROUNDS, background_bank
from lab.data.synthetic.curves import _AA, _SHIFT, _SLICE, _Face, _fx, _hull
from lab.data.synthetic.geometry import BODY_NECK, BODY_TORSO, PARTS, SKULL_CAP
from lab.data.synthetic.params import Appearance

def _background(app: Appearance, size: int) -> np.ndarray:
    tex = background_bank(size)[app.background % NUM_BACKGROUNDS]
    free = tex.shape[0] - size
    ox, oy = int(app.background_offset[0] * free), int(app.background_offset[1] * free)
    crop = tex[oy:oy + size, ox:ox + size]
    return np.ascontiguousarray(crop[:, ::-1] if app.background_flip else crop)


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
