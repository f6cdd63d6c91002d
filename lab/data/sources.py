"""Data specs -> splits. "synthetic" is the embedded default; real benchmarks are read from a path the user gives.

Spec strings (the CLI's --data):
  synthetic          procedural faces: train / val / test subsets common and challenge
  300w:PATH          any folder tree of images + .pts (300-W, LFPW, HELEN, AFW, iBUG layouts); boxes from landmarks
  wflw:LIST[:ROOT]   a WFLW annotation list file and the image root (default: the list's folder)
  cofw:MAT           a COFW .mat file (v7.3)
  aflw:LIST[:ROOT]   an AFLW-19 list file (see lab.data.formats)
  A+B+...            real sources joined, e.g. the 300-W training set:
                     300w:/d/300W/lfpw/trainset+300w:/d/300W/helen/trainset+300w:/d/300W/afw
For real data the faces are split into train and val by (split_seed, val_fraction); the test subset is val;
the unlabeled pool (adversarial branch) is drawn from the training faces beyond train_n, labels unused.
A run can instead be evaluated on named test sources (`python -m lab eval RUN --test common=300w:PATH ...`,
the 300-W protocol: common = LFPW test + HELEN test, challenge = iBUG); they are stored in the run's metrics
as "test_data" ({subset: [spec, ...]}) and every later evaluation and the dashboard read the same faces.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from lab.schema import SCHEMES
from lab.data.record import FaceRecord

REAL_KINDS = ("300w", "wflw", "cofw", "aflw")


@dataclass
class Splits:
    """train/val sequences of FaceRecord, named test subsets, an unlabeled pool, and the landmark count."""

    train: Sequence[FaceRecord]
    val: Sequence[FaceRecord]
    tests: dict[str, Sequence[FaceRecord]]
    unlabeled: Sequence[FaceRecord] | None = None
    num_points: int = 68
    notes: dict = field(default_factory=dict)


class Subset(Sequence):
    """A view of a sequence through a list of indices."""

    def __init__(self, base: Sequence, indices: Sequence[int]):
        self.base, self.indices = base, list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        return self.base[self.indices[i]]


def parse_spec(spec: str) -> tuple[str, list[str]]:
    """"300w:/data/300w" -> ("300w", ["/data/300w"]). Unknown kinds list the valid ones."""
    kind, _, rest = spec.partition(":")
    if kind == "synthetic":
        return kind, []
    if kind not in REAL_KINDS:
        raise ValueError(f"unknown data source {spec!r}; valid: synthetic, " + ", ".join(f"{k}:PATH" for k in REAL_KINDS))
    if not rest:
        raise ValueError(f"data source {spec!r} needs a path: {kind}:PATH")
    return kind, rest.split(":")


DATA_ROOT_VAR = "LAB_DATA"
REPO = Path(__file__).resolve().parents[2]


def resolve_data_path(text: str, kind: str = "data") -> Path:
    """A data path from a spec or a run's config: absolute as given; relative, the first that exists of
    $LAB_DATA/path (the data root, when set), ./path (the working directory) and <repository>/path (where the
    committed runs' configs, e.g. "../shared/data/lfpw-train", were written from). FileNotFoundError naming what
    was tried and how to set the data root."""
    path = Path(text).expanduser()
    if path.is_absolute():
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file or folder for data source {kind}")
        return path
    root = os.environ.get(DATA_ROOT_VAR)
    tried = ([Path(root).expanduser() / path] if root else []) + [Path.cwd() / path, REPO / path]
    for candidate in tried:
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"{text}: data source {kind} not found under {', '.join(str(t.parent) for t in tried)}; "
                            f"set {DATA_ROOT_VAR} to the folder this path is relative to (export {DATA_ROOT_VAR}=/data)"
                            f"{'' if root else f' ({DATA_ROOT_VAR} is not set)'}")


def read_real(kind: str, paths: list[str]) -> list[FaceRecord]:
    """All faces of a real-format source, in a deterministic order; relative paths resolve as resolve_data_path."""
    from lab.data import formats

    first = resolve_data_path(paths[0], kind)
    root = resolve_data_path(paths[1], kind) if len(paths) > 1 else None
    if kind == "300w":
        records = formats.find_pts_faces(first)
    elif kind == "wflw":
        records = formats.read_wflw_list(first, image_root=root or first.parent)
    elif kind == "cofw":
        records = formats.read_cofw_mat(first)
    else:
        records = formats.read_aflw_list(first, image_root=root or first.parent)
    if not records:
        raise ValueError(f"{first}: no faces found for data source {kind}")
    return list(records)


def parse_sources(spec: str) -> list[tuple[str, list[str]]]:
    """Real sources joined by "+" ("300w:/d/lfpw/trainset+300w:/d/helen/trainset+300w:/d/afw") -> [(kind, paths)];
    [] for "synthetic"."""
    parts = [parse_spec(part) for part in spec.split("+")]
    if any(kind == "synthetic" for kind, _ in parts):
        if len(parts) > 1:
            raise ValueError(f"data source {spec!r}: synthetic faces cannot be joined with other sources")
        return []
    return parts


def read_sources(spec: str) -> list[FaceRecord]:
    """Every face of one real source or of several joined by "+", in order; all must have one landmark count."""
    records = [r for kind, paths in parse_sources(spec) for r in read_real(kind, paths)]
    counts = sorted({r.num_points for r in records})
    if len(counts) > 1:
        raise ValueError(f"data source {spec!r} joins sources with different landmark counts {counts}")
    return records


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Deterministic train/val split of range(n): a permutation by `seed`, the first ceil(f n) go to val."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    perm = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(np.ceil(val_fraction * n)))
    return sorted(perm[n_val:].tolist()), sorted(perm[:n_val].tolist())


def open_splits(data: str, *, train_n: int, val_n: int, test_n: int, synth_size: int, seed: int,
                val_fraction: float, split_seed: int, unlabeled: int = 0,
                label_noise: dict | tuple[str, float] | None = None, fresh_faces: bool = False) -> Splits:
    """The train / val / test splits (and the unlabeled pool when unlabeled > 0) of a data spec.

    data: "synthetic" or real sources (module docstring). Synthetic: train_n / val_n faces, test_n per test
    subset (common, challenge), synth_size pixels, seed; label_noise (train only) and fresh_faces (new training
    faces every epoch) as in SyntheticFaces. Real: val_fraction and split_seed split the faces, train_n (0 = all)
    caps the training faces; synth_size, seed, val_n, test_n, label_noise and fresh_faces are not used.
    unlabeled: size of the unlabeled pool (0 = none).
    """
    if not parse_sources(data):  # synthetic
        from lab.data.synthetic import SyntheticFaces

        def make(split: str, n: int, noise=None, fresh: bool = False):
            return SyntheticFaces(split=split, n=n, size=synth_size, seed=seed, label_noise=noise, fresh=fresh)

        return Splits(
            train=make("train", train_n, label_noise, fresh=fresh_faces),
            val=make("val", val_n),
            tests={"common": make("common", test_n), "challenge": make("challenge", test_n)},
            unlabeled=make("unlabeled", unlabeled) if unlabeled else None,
            num_points=68,
        )
    records = read_sources(data)
    if records[0].num_points not in SCHEMES:
        raise ValueError(f"{records[0].source}: {records[0].num_points} points; the lab's landmark schemes have "
                         f"{', '.join(map(str, sorted(SCHEMES)))} (lab/schema.py)")
    train_idx, val_idx = split_indices(len(records), val_fraction, split_seed)
    if not train_idx or not val_idx:
        raise ValueError(f"{data}: {len(records)} face(s) cannot be split into training and validation faces with "
                         f"val_fraction {val_fraction}; add faces (e.g. {records[0].source} is one)")
    spare = train_idx[train_n:] if train_n else []
    if train_n:
        train_idx = train_idx[:train_n]
    train, val = Subset(records, train_idx), Subset(records, val_idx)
    pool = None
    if unlabeled:  # real data: the training faces left over by --train-n, their labels unused
        if unlabeled > len(spare):
            raise ValueError(f"{data}: --unlabeled {unlabeled} needs that many training faces beyond "
                             f"--train-n {train_n}; only {len(spare)} are left")
        pool = Subset(records, spare[:unlabeled])
    return Splits(
        train=train, val=val, tests={"val": val}, unlabeled=pool, num_points=records[0].num_points,
        notes={"train_files": [records[i].source for i in train_idx], "val_files": [records[i].source for i in val_idx]},
    )


def parse_test_arg(text: str) -> tuple[str, str]:
    """"common=300w:/data/lfpw/testset" -> ("common", "300w:/data/lfpw/testset"); the spec must be real data."""
    name, sep, spec = text.partition("=")
    if not sep or not name or not spec or name == "full":
        raise ValueError(f"--test {text!r}: expected NAME=SOURCE, e.g. challenge=300w:/data/300W/ibug "
                         f"(NAME is not 'full': it is derived from the others)")
    if not parse_sources(spec):
        raise ValueError(f"--test {text!r}: a test source is a real data path ({', '.join(REAL_KINDS)})")
    return name, spec


def open_test_data(test_data: dict[str, list[str]]) -> dict[str, list[FaceRecord]]:
    """{subset: [spec, ...]} -> {subset: every face of those sources, concatenated in the given order}, subsets
    sorted by name (the order "full" concatenates them in, however the dict was written or stored)."""
    return {name: [r for spec in test_data[name] for r in read_sources(spec)] for name in sorted(test_data)}


def evaluation_splits(test_data: dict[str, list[str]] | None = None, **split_args) -> Splits:
    """The faces a run is tested on: the named test sources (training data not read), or without them its own
    test subsets, open_splits(**split_args)."""
    if not test_data:
        return open_splits(**split_args)
    tests = open_test_data(test_data)
    counts = {r[0].num_points for r in tests.values()}  # read_real refuses an empty source
    if len(counts) != 1:
        raise ValueError(f"test sources {test_data} mix landmark counts {sorted(counts)}")
    return Splits(train=[], val=[], tests=tests, num_points=counts.pop())
