"""Landmark schemes: 68 (300W / iBUG), 98 (WFLW), 29 (COFW), 19 (AFLW).

The one place that knows point names, flip pairs, contour groups and the indices every normaliser uses.
All indices are 0-based. "Left"/"right" in names are the *subject's* left/right, as in the iBUG
annotation guide: in a frontal photo the subject's right eye (68-scheme points 36-41) is on the image left.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Scheme:
    """A landmark scheme.

    name: short name ("300w", "wflw", "cofw", "aflw").
    num_points: K.
    names: K point names.
    flip_pairs: index pairs swapped by a horizontal flip (points not listed map to themselves).
    groups: contour/edge groups, name -> ordered indices along the contour (used for tangents and drawing).
    closed_groups: names of groups whose contour is closed (eyes, lips).
    ocular: (i, j) outer eye corners for the inter-ocular normaliser, or None.
    pupils: (left_indices, right_indices) averaged to give pupil centres, or None.
    box_normalised: True when the benchmark normalises by the face box (AFLW-19).
    """

    name: str
    num_points: int
    names: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...]
    groups: dict[str, tuple[int, ...]]
    closed_groups: frozenset[str] = field(default_factory=frozenset)
    ocular: tuple[int, int] | None = None
    pupils: tuple[tuple[int, ...], tuple[int, ...]] | None = None
    box_normalised: bool = False

    def __post_init__(self):
        if len(self.names) != self.num_points:
            raise ValueError(f"scheme {self.name}: {len(self.names)} names for {self.num_points} points")
        seen = [i for pair in self.flip_pairs for i in pair]
        if len(seen) != len(set(seen)) or not all(0 <= i < self.num_points for i in seen):
            raise ValueError(f"scheme {self.name}: flip pairs repeat or leave the range 0..{self.num_points - 1}")

    @property
    def flip_permutation(self) -> np.ndarray:
        """(K,) int array: the index each point takes after a horizontal flip."""
        perm = np.arange(self.num_points)
        for i, j in self.flip_pairs:
            perm[i], perm[j] = j, i
        return perm

    def group_of(self) -> np.ndarray:
        """(K,) array of group names, one per point."""
        out = np.empty(self.num_points, dtype=object)
        for g, idx in self.groups.items():
            out[list(idx)] = g
        return out


def _mirror_pairs(first: range | list[int], last: range | list[int]) -> list[tuple[int, int]]:
    """Pair the i-th index of `first` with the i-th index of `last` reversed."""
    return list(zip(list(first), list(reversed(list(last)))))


def _scheme_68() -> Scheme:
    names = (
        [f"jaw_{i:02d}" for i in range(17)]
        + [f"right_brow_{i}" for i in range(5)]
        + [f"left_brow_{i}" for i in range(5)]
        + [f"nose_bridge_{i}" for i in range(4)]
        + [f"nose_base_{i}" for i in range(5)]
        + [f"right_eye_{i}" for i in range(6)]
        + [f"left_eye_{i}" for i in range(6)]
        + [f"outer_lip_{i:02d}" for i in range(12)]
        + [f"inner_lip_{i}" for i in range(8)]
    )
    pairs = (
        _mirror_pairs(range(0, 8), range(9, 17))  # jaw 0<->16 ... 7<->9
        + _mirror_pairs(range(17, 22), range(22, 27))  # brows 17<->26 ... 21<->22
        + [(31, 35), (32, 34)]  # nostrils
        + [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]  # eyes
        + [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58)]  # outer lips
        + [(60, 64), (61, 63), (65, 67)]  # inner lips
    )
    groups = {
        "jaw": tuple(range(0, 17)),
        "right_brow": tuple(range(17, 22)),
        "left_brow": tuple(range(22, 27)),
        "nose_bridge": tuple(range(27, 31)),
        "nose_base": tuple(range(31, 36)),
        "right_eye": tuple(range(36, 42)),
        "left_eye": tuple(range(42, 48)),
        "outer_lips": tuple(range(48, 60)),
        "inner_lips": tuple(range(60, 68)),
    }
    return Scheme(
        name="300w", num_points=68, names=tuple(names), flip_pairs=tuple(pairs), groups=groups,
        closed_groups=frozenset({"right_eye", "left_eye", "outer_lips", "inner_lips"}),
        ocular=(36, 45), pupils=(tuple(range(36, 42)), tuple(range(42, 48))),
    )


def _scheme_98() -> Scheme:
    names = (
        [f"jaw_{i:02d}" for i in range(33)]
        + [f"right_brow_{i}" for i in range(9)]
        + [f"left_brow_{i}" for i in range(9)]
        + [f"nose_bridge_{i}" for i in range(4)]
        + [f"nose_base_{i}" for i in range(5)]
        + [f"right_eye_{i}" for i in range(8)]
        + [f"left_eye_{i}" for i in range(8)]
        + [f"outer_lip_{i:02d}" for i in range(12)]
        + [f"inner_lip_{i}" for i in range(8)]
        + ["right_pupil", "left_pupil"]
    )
    pairs = (
        _mirror_pairs(range(0, 16), range(17, 33))
        + [(33, 46), (34, 45), (35, 44), (36, 43), (37, 42), (38, 50), (39, 49), (40, 48), (41, 47)]
        + [(55, 59), (56, 58)]
        + [(60, 72), (61, 71), (62, 70), (63, 69), (64, 68), (65, 75), (66, 74), (67, 73)]
        + [(76, 82), (77, 81), (78, 80), (83, 87), (84, 86), (88, 92), (89, 91), (93, 95), (96, 97)]
    )
    groups = {
        "jaw": tuple(range(0, 33)),
        "right_brow": tuple(range(33, 42)),
        "left_brow": tuple(range(42, 51)),
        "nose_bridge": tuple(range(51, 55)),
        "nose_base": tuple(range(55, 60)),
        "right_eye": tuple(range(60, 68)),
        "left_eye": tuple(range(68, 76)),
        "outer_lips": tuple(range(76, 88)),
        "inner_lips": tuple(range(88, 96)),
        "pupils": (96, 97),
    }
    return Scheme(
        name="wflw", num_points=98, names=tuple(names), flip_pairs=tuple(pairs), groups=groups,
        closed_groups=frozenset({"right_brow", "left_brow", "right_eye", "left_eye", "outer_lips", "inner_lips"}),
        ocular=(60, 72), pupils=((96,), (97,)),
    )


def _scheme_29() -> Scheme:
    # The RCPR/COFW layout: brows 0-7, eyes 8-17 (8/9 outer corners, 16/17 pupils), nose 18-21,
    # mouth 22-27, chin 28. Names follow that layout; groups are the parts, not ordered contours.
    names = (
        "right_brow_outer", "left_brow_outer", "right_brow_inner", "left_brow_inner",
        "right_brow_top", "left_brow_top", "right_brow_bottom", "left_brow_bottom",
        "right_eye_outer", "left_eye_outer", "right_eye_inner", "left_eye_inner",
        "right_eye_top", "left_eye_top", "right_eye_bottom", "left_eye_bottom",
        "right_pupil", "left_pupil",
        "nose_right", "nose_left", "nose_tip", "nose_bottom",
        "mouth_right", "mouth_left", "upper_lip_top", "upper_lip_bottom", "lower_lip_top", "lower_lip_bottom",
        "chin",
    )
    pairs = [(0, 1), (4, 6), (2, 3), (5, 7), (8, 9), (10, 11), (12, 14), (16, 17), (13, 15), (18, 19), (22, 23)]
    # Pairs above are the ones HRNet/LAB use for COFW flips; (4,6)/(5,7) look odd by name but follow the data.
    groups = {
        "brows": tuple(range(0, 8)),
        "eyes": tuple(range(8, 18)),
        "nose": tuple(range(18, 22)),
        "mouth": tuple(range(22, 28)),
        "chin": (28,),
    }
    return Scheme(
        name="cofw", num_points=29, names=names, flip_pairs=tuple(pairs), groups=groups,
        ocular=(8, 9), pupils=((16,), (17,)),
    )


def _scheme_19() -> Scheme:
    names = (
        "right_brow_outer", "right_brow_centre", "right_brow_inner",
        "left_brow_inner", "left_brow_centre", "left_brow_outer",
        "right_eye_outer", "right_eye_centre", "right_eye_inner",
        "left_eye_inner", "left_eye_centre", "left_eye_outer",
        "nose_right", "nose_tip", "nose_left",
        "mouth_right", "mouth_centre", "mouth_left",
        "chin",
    )
    pairs = [(0, 5), (1, 4), (2, 3), (6, 11), (7, 10), (8, 9), (12, 14), (15, 17)]
    groups = {
        "right_brow": (0, 1, 2), "left_brow": (3, 4, 5),
        "right_eye": (6, 7, 8), "left_eye": (9, 10, 11),
        "nose": (12, 13, 14), "mouth": (15, 16, 17), "chin": (18,),
    }
    return Scheme(
        name="aflw", num_points=19, names=names, flip_pairs=tuple(pairs), groups=groups,
        ocular=(6, 11), pupils=((7,), (10,)), box_normalised=True,
    )


SCHEMES: dict[int, Scheme] = {s.num_points: s for s in (_scheme_68(), _scheme_98(), _scheme_29(), _scheme_19())}
SCHEME_NAMES: dict[str, Scheme] = {s.name: s for s in SCHEMES.values()}


def get_scheme(key: int | str) -> Scheme:
    """Scheme by point count (68, 98, 29, 19) or name ("300w", "wflw", "cofw", "aflw")."""
    table = SCHEMES if isinstance(key, (int, np.integer)) else SCHEME_NAMES
    try:
        return table[key]
    except KeyError:
        valid = sorted(SCHEMES) if table is SCHEMES else sorted(SCHEME_NAMES)
        raise KeyError(f"unknown landmark scheme {key!r}; valid: {valid}") from None
