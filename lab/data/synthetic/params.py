"""The parameters that determine one synthetic face: shape, expression and pose (FaceParams), appearance,
glasses, occluders and photometric degradations. Rendering is a pure function of them and the image size.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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


@dataclass(frozen=True, eq=False)
class FaceParams:
    """Everything that determines one synthetic face (render_face is a pure function of it and the size).

    identity: (len(IDENTITY_NAMES),) shape coefficients ~ N(0, 1); jitter: (68, 3) per-point asymmetry.
    expression: (3,) mouth_open [0, 1], smile [-0.5, 1], brow_raise [-1, 1]; eye_close: (right, left) [0, 1].
    gaze: eye rotation (tangents). yaw, pitch, roll: degrees (signs in `pose`).
    fill: landmark-box side / image side; shift: box centre offset / image side.
    scale: fixed pixels per head unit / image side (sequences) or None to fit `fill`.
    """

    identity: np.ndarray
    jitter: np.ndarray
    expression: np.ndarray
    eye_close: tuple[float, float]
    gaze: tuple[float, float]
    yaw: float
    pitch: float
    roll: float
    fill: float
    shift: tuple[float, float]
    camera_distance: float
    appearance: Appearance
    glasses: Glasses | None
    occluders: tuple[Occluder, ...]
    degradation: Degradation
    scale: float | None = None

    @property
    def pose(self) -> tuple[float, float, float]:
        return (self.yaw, self.pitch, self.roll)

