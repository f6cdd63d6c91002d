"""What covers the synthetic faces: glasses (frames, dark lenses) and occluders (hands, objects, bars, masks).

Each is drawn on both layers (face and background) and into the occlusion map that flags covered landmarks.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from lab.data.synthetic.banks import NUM_BACKGROUNDS, background_bank
from lab.data.synthetic.curves import _AA, _CIRCLE, _SHIFT, _SPAN, _Face, _fx
from lab.data.synthetic.geometry import PARTS
from lab.data.synthetic.params import Glasses, Occluder

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
