"""AFLW-19 list files (this lab's plain-text list, the layout AFLW-19 loaders build from the AFLW database and
the AFLW-19 split files).

One face per line, 62 whitespace-separated tokens:
``image_path x0 .. x18 y0 .. y18 v0 .. v18 box_x0 box_y0 box_x1 box_y1`` — all 19 x, then all 19 y,
then 19 visibility flags (1 = visible, 0 = not annotated / occluded), then the face box corners.
Coordinates are 0-based pixel centres (pass ``one_based=True`` for lists exported from MATLAB tools).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lab.atomic import write_text_atomic
from lab.data.formats.common import (_check_box, _data_lines, _expect_tokens, _flags, _fmt, _image_path, _numbers,
                                     _points_of, _relative_image)
from lab.data.record import FaceRecord

def read_aflw_list(path: str | Path, image_root: str | Path | None = None, expected_points: int = 19,
                   one_based: bool = False, check_images: bool = False) -> list[FaceRecord]:
    """FaceRecords from an AFLW-19 list (path, K x, K y, K visibility flags, box x0 y0 x1 y1; K=19).

    image_root: folder the image paths are relative to (default: the list file's folder).
    one_based: subtract 1 from coordinates and box corners (lists written from MATLAB tools).
    """
    path = Path(path)
    root = path.parent if image_root is None else Path(image_root)
    k = expected_points
    offset = 1.0 if one_based else 0.0
    layout = f"image path, {k} x, {k} y, {k} visibility flags, 4 box values"
    records = []
    for n, tokens in _data_lines(path):
        _expect_tokens(tokens, 3 * k + 5, layout, path, n)
        xy = _numbers(tokens[1:2 * k + 1], path, n).reshape(2, k).T - offset
        visible = _flags(tokens[2 * k + 1:3 * k + 1], path, n, "visibility").astype(bool)
        box = _check_box(_numbers(tokens[3 * k + 1:], path, n, "box") - offset, path, n)
        records.append(FaceRecord(image=_image_path(root, tokens[0], check_images, path, n), points=xy,
                                  visible=visible, box=box, attributes={}, source=f"{path}:{n}"))
    return records


def write_aflw_list(path: str | Path, records: Sequence[FaceRecord], image_root: str | Path | None = None,
                    one_based: bool = False, decimals: int = 6) -> Path:
    """Write records as an AFLW-19 list (the layout `read_aflw_list` reads)."""
    path = Path(path)
    root = None if image_root is None else Path(image_root)
    offset = 1.0 if one_based else 0.0
    lines = []
    for r in records:
        pts = _points_of(r, r.num_points, path) + offset
        vis = " ".join("1" if v else "0" for v in np.asarray(r.visible, bool))
        lines.append(f"{_relative_image(r, root, path)} {_fmt(pts[:, 0], decimals)} {_fmt(pts[:, 1], decimals)} "
                     f"{vis} {_fmt(np.asarray(r.box, np.float64) + offset, decimals)}")
    return write_text_atomic(path, "".join(line + "\n" for line in lines))

