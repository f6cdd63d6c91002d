"""SyntheticFaces: the splits of procedural faces, face i = f(seed, split, i); smooth sequences for jitter."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from lab.data.record import FaceRecord, box_from_points
from lab.data.synthetic.geometry import NUM_POINTS, SCHEME
from lab.data.synthetic.label_noise import LabelNoise, apply_label_noise, as_label_noise
from lab.data.synthetic.params import Degradation, FaceParams
from lab.data.synthetic.pose import frontal_scale, project
from lab.data.synthetic.render import render
from lab.data.synthetic.sampling import sample_params
from lab.data.synthetic.shape import IDENTITY_NAMES, build_shape

SPLITS: dict[str, int] = {"train": 0, "val": 1, "common": 2, "challenge": 3, "unlabeled": 4}
_SEQUENCE_ID = 5
_NOISE_STREAM = 1
_EPOCH_STREAM = 2  # fresh faces: the stream of face i in epoch e > 0 is (seed, split, i, [noise,] 2, e)
ATTRIBUTES = ("pose", "expression", "illumination", "make_up", "occlusion", "blur")
_DEPTH = IDENTITY_NAMES.index("depth")
_WIDTH = IDENTITY_NAMES.index("face_width")


def attributes(params: FaceParams, occluded: np.ndarray) -> dict[str, int]:
    """WFLW-style 0/1 flags of a face (thresholds documented inline)."""
    app, deg = params.appearance, params.degradation
    mouth, smile, brow = params.expression
    lateral_light = abs(app.light[0]) > 0.7 and app.ambient < 0.35
    return {
        "pose": int(abs(params.yaw) > 40 or abs(params.pitch) > 25 or abs(params.roll) > 30),
        "expression": int(mouth > 0.6 or abs(smile) > 0.85 or abs(brow) > 0.85 or max(params.eye_close) > 0.6),
        "illumination": int(lateral_light or not 0.6 <= deg.gain <= 1.4 or deg.gradient > 0.35 or deg.contrast < 0.65),
        "make_up": int(app.makeup),
        "occlusion": int(bool(np.any(occluded))),
        "blur": int(deg.blur > 1.2 or deg.motion >= 3.0),
    }


def render_face(params: FaceParams, size: int = 128) -> FaceRecord:
    """Draw one face at size x size pixels. Exact labels; visible=False for self-occluded or covered points."""
    if int(size) != size or size < 16:
        raise ValueError(f"size must be an integer >= 16 pixels, got {size!r}")
    size = int(size)
    shape = build_shape(params.identity, params.expression, params.eye_close, params.jitter, params.gaze)
    proj = project(shape, params.yaw, params.pitch, params.roll, size, params.fill, params.shift,
                   params.camera_distance, None if params.scale is None else params.scale * size,
                   depth_scale=1.0 + 0.07 * float(params.identity[_DEPTH]),
                   width_scale=1.0 + 0.06 * float(params.identity[_WIDTH]))
    image, covered = render(proj, params.appearance, params.glasses, params.occluders, params.degradation, size)
    points = proj.points[:NUM_POINTS].copy()
    return FaceRecord(image=image, points=points, visible=proj.visible & ~covered, box=box_from_points(points),
                      attributes=attributes(params, covered), source="synthetic")


# ------------------------------------------------------------------------------------------ data set
@dataclass
class SyntheticFaces:
    """A split of n synthetic faces at size x size pixels. Face i = f(seed, split, i) in every process.

    label_noise: None, LabelNoise, or (kind, sigma_px) with kind "isotropic" | "tangential"; "train" only.
    """

    split: str = "train"
    n: int = 1000
    size: int = 128
    seed: int = 0
    label_noise: LabelNoise | tuple[str, float] | dict | None = None
    fresh: bool = False  # new faces every epoch: set_epoch(e) makes face i = f(seed, split, i, e) for e > 0
    epoch: int = 0
    _noise: LabelNoise | None = field(init=False, repr=False, default=None)

    def __post_init__(self):
        if self.split not in SPLITS:
            raise ValueError(f"split {self.split!r} is unknown; valid: {list(SPLITS)}")
        if int(self.n) != self.n or self.n < 0:
            raise ValueError(f"n must be a non-negative integer, got {self.n!r}")
        if int(self.seed) != self.seed or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        if int(self.size) != self.size or self.size < 16:
            raise ValueError(f"size must be an integer >= 16 pixels, got {self.size!r}")
        self.n, self.seed, self.size = int(self.n), int(self.seed), int(self.size)
        self._noise = as_label_noise(self.label_noise)
        if self._noise is not None and self.split != "train":
            raise ValueError(f"label_noise applies to the 'train' split only (test labels stay exact), "
                             f"got split {self.split!r}")

    def __len__(self) -> int:
        return self.n

    def _index(self, i: int) -> int:
        if not -self.n <= i < self.n:
            raise IndexError(f"face index {i} out of range for a split of {self.n}")
        return int(i) % self.n

    def set_epoch(self, epoch: int) -> None:
        """With `fresh`, draw another set of faces for this epoch (epoch 0 is the fixed set); else a no-op."""
        if self.fresh:
            self.epoch = int(epoch)

    def _stream(self, i: int, *extra: int) -> np.random.Generator:
        key = [self.seed, SPLITS[self.split], i, *extra]
        return np.random.default_rng(key + [_EPOCH_STREAM, self.epoch] if self.epoch else key)

    def params(self, i: int) -> FaceParams:
        """The parameters of face i (pose: .yaw .pitch .roll in degrees)."""
        i = self._index(i)
        return sample_params(self._stream(i), self.split)

    def __getitem__(self, i: int) -> FaceRecord:
        i = self._index(i)
        rec = render_face(self.params(i), self.size)
        rec.source = f"synthetic:{self.split}:seed={self.seed}:{i}" + (f":epoch={self.epoch}" if self.epoch else "")
        if self._noise is not None and self._noise.sigma > 0:
            rng = self._stream(i, _NOISE_STREAM)
            rec.points = apply_label_noise(rec.points, self._noise, rng, SCHEME)
        return rec

    def __iter__(self):
        return (self[i] for i in range(self.n))


def sequence(seed: int, T: int, size: int = 128) -> list[FaceRecord]:
    """T frames of one face turning and moving smoothly (exact labels), for the temporal-jitter metric.

    One identity, appearance and background; yaw, pitch, roll, position and mouth opening follow sums of
    low-frequency sinusoids (0.5-1.5 cycles per 60 frames, whatever T is, so the motion per frame stays small);
    no occluders; mild sensor noise that changes per frame.
    """
    if int(T) != T or T < 1:
        raise ValueError(f"T must be a positive integer number of frames, got {T!r}")
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    rng = np.random.default_rng([int(seed), _SEQUENCE_ID, 0])
    base = sample_params(rng, "common")
    amp = np.array([rng.uniform(15, 40), rng.uniform(5, 15), rng.uniform(4, 12), rng.uniform(0.02, 0.06),
                    rng.uniform(0.02, 0.05), rng.uniform(0.0, 0.4)])
    freq = rng.uniform(0.5, 1.5, size=6) / 60.0  # cycles per frame
    phase = rng.uniform(0, 2 * math.pi, size=6)
    scale = frontal_scale(128, 0.6) / 128.0  # fixed, so the face does not zoom as it turns
    frames = []
    for t in range(int(T)):
        s = np.sin(2 * math.pi * freq * t + phase) * amp
        p = FaceParams(
            identity=base.identity, jitter=base.jitter,
            expression=np.array([0.5 * (amp[5] + s[5]), base.expression[1] * 0.5, base.expression[2] * 0.5]),
            eye_close=(0.0, 0.0), gaze=base.gaze, yaw=float(s[0]), pitch=float(s[1]), roll=float(s[2]),
            fill=0.6, shift=(float(s[3]), float(s[4]) - 0.2 * scale), camera_distance=base.camera_distance,
            appearance=base.appearance, glasses=base.glasses if base.glasses and not base.glasses.sun else None,
            occluders=(), degradation=Degradation(blur=0.4, noise=2.0, noise_offset=(97 * t, 31 * t)),
            scale=scale,
        )
        rec = render_face(p, size)
        rec.source = f"synthetic:sequence:seed={seed}:{t}"
        frames.append(rec)
    return frames
