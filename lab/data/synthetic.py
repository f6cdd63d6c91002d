"""Procedural faces with exact 68-point ground truth: the lab's embedded default data set.

    faces = SyntheticFaces("challenge", n=600, size=128, seed=0)
    rec = faces[3]               # FaceRecord: image (128, 128, 3) uint8 RGB, points (68, 2), visible, box
    faces.params(3).yaw          # pose and everything else that drew face 3

Face i of a split is a pure function of (seed, split, i): its parameters come from
`numpy.random.default_rng([seed, split_id, i])`, rendering uses no randomness of its own, and textures come
from banks built from fixed seeds. So every process (DataLoader workers included) sees the same faces.

Splits mirror 300W: "common" (mild pose, no occluders, light degradations), "challenge" (large pose,
occluders, sunglasses, heavy blur/noise/JPEG, harsh light), "train" and "val" (a mixture covering both),
"unlabeled" (drawn like train; its labels are not meant to be used: the pool for the adversarial branch).
Label noise (isotropic or tangential, in pixels) can be added to the "train" split only; the images and
boxes do not change with it (boxes come from the exact points). Every record carries WFLW-style 0/1
attributes: pose, expression, illumination, make_up, occlusion, blur.

Geometry lives in `synthetic_geometry` (template, pose, contour marching), drawing in `synthetic_render`,
label noise in `label_noise`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from lab.data.label_noise import LabelNoise, apply_label_noise, as_label_noise
from lab.data.record import FaceRecord, box_from_points
from lab.data.synthetic_geometry import IDENTITY_NAMES, NUM_POINTS, SCHEME, build_shape, frontal_scale, project
from lab.data.synthetic_render import Appearance, Degradation, Glasses, Occluder, render

SPLITS: dict[str, int] = {"train": 0, "val": 1, "common": 2, "challenge": 3, "unlabeled": 4}
_SEQUENCE_ID = 5
_NOISE_STREAM = 1
_EPOCH_STREAM = 2  # fresh faces: the stream of face i in epoch e > 0 is (seed, split, i, [noise,] 2, e)
ATTRIBUTES = ("pose", "expression", "illumination", "make_up", "occlusion", "blur")
_DEPTH = IDENTITY_NAMES.index("depth")
_WIDTH = IDENTITY_NAMES.index("face_width")

SKIN = np.array([(250, 221, 195), (240, 196, 168), (226, 176, 140), (205, 145, 110), (176, 118, 86),
                 (140, 92, 66), (105, 68, 50), (80, 52, 40), (232, 188, 150), (214, 164, 122)], np.float64)
HAIR = np.array([(28, 24, 22), (52, 36, 28), (92, 62, 40), (140, 100, 64), (200, 166, 108), (150, 68, 38),
                 (165, 160, 155), (215, 210, 205)], np.float64)
IRIS = np.array([(88, 56, 32), (50, 34, 24), (78, 118, 158), (86, 118, 72), (118, 92, 52), (108, 118, 124)],
                np.float64)
MASKS = np.array([(168, 198, 224), (232, 234, 236), (42, 42, 48), (120, 150, 190), (200, 205, 210)], np.float64)
FRAMES = np.array([(20, 20, 20), (60, 40, 25), (150, 150, 160), (120, 30, 30), (30, 40, 90)], np.float64)
OCCLUDER_KINDS = ("hand", "object", "bar", "mask")


# -------------------------------------------------------------------------------------- parameters
@dataclass(frozen=True, eq=False)
class FaceParams:
    """Everything that determines one synthetic face (render_face is a pure function of it and the size).

    identity: (len(IDENTITY_NAMES),) shape coefficients ~ N(0, 1); jitter: (68, 3) per-point asymmetry.
    expression: (3,) mouth_open [0, 1], smile [-0.5, 1], brow_raise [-1, 1]; eye_close: (right, left) [0, 1].
    gaze: eye rotation (tangents). yaw, pitch, roll: degrees (see synthetic_geometry for signs).
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


@dataclass(frozen=True)
class Difficulty:
    """Sampling ranges of one split. Angles in degrees; a value is max * u**power with u ~ U(0, 1)."""

    yaw: float = 72.0
    yaw_power: float = 1.8
    yaw_hard: float = 0.0            # probability of |yaw| ~ U(35, yaw) instead
    pitch: float = 35.0
    pitch_power: float = 2.0
    roll: float = 40.0
    roll_power: float = 2.2
    expression: float = 1.0          # scales expression amplitudes
    occluder: float = 0.3            # probability of at least one occluder
    glasses: float = 0.2
    sunglasses: float = 0.25         # fraction of glasses that are dark
    blur: float = 0.3                # probability of a noticeable blur
    blur_max: float = 2.5            # sigma, pixels at 128 px
    noise_max: float = 10.0
    jpeg: float = 0.3
    jpeg_quality: tuple[int, int] = (12, 80)
    harsh_light: float = 0.25
    low_contrast: float = 0.2
    fill: tuple[float, float] = (0.55, 0.75)


DIFFICULTIES: dict[str, Difficulty] = {
    "train": Difficulty(),
    "common": Difficulty(yaw=30.0, yaw_power=1.3, pitch=15.0, roll=15.0, roll_power=1.5, expression=0.7,
                         occluder=0.0, glasses=0.15, sunglasses=0.0, blur=0.1, blur_max=0.9, noise_max=4.0,
                         jpeg=0.15, jpeg_quality=(60, 90), harsh_light=0.0, low_contrast=0.0, fill=(0.6, 0.75)),
    "challenge": Difficulty(yaw=72.0, yaw_power=1.0, yaw_hard=0.7, pitch=35.0, pitch_power=1.0, roll=40.0,
                            roll_power=1.0, expression=1.3, occluder=0.75, glasses=0.3, sunglasses=0.5, blur=0.5,
                            blur_max=2.2, noise_max=12.0, jpeg=0.5, jpeg_quality=(10, 40), harsh_light=0.5,
                            low_contrast=0.3, fill=(0.55, 0.72)),
}
_SPLIT_DIFFICULTY = {"train": "train", "val": "train", "unlabeled": "train", "common": "common",
                     "challenge": "challenge"}


class _Draws:
    """Pre-drawn uniforms consumed in order: one generator call per face instead of ~80 (speed).

    The stream is long enough for any face; what a face uses never depends on other faces.
    """

    def __init__(self, rng: np.random.Generator, n: int = 192):
        self._u = rng.random(n).tolist()
        self._k = 0

    def uniform(self, lo: float = 0.0, hi: float = 1.0) -> float:
        self._k += 1
        return lo + (hi - lo) * self._u[self._k - 1]

    def chance(self, p: float) -> bool:
        return self.uniform() < p

    def index(self, n: int) -> int:
        return min(int(self.uniform() * n), n - 1)

    def sign(self) -> float:
        return 1.0 if self.uniform() < 0.5 else -1.0

    def signed(self, limit: float, power: float) -> float:
        return limit * self.uniform() ** power * self.sign()

    def weighted(self, weights: tuple[float, ...]) -> int:
        u, acc = self.uniform() * sum(weights), 0.0
        for i, w in enumerate(weights):
            acc += w
            if u < acc:
                return i
        return len(weights) - 1

    def colour(self, palette: np.ndarray, spread: float) -> tuple[float, float, float]:
        c = palette[self.index(len(palette))]
        return tuple(min(255.0, float(v) * self.uniform(1 - spread, 1 + spread)) for v in c)

    def rgb(self, lo: float = 20.0, hi: float = 235.0) -> tuple[float, float, float]:
        return (self.uniform(lo, hi), self.uniform(lo, hi), self.uniform(lo, hi))


def _sample_appearance(r: _Draws, d: Difficulty) -> Appearance:
    skin = r.colour(SKIN, 0.05)
    hair = r.colour(HAIR, 0.08)
    if r.chance(d.harsh_light):  # strong side or top light, little ambient
        az, el = r.uniform(55, 85) * r.sign(), r.uniform(-40, 30)
        ambient, diffuse = r.uniform(0.2, 0.32), r.uniform(0.85, 1.1)
    else:
        az, el = r.uniform(-50, 50), r.uniform(-45, 15)
        ambient, diffuse = r.uniform(0.3, 0.45), r.uniform(0.6, 0.8)
    a, e = math.radians(az), math.radians(el)
    makeup = r.chance(0.15)
    k = r.uniform(0.7, 1.1) if makeup else r.uniform(0.9, 1.05)
    lips = (185.0 * k, 45.0 * k, 70.0 * k) if makeup else (skin[0] * 0.92 * k, skin[1] * 0.62 * k, skin[2] * 0.62 * k)
    b = r.uniform(0.55, 0.9)
    return Appearance(
        skin=skin, hair=hair, hair_style=r.weighted((0.5, 0.38, 0.12)), iris=r.colour(IRIS, 0.06),
        lips=tuple(min(255.0, v) for v in lips), brow=(hair[0] * b, hair[1] * b, hair[2] * b),
        brow_thickness=r.uniform(0.045, 0.085), clothes=r.rgb(),
        background=r.index(1 << 16), background_offset=(r.uniform(), r.uniform()), background_flip=r.chance(0.5),
        light=(math.sin(a) * math.cos(e), math.sin(e), math.cos(a) * math.cos(e)), ambient=ambient,
        diffuse=diffuse, makeup=makeup, eyeshadow=r.rgb(60, 200), skin_texture=r.index(8),
    )


_ANCHORS = (30, 57, 8, 36, 45, 4, 12, 19, 24, 48, 54)
_OCCLUDER_WEIGHTS = (0.35, 0.3, 0.2, 0.15)
_OCCLUDER_SIZE = {"hand": (0.8, 1.3), "object": (0.4, 0.9), "bar": (0.2, 0.4), "mask": (1.0, 1.0)}


_OCCLUDER_COLOUR = {"hand": lambda r: r.colour(SKIN, 0.05), "mask": lambda r: r.colour(MASKS, 0.05),
                    "object": lambda r: r.rgb(), "bar": lambda r: r.rgb()}


def _sample_occluders(r: _Draws, d: Difficulty) -> tuple[Occluder, ...]:
    if not r.chance(d.occluder):
        return ()
    out = []
    for _ in range(1 + int(r.chance(0.3))):
        kind = OCCLUDER_KINDS[r.weighted(_OCCLUDER_WEIGHTS)]
        out.append(Occluder(
            kind=kind, anchor=_ANCHORS[r.index(len(_ANCHORS))],
            offset=(r.uniform(-0.4, 0.4), r.uniform(-0.4, 0.4)), size=r.uniform(*_OCCLUDER_SIZE[kind]),
            angle=r.uniform(0, 360), colour=_OCCLUDER_COLOUR[kind](r),
            texture=r.index(1 << 16)))
    return tuple(out)


def _sample_degradation(r: _Draws, d: Difficulty) -> Degradation:
    harsh, low = r.chance(d.harsh_light), r.chance(d.low_contrast)
    return Degradation(
        blur=r.uniform(0.8, d.blur_max) if r.chance(d.blur) else r.uniform(0.0, 0.6),
        motion=r.uniform(3.0, 7.0) if r.chance(0.3 * d.blur) else 0.0, motion_angle=r.uniform(0, 180),
        noise=r.uniform(0.5, d.noise_max),
        jpeg=int(r.uniform(d.jpeg_quality[0], d.jpeg_quality[1] + 1)) if r.chance(d.jpeg) else 0,
        gain=r.uniform(0.55, 1.45) if harsh else r.uniform(0.85, 1.15),
        cast=(r.uniform(0.88, 1.12), r.uniform(0.88, 1.12), r.uniform(0.88, 1.12)),
        gradient=r.uniform(0.2, 0.6) if harsh else r.uniform(0.0, 0.15), gradient_angle=r.uniform(0, 360),
        contrast=r.uniform(0.45, 0.7) if low else r.uniform(0.85, 1.0),
        noise_offset=(r.index(1 << 20), r.index(1 << 20)),
    )


def _difficulty(difficulty: str | Difficulty) -> Difficulty:
    if isinstance(difficulty, Difficulty):
        return difficulty
    key = _SPLIT_DIFFICULTY.get(difficulty, difficulty)
    if key not in DIFFICULTIES:
        raise ValueError(f"difficulty {difficulty!r} is unknown; valid: {sorted(set(_SPLIT_DIFFICULTY))} "
                         f"or a Difficulty")
    return DIFFICULTIES[key]


def sample_params(rng: np.random.Generator, difficulty: str | Difficulty = "train") -> FaceParams:
    """Draw the parameters of one face. difficulty: a split name, a key of DIFFICULTIES, or a Difficulty."""
    d = _difficulty(difficulty)
    normals = rng.standard_normal(len(IDENTITY_NAMES) + 3 * NUM_POINTS)
    r = _Draws(rng)
    identity = np.clip(normals[:len(IDENTITY_NAMES)], -2.5, 2.5)
    jitter = normals[len(IDENTITY_NAMES):].reshape(NUM_POINTS, 3) * 0.006
    k = d.expression
    mouth = r.uniform() ** 2.5 if r.chance(0.85) else r.uniform(0.3, 1.0)
    expression = np.array([min(1.0, k * mouth),
                           min(1.0, max(-0.5, k * (r.uniform() * 1.3 - 0.3))),    # smile
                           min(1.0, max(-1.0, k * (r.uniform() * 1.6 - 0.8)))])   # brow raise / frown
    both = r.uniform(0.6, 1.0) if r.chance(0.1 * k) else r.uniform() ** 3 * 0.3
    eye_close = (both, both) if r.chance(0.8) else (both, r.uniform(0, 0.3))
    gaze = (r.uniform(-0.35, 0.35), r.uniform(-0.2, 0.2))
    yaw = r.uniform(35.0, d.yaw) * r.sign() if r.chance(d.yaw_hard) else r.signed(d.yaw, d.yaw_power)
    pitch, roll = r.signed(d.pitch, d.pitch_power), r.signed(d.roll, d.roll_power)
    fill = r.uniform(*d.fill)
    room = max(0.0, (1.0 - fill) / 2.0 - 0.04)
    shift = (r.uniform(-room, room), r.uniform(-room, room))
    camera_distance = r.uniform(5.0, 20.0)
    appearance = _sample_appearance(r, d)
    glasses = None
    if r.chance(d.glasses):
        glasses = Glasses(sun=r.chance(d.sunglasses), frame=r.colour(FRAMES, 0.1), thickness=r.uniform(0.012, 0.03))
    return FaceParams(
        identity=identity, jitter=jitter, expression=expression, eye_close=eye_close, gaze=gaze,
        yaw=yaw, pitch=pitch, roll=roll, fill=fill, shift=shift, camera_distance=camera_distance,
        appearance=appearance, glasses=glasses, occluders=_sample_occluders(r, d),
        degradation=_sample_degradation(r, d),
    )


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
