"""Look at the synthetic faces: one PNG per face with its points drawn, and a contact sheet.

Used by `python -m lab synth --split challenge --n 16 --out DIR`. Points: green = visible, red ring =
self-occluded or covered (visible=False). Faces are upscaled so the points do not hide the features.
"""
from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from lab.atomic import write_bytes_atomic
from lab.data.record import FaceRecord
from lab.data.synthetic.faces import SPLITS, SyntheticFaces

VISIBLE = (40, 230, 60)
HIDDEN = (240, 40, 40)


def draw_face(record: FaceRecord, scale: int = 2, radius: float | None = None) -> np.ndarray:
    """(S*scale, S*scale, 3) uint8 RGB: the face upscaled with its points drawn (sub-pixel, anti-aliased).

    radius: dot radius in output pixels (default 0.9 * scale, at least 1).
    """
    img = np.asarray(record.image)
    h, w = img.shape[:2]
    out = cv2.resize(img, (w * scale, h * scale), interpolation=cv2.INTER_LINEAR)
    pts = (np.asarray(record.points) + 0.5) * scale - 0.5  # pixel-centre convention survives the upscale
    r = radius if radius is not None else max(1.0, 0.9 * scale)
    for (x, y), vis in zip(pts, np.asarray(record.visible, bool)):
        c = (int(round(x * 16)), int(round(y * 16)))
        if vis:
            cv2.circle(out, c, int(r * 16), VISIBLE, -1, cv2.LINE_AA, 4)
        else:
            cv2.circle(out, c, int(max(r, 1.0) * 16), HIDDEN, 1, cv2.LINE_AA, 4)
    return out


def contact_sheet(tiles: list[np.ndarray], cols: int | None = None, gap: int = 2) -> np.ndarray:
    """(H, W, 3) uint8 grid of equally sized RGB tiles on a dark background."""
    if not tiles:
        raise ValueError("contact_sheet needs at least one tile")
    th, tw = tiles[0].shape[:2]
    cols = cols or min(len(tiles), max(1, math.ceil(math.sqrt(len(tiles)))))
    rows = math.ceil(len(tiles) / cols)
    sheet = np.full((rows * th + (rows + 1) * gap, cols * tw + (cols + 1) * gap, 3), 24, np.uint8)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, cols)
        y, x = gap + r * (th + gap), gap + c * (tw + gap)
        sheet[y:y + th, x:x + tw] = tile
    return sheet


def _png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(img[:, :, ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def docs_sheet(path: str | Path, cols: int = 6, size: int = 96, seed: int = 0) -> Path:
    """The README picture: a row of common faces above a row of challenge faces, points drawn, shown at 2x.

    Colours are cut to 5 bits per channel (invisible here) so the PNG stays small despite the sensor noise.
    """
    tiles = []
    for split in ("common", "challenge"):
        faces = SyntheticFaces(split, n=cols, size=size, seed=seed)
        tiles.extend(draw_face(faces[i], 2, radius=1.2) for i in range(cols))
    return write_bytes_atomic(path, _png(contact_sheet(tiles, cols=cols) & np.uint8(0xF8)))


def write_synth_sheet(split: str, n: int, out_dir: str | Path, size: int = 128, seed: int = 0) -> Path:
    """Write faces 0..n-1 of a split as `face_XXXX.png` (points drawn) and `contact_sheet.png` under out_dir.

    Returns out_dir. Raises ValueError for an unknown split or n < 1.
    """
    if split not in SPLITS:
        raise ValueError(f"split {split!r} is unknown; valid: {list(SPLITS)}")
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    out = Path(out_dir)
    faces = SyntheticFaces(split, n=int(n), size=size, seed=seed)
    scale = max(1, math.ceil(256 / size))
    tiles = []
    for i in range(len(faces)):
        tile = draw_face(faces[i], scale)
        write_bytes_atomic(out / f"face_{i:04d}.png", _png(tile))
        tiles.append(tile)
    write_bytes_atomic(out / "contact_sheet.png", _png(contact_sheet(tiles)))
    return out


if __name__ == "__main__":  # python -m lab.data.synthetic.sheet docs/synthetic_faces.png
    import sys

    print(docs_sheet(sys.argv[1] if len(sys.argv) > 1 else "docs/synthetic_faces.png"))
