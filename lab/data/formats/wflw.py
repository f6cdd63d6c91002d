"""WFLW list files (``list_98pt_rect_attr_{train,test}.txt``).

One face per line, 207 whitespace-separated tokens: 196 coordinates x0 y0 x1 y1 ... x97 y97, the box
x_min y_min x_max y_max, 6 integer flags pose expression illumination make-up occlusion blur (names in
`WFLW_ATTRIBUTES`), and the image path relative to the image root (WFLW_images/). Coordinates are used as
stored (0-based); all points visible. Paths with spaces are not supported (the line is split on whitespace).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lab.atomic import write_text_atomic
from lab.data.formats.common import (_check_box, _data_lines, _expect_tokens, _flags, _fmt, _image_path, _numbers,
                                     _points_of, _relative_image)
from lab.data.record import FaceRecord

WFLW_ATTRIBUTES: tuple[str, ...] = ("pose", "expression", "illumination", "make_up", "occlusion", "blur")


def read_wflw_list(path: str | Path, image_root: str | Path | None = None, expected_points: int = 98,
                   check_images: bool = False) -> list[FaceRecord]:
    """FaceRecords from a WFLW list file (2K coordinates, box, 6 flags, image path per line; K=98).

    image_root: folder the image paths are relative to (default: the list file's folder).
    check_images: raise FormatError naming the line when an image file is missing.
    """
    path = Path(path)
    root = path.parent if image_root is None else Path(image_root)
    k = expected_points
    layout = f"{2 * k} coordinates, 4 box values, 6 attribute flags, image path"
    records = []
    for n, tokens in _data_lines(path):
        _expect_tokens(tokens, 2 * k + 11, layout, path, n)
        points = _numbers(tokens[:2 * k], path, n).reshape(k, 2)
        box = _check_box(_numbers(tokens[2 * k:2 * k + 4], path, n, "box"), path, n)
        flags = _flags(tokens[2 * k + 4:2 * k + 10], path, n, "attribute")
        records.append(FaceRecord(
            image=_image_path(root, tokens[-1], check_images, path, n), points=points,
            visible=np.ones(k, bool), box=box, attributes=dict(zip(WFLW_ATTRIBUTES, map(int, flags))),
            source=f"{path}:{n}"))
    return records


def write_wflw_list(path: str | Path, records: Sequence[FaceRecord], image_root: str | Path | None = None,
                    decimals: int = 6) -> Path:
    """Write records as a WFLW list (image paths made relative to `image_root` when under it)."""
    path = Path(path)
    root = None if image_root is None else Path(image_root)
    lines = []
    for r in records:
        pts = _points_of(r, r.num_points, path)
        flags = " ".join(str(int(r.attributes.get(name, 0))) for name in WFLW_ATTRIBUTES)
        lines.append(f"{_fmt(pts.reshape(-1), decimals)} {_fmt(r.box, decimals)} {flags} "
                     f"{_relative_image(r, root, path)}")
    return write_text_atomic(path, "".join(line + "\n" for line in lines))

