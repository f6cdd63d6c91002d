"""Shape model of the synthetic faces: identity and expression bases over the head model, eyelids and gaze."""
from __future__ import annotations

import numpy as np

from lab.data.synthetic.geometry import EYE_RADIUS, NUM_POINTS, PARTS, PIVOT, TEMPLATE

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
