"""300W / iBUG `.pts` files and the folder layout of the 300-W, LFPW, HELEN, AFW and iBUG downloads.

``version: 1``, ``n_points: 68``, ``{``, one ``x y`` line per point, ``}``.
Coordinates are **1-based** in the file (MATLAB convention): 0-based x = file x - 1.
No visibility (all points visible), no box (the box comes from the points, the usual "ground-truth box").
"""
from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from lab.atomic import write_text_atomic
from lab.data.formats.common import FormatError, _check_box, _fmt, _numbers, _text_lines
from lab.data.record import FaceRecord, box_from_points

IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp")


def find_image_beside(pts_path: str | Path) -> Path | None:
    """The image with the same stem as `pts_path` in its folder (.jpg/.jpeg/.png/.bmp, any case), or None."""
    pts_path = Path(pts_path)
    for suffix in IMAGE_SUFFIXES:
        for s in (suffix, suffix.upper()):
            candidate = pts_path.with_suffix(s)
            if candidate.is_file():
                return candidate
    return None


def parse_pts(path: str | Path, expected_points: int | None = None) -> np.ndarray:
    """(K, 2) float64 0-based points from a 300W/iBUG `.pts` file (1-based in the file)."""
    path = Path(path)
    lines = _text_lines(path)
    numbered = [(n, t.strip()) for n, t in enumerate(lines, start=1) if t.strip()]
    if not numbered:
        raise FormatError(path, "empty file")
    header: dict[str, tuple[int, str]] = {}
    body = None
    for i, (n, text) in enumerate(numbered):
        if text == "{":
            body = i + 1
            break
        key, colon, value = text.partition(":")
        if not colon:
            raise FormatError(path, f"missing '{{' before the points (got {text!r})", n)
        header[key.strip().lower()] = (n, value.strip())
    if body is None:
        raise FormatError(path, "missing '{' (the points block never opens)", numbered[-1][0])
    if "n_points" not in header:
        raise FormatError(path, "missing 'n_points:' header", numbered[body - 1][0])
    n_line, n_text = header["n_points"]
    if not n_text.isdigit():
        raise FormatError(path, f"n_points must be a whole number, got {n_text!r}", n_line)
    k = int(n_text)
    if expected_points is not None and k != expected_points:
        raise FormatError(path, f"n_points: {k} but {expected_points} points expected", n_line)
    points: list[np.ndarray] = []
    for j in range(body, len(numbered)):
        n, text = numbered[j]
        if text == "}":
            if len(points) != k:
                raise FormatError(path, f"found {len(points)} points but the header says n_points: {k}", n)
            if j + 1 < len(numbered):
                raise FormatError(path, f"unexpected content after '}}': {numbered[j + 1][1]!r}", numbered[j + 1][0])
            return np.array(points, dtype=np.float64).reshape(k, 2) - 1.0
        tokens = text.split()
        if len(tokens) != 2:
            raise FormatError(path, f"expected 2 numbers 'x y' or '}}', got {len(tokens)} tokens: {text!r}", n)
        xy = _numbers(tokens, path, n)
        if len(points) == k:
            raise FormatError(path, f"more points than n_points: {k} (expected '}}')", n)
        points.append(xy)
    last = numbered[-1][0]
    if len(points) < k:
        raise FormatError(path, f"truncated file: ended after {len(points)} of {k} points, no closing '}}'", last)
    raise FormatError(path, f"missing closing '}}' after the {k} points", last)


def read_pts(path: str | Path, image: str | Path | np.ndarray | None = None, box: Sequence[float] | None = None,
             expected_points: int | None = None, check_image: bool = False) -> FaceRecord:
    """One FaceRecord from a `.pts` file.

    image: defaults to the image beside the file (same stem); when there is none, `path` with ".jpg"
    (checked only with `check_image=True`, which raises FormatError when the image file is missing).
    box: (4,) x_min, y_min, x_max, y_max in 0-based coordinates; default: the points' tight box.
    """
    path = Path(path)
    points = parse_pts(path, expected_points)
    if image is None:
        found = find_image_beside(path)
        if found is None and check_image:
            raise FormatError(path, f"no image beside this file (same stem, one of {', '.join(IMAGE_SUFFIXES)})")
        image = found if found is not None else path.with_suffix(".jpg")
    elif check_image and not isinstance(image, np.ndarray) and not Path(image).is_file():
        raise FormatError(path, f"image file not found: {image}")
    box_arr = box_from_points(points) if box is None else _check_box(np.asarray(box, np.float64).reshape(4), path, None)
    return FaceRecord(image=image, points=points, visible=np.ones(len(points), bool), box=box_arr,
                      attributes={}, source=str(path))


def write_pts(path: str | Path, points: np.ndarray, decimals: int = 6) -> Path:
    """Write (K, 2) 0-based points as a `.pts` file (1-based coordinates, `decimals` decimals)."""
    path = Path(path)
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or not np.all(np.isfinite(pts)):
        raise ValueError(f"{path}: points must be a finite (K, 2) array, got shape {pts.shape}")
    rows = [_fmt(p + 1.0, decimals) for p in pts]
    return write_text_atomic(path, "\n".join(["version: 1", f"n_points: {len(pts)}", "{", *rows, "}"]) + "\n")


def find_pts_faces(root: str | Path, expected_points: int | None = None,
                   boxes: Mapping[str, Sequence[float]] | None = None) -> list[FaceRecord]:
    """Every `.pts` under `root` (any depth) that has an image beside it, as FaceRecords sorted by path.

    The 300W, LFPW, HELEN, AFW and iBUG downloads all use this layout. `.pts` files without an image are
    skipped with a warning. boxes: optional face boxes keyed by the `.pts` path relative to `root`
    without suffix, in posix form (e.g. "lfpw/trainset/image_0001"); other faces get the points' box.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: data folder not found")
    records, skipped = [], []
    for pts in sorted(root.rglob("*.pts")):
        image = find_image_beside(pts)
        if image is None:
            skipped.append(pts)
            continue
        key = pts.relative_to(root).with_suffix("").as_posix()
        box = None if boxes is None else boxes.get(key)
        records.append(read_pts(pts, image=image, box=box, expected_points=expected_points))
    if skipped:
        warnings.warn(f"{root}: skipped {len(skipped)} .pts file(s) without an image beside them, "
                      f"e.g. {skipped[0]}", stacklevel=2)
    if not records:
        raise FileNotFoundError(f"{root}: no .pts file with an image beside it "
                                f"(same stem, {'/'.join(IMAGE_SUFFIXES)}) under this folder")
    counts = Counter(r.num_points for r in records)
    if len(counts) > 1:
        usual = counts.most_common(1)[0][0]
        odd = [r for r in records if r.num_points != usual]
        raise FormatError(odd[0].source, f"{odd[0].num_points} points, but {counts[usual]} of the {len(records)} "
                          f".pts files under {root} have {usual} (one landmark scheme per folder; "
                          f"{len(odd)} file(s) differ)")
    return records

