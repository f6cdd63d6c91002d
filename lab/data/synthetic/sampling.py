"""Drawing the parameters of one synthetic face from a random generator, with per-split difficulty ranges."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lab.data.synthetic.params import Appearance, Degradation, FaceParams, Glasses, Occluder
from lab.data.synthetic.shape import IDENTITY_NAMES, NUM_POINTS

SKIN = np.array([(250, 221, 195), (240, 196, 168), (226, 176, 140), (205, 145, 110), (176, 118, 86),
                 (140, 92, 66), (105, 68, 50), (80, 52, 40), (232, 188, 150), (214, 164, 122)], np.float64)
HAIR = np.array([(28, 24, 22), (52, 36, 28), (92, 62, 40), (140, 100, 64), (200, 166, 108), (150, 68, 38),
                 (165, 160, 155), (215, 210, 205)], np.float64)
IRIS = np.array([(88, 56, 32), (50, 34, 24), (78, 118, 158), (86, 118, 72), (118, 92, 52), (108, 118, 124)],
                np.float64)
MASKS = np.array([(168, 198, 224), (232, 234, 236), (42, 42, 48), (120, 150, 190), (200, 205, 210)], np.float64)
FRAMES = np.array([(20, 20, 20), (60, 40, 25), (150, 150, 160), (120, 30, 30), (30, 40, 90)], np.float64)
OCCLUDER_KINDS = ("hand", "object", "bar", "mask")


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

