"""Drawing of the synthetic faces with OpenCV, at the target size, from a posed projection.

Every facial feature is drawn FROM the projected landmarks: the face region is the closed curve through the
jaw points and the forehead outline, each eye is the almond through its six points, the lips are the curves
through the outer and inner lip points, the nose base runs through points 31-35 and the brows are bands
whose upper edge runs along the brow points. So the labels sit on the drawn features by construction
(curves and the inset of label-carrying polygons: `curves`).

Layers: background and head (torso, neck, skull, hair, ears, jaw shadow: `background`) on one canvas; the
face (skin and every feature, the fringe: `features`; glasses and occluders: `occluders`) on a second one,
shaded by a Lambertian head model and a blurred map of feature shadows; the face layer is pasted through the
anti-aliased face mask, then global illumination, contrast, blur, noise and JPEG are applied (`degrade`).
Glasses and occluders are drawn on both layers.

Randomness: none here. Textures and noise come from banks built once per process and size from fixed seeds
(`banks`); which crop a face uses is part of its parameters.
"""
from __future__ import annotations

import cv2
import numpy as np

from lab.data.synthetic.background import _background, _draw_head
from lab.data.synthetic.banks import skin_bank
from lab.data.synthetic.curves import _SHADE_ONE, _Face
from lab.data.synthetic.degrade import _finish, gaussian_blur
from lab.data.synthetic.features import _brows, _eyes, _face_mask, _fringe, _lambert, _mouth, _nose
from lab.data.synthetic.occluders import _glasses, _occluders
from lab.data.synthetic.params import Appearance, Degradation, Glasses, Occluder
from lab.data.synthetic.pose import Projection


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
