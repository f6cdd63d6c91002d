"""What the real-format readers share: FormatError, the image loader, and the token / line / number helpers.

List files (WFLW, AFLW-19): blank lines and lines starting with ``#`` are skipped; a malformed line raises
FormatError naming "file:line".
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from lab.data.record import FaceRecord

class FormatError(ValueError):
    """A malformed annotation or image file. The message reads "path:line: problem" ("path: problem")."""

    def __init__(self, path: str | Path, problem: str, line: int | None = None):
        self.path, self.problem, self.line = str(path), problem, line
        where = self.path if line is None else f"{self.path}:{line}"
        super().__init__(f"{where}: {problem}")

    def __reduce__(self):  # picklable across DataLoader workers despite the custom signature
        return (FormatError, (self.path, self.problem, self.line))


# ----------------------------------------------------------------------------------------------- parsing helpers

def _text_lines(path: Path) -> list[str]:
    """The file's lines (UTF-8, optional BOM, any line ending)."""
    try:
        return path.read_bytes().decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as e:
        raise FormatError(path, f"not a text file (cannot decode as UTF-8: {e.reason})") from None


def _numbers(tokens: Sequence[str], path: Path, line: int, what: str = "coordinate") -> np.ndarray:
    """(len(tokens),) float64 from tokens; non-numeric or non-finite tokens raise FormatError."""
    out = np.empty(len(tokens), dtype=np.float64)
    for i, tok in enumerate(tokens):
        try:
            out[i] = float(tok)
        except ValueError:
            raise FormatError(path, f"non-numeric {what} token {tok!r}", line) from None
        if not np.isfinite(out[i]):
            raise FormatError(path, f"non-finite {what} {tok!r} (NaN/inf are not allowed)", line)
    return out


def _flags(tokens: Sequence[str], path: Path, line: int, what: str) -> np.ndarray:
    """(len(tokens),) int64 0/1 flags from tokens."""
    out = np.empty(len(tokens), dtype=np.int64)
    for i, tok in enumerate(tokens):
        if tok not in ("0", "1"):
            raise FormatError(path, f"{what} flag must be 0 or 1, got {tok!r}", line)
        out[i] = int(tok)
    return out


def _check_box(box: np.ndarray, path: Path, line: int | None) -> np.ndarray:
    if box[2] < box[0] or box[3] < box[1]:
        raise FormatError(path, f"box {box.tolist()} has x_max < x_min or y_max < y_min", line)
    return box


def _data_lines(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(1-based line number, tokens) of every non-blank, non-comment line of a list file."""
    lines = _text_lines(path)
    found = False
    for n, text in enumerate(lines, start=1):
        tokens = text.split()
        if tokens and not tokens[0].startswith("#"):
            found = True
            yield n, tokens
    if not found:
        raise FormatError(path, "empty file (no face lines)")


def _expect_tokens(tokens: Sequence[str], count: int, layout: str, path: Path, line: int) -> None:
    if len(tokens) != count:
        raise FormatError(path, f"expected {count} tokens ({layout}), got {len(tokens)}", line)


def _image_path(root: Path, rel: str, check: bool, path: Path, line: int) -> Path:
    image = root / rel
    if check and not image.is_file():
        raise FormatError(path, f"image file not found: {image}", line)
    return image


def _fmt(values: Iterable[float], decimals: int) -> str:
    """Space-joined numbers with at most `decimals` decimals, trailing zeros dropped."""
    out = []
    for v in values:
        s = f"{float(v):.{decimals}f}".rstrip("0").rstrip(".")
        out.append("0" if s in ("-0", "") else s)
    return " ".join(out)


def _relative_image(record: FaceRecord, root: Path | None, path: Path) -> str:
    """The record's image path as written in a list file (relative to `root` when it lies under it)."""
    if isinstance(record.image, np.ndarray):
        raise FormatError(path, f"record {record.source or '?'} holds an image array; list files need image paths")
    image = Path(record.image)
    if root is not None:
        try:
            image = image.relative_to(root)
        except ValueError:
            pass
    text = image.as_posix()
    if any(c.isspace() for c in text):
        raise FormatError(path, f"image path {text!r} contains whitespace, which the list format cannot hold")
    return text


def _points_of(record: FaceRecord, k: int, path: Path) -> np.ndarray:
    pts = np.asarray(record.points, dtype=np.float64)
    if pts.shape != (k, 2) or not np.all(np.isfinite(pts)):
        raise FormatError(path, f"record {record.source or '?'}: points must be finite ({k}, 2), got {pts.shape}")
    return pts


# ------------------------------------------------------------------------------------------------------ images

def load_image(image: str | Path | np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB from a path (JPEG/PNG/BMP, any bit depth, grey or colour) or an array.

    Arrays: (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA uint8 are accepted (alpha dropped).
    Files are decoded as stored (EXIF orientation ignored), so pixels match annotation coordinates.
    Raises FileNotFoundError naming a missing file, FormatError naming an undecodable one.
    """
    if isinstance(image, np.ndarray):
        arr = image
        if arr.dtype != np.uint8:
            raise ValueError(f"image array must be uint8, got {arr.dtype}")
        if arr.ndim == 2:
            return np.repeat(arr[:, :, None], 3, axis=2)
        if arr.ndim == 3 and arr.shape[2] in (3, 4):
            return np.ascontiguousarray(arr[:, :, :3])
        raise ValueError(f"image array must be (H, W), (H, W, 3) or (H, W, 4), got {arr.shape}")
    path = Path(image)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: image file not found")
    data = np.fromfile(path, dtype=np.uint8)  # (works with non-ASCII paths, unlike cv2.imread on Windows)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION) if data.size else None
    if bgr is None:
        raise FormatError(path, "unreadable image (not a decodable JPEG/PNG/BMP file)")
    return np.ascontiguousarray(bgr[:, :, ::-1])
