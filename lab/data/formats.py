"""Readers and writers for the real benchmark formats: 300W `.pts`, WFLW lists, COFW `.mat`, AFLW-19 lists.

Every reader returns `FaceRecord`s (lab/data/record.py): points (K, 2) float64 in the lab's 0-based
pixel-centre convention, visible (K,) bool, box (4,) x_min, y_min, x_max, y_max, attributes, and
`source` = "file:line" (or "file:face N" for `.mat` files). Every malformed input raises `FormatError`
(a ValueError) whose message starts with "file:line:" and says what is wrong.

Formats (coordinate bases are converted on read and restored on write):

- 300W / iBUG `.pts`: ``version: 1``, ``n_points: 68``, ``{``, one ``x y`` line per point, ``}``.
  Coordinates are **1-based** in the file (MATLAB convention): 0-based x = file x - 1.
  No visibility (all points visible), no box (the box comes from the points, the usual "ground-truth box").
- WFLW list (``list_98pt_rect_attr_{train,test}.txt``): one face per line, 207 whitespace-separated tokens:
  196 coordinates x0 y0 x1 y1 ... x97 y97, the box x_min y_min x_max y_max, 6 integer flags
  pose expression illumination make-up occlusion blur (names in `WFLW_ATTRIBUTES`), and the image path
  relative to the image root (WFLW_images/). Coordinates are used as stored (0-based); all points visible.
  Paths with spaces are not supported (the line is split on whitespace).
- COFW (``COFW_train_color.mat`` / ``COFW_test_color.mat``, MATLAB v7.3 = HDF5; older v5 files are read
  with scipy): images ``IsTr`` / ``IsT`` (an N x 1 cell of uint8 H x W or H x W x 3 images), landmarks
  ``phisTr`` / ``phisT`` (N x 87: 29 x, 29 y, 29 occlusion flags, 1 = occluded), boxes ``bboxesTr`` /
  ``bboxesT`` (N x 4: x y w h). Generic names ``images`` / ``phis`` / ``bboxes`` are accepted too.
  Coordinates and box corners are 1-based (0-based = value - 1); the box becomes x-1, y-1, x-1+w, y-1+h.
  HDF5 stores MATLAB arrays transposed (column-major): phis is (87, N) on disk, an H x W x 3 image
  (3, W, H); the reader undoes that.
- AFLW-19 list (this lab's plain-text list, the layout AFLW-19 loaders build from the AFLW database and
  the AFLW-19 split files): one face per line, 62 whitespace-separated tokens:
  ``image_path x0 .. x18 y0 .. y18 v0 .. v18 box_x0 box_y0 box_x1 box_y1`` — all 19 x, then all 19 y,
  then 19 visibility flags (1 = visible, 0 = not annotated / occluded), then the face box corners.
  Coordinates are 0-based pixel centres (pass ``one_based=True`` for lists exported from MATLAB tools).
  Blank lines and lines starting with ``#`` are skipped (this holds for WFLW lists too).
"""
from __future__ import annotations

import io
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

from lab.atomic import write_bytes_atomic, write_text_atomic
from lab.data.record import FaceRecord, box_from_points

WFLW_ATTRIBUTES: tuple[str, ...] = ("pose", "expression", "illumination", "make_up", "occlusion", "blur")
IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp")
COFW_KEYS: dict[str, tuple[str, str, str]] = {  # split -> (images, phis, bboxes)
    "train": ("IsTr", "phisTr", "bboxesTr"),
    "test": ("IsT", "phisT", "bboxesT"),
    "generic": ("images", "phis", "bboxes"),
}


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


def find_image_beside(pts_path: str | Path) -> Path | None:
    """The image with the same stem as `pts_path` in its folder (.jpg/.jpeg/.png/.bmp, any case), or None."""
    pts_path = Path(pts_path)
    for suffix in IMAGE_SUFFIXES:
        for s in (suffix, suffix.upper()):
            candidate = pts_path.with_suffix(s)
            if candidate.is_file():
                return candidate
    return None


# -------------------------------------------------------------------------------------------------------- .pts

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
    return records


# ------------------------------------------------------------------------------------------------------- WFLW

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


# ------------------------------------------------------------------------------------------------------- AFLW

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


# ------------------------------------------------------------------------------------------------------- COFW

def _cofw_keys(names: Iterable[str], split: str | None, path: Path) -> tuple[str, str, str]:
    names = set(names)
    if split is not None and split not in COFW_KEYS:
        raise ValueError(f"split must be one of {sorted(COFW_KEYS)}, got {split!r}")
    splits = [split] if split is not None else [s for s, keys in COFW_KEYS.items() if keys[0] in names]
    if len(splits) != 1:
        raise FormatError(path, f"cannot tell the COFW split: found keys {sorted(names)}; expected one of "
                                f"{[k[0] for k in COFW_KEYS.values()]} (or pass split=)")
    keys = COFW_KEYS[splits[0]]
    if keys[0] not in names or keys[1] not in names:
        raise FormatError(path, f"missing {keys[0]!r} or {keys[1]!r}; found keys {sorted(names)}")
    return keys


def _rows(arr: np.ndarray, width: int, name: str, path: Path, matlab_hdf5: bool) -> np.ndarray:
    """(N, width) from a 2-D array stored (width, N) in HDF5 (MATLAB's transposed layout) or (N, width)."""
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[0] == width and (matlab_hdf5 or arr.shape[1] != width):
        return arr.T
    if arr.ndim == 2 and arr.shape[1] == width:
        return arr
    raise FormatError(path, f"{name} has shape {arr.shape}, expected N x {width}")


def _matlab_image(arr: np.ndarray, index: int, path: Path, matlab_hdf5: bool) -> np.ndarray:
    """(H, W, 3) uint8 RGB from a MATLAB image: HDF5 stores H x W as (W, H), H x W x 3 as (3, W, H)."""
    arr = np.asarray(arr)
    if arr.dtype != np.uint8:
        raise FormatError(path, f"face {index}: image has dtype {arr.dtype}, expected uint8")
    if matlab_hdf5 and arr.ndim == 3 and arr.shape[0] == 3:
        arr = arr.transpose(2, 1, 0)
    elif matlab_hdf5 and arr.ndim == 2:
        arr = arr.T
    if arr.ndim == 2:
        return np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim == 3 and arr.shape[2] == 3:
        return np.ascontiguousarray(arr)
    raise FormatError(path, f"face {index}: image has shape {arr.shape}, expected a grey or RGB image")


def _load_mat(path: Path, split: str | None) -> tuple[list[np.ndarray], np.ndarray, np.ndarray | None, int]:
    """(images as stored, phis raw, bboxes raw or None, 1 if HDF5 layout) from a v7.3 or v5 .mat file."""
    import h5py

    if h5py.is_hdf5(path):
        with h5py.File(path, "r") as f:
            keys = _cofw_keys(f.keys(), split, path)
            refs = np.asarray(f[keys[0]]).reshape(-1)
            if refs.dtype != h5py.ref_dtype and refs.dtype != object:
                raise FormatError(path, f"{keys[0]} is not a cell array of images (dtype {refs.dtype})")
            try:
                images = [np.asarray(f[ref]) for ref in refs]
            except (ValueError, KeyError, TypeError) as e:
                raise FormatError(path, f"{keys[0]} holds an invalid object reference: {e}") from None
            phis = np.asarray(f[keys[1]])
            boxes = np.asarray(f[keys[2]]) if keys[2] in f else None
        return images, phis, boxes, 1
    from scipy.io import loadmat

    try:
        mat = loadmat(path)
    except Exception as e:  # scipy raises ValueError/TypeError/OSError for non-MAT input
        raise FormatError(path, f"not a MATLAB .mat file (v7.3 HDF5 or v5): {e}") from None
    keys = _cofw_keys([k for k in mat if not k.startswith("__")], split, path)
    cells = np.asarray(mat[keys[0]])
    if cells.dtype != object:
        raise FormatError(path, f"{keys[0]} is not a cell array of images (dtype {cells.dtype})")
    return list(cells.reshape(-1)), mat[keys[1]], mat.get(keys[2]), 0


def read_cofw_mat(path: str | Path, split: str | None = None, expected_points: int = 29) -> list[FaceRecord]:
    """FaceRecords (image arrays included) from a COFW `.mat` file; see the module docstring for the layout.

    split: "train" (IsTr/phisTr/bboxesTr), "test" (IsT/phisT/bboxesT) or "generic" (images/phis/bboxes);
    default: whichever the file holds. Visible = occlusion flag 0. Without a boxes array the box comes
    from the points.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: COFW .mat file not found")
    k = expected_points
    images, phis_raw, boxes_raw, hdf5 = _load_mat(path, split)
    phis = _rows(phis_raw, 3 * k, "phis", path, bool(hdf5))
    boxes = None if boxes_raw is None else _rows(boxes_raw, 4, "bboxes", path, bool(hdf5))
    counts = {"images": len(images), "phis rows": len(phis)} | ({} if boxes is None else {"bboxes rows": len(boxes)})
    if len(set(counts.values())) != 1:
        raise FormatError(path, f"wrong shapes: the arrays disagree on the face count {counts}")
    records = []
    for i, (img, phi) in enumerate(zip(images, phis), start=1):
        if not np.all(np.isfinite(phi)):
            raise FormatError(path, f"face {i}: non-finite landmark value (NaN/inf)")
        points = np.stack([phi[:k], phi[k:2 * k]], axis=1) - 1.0
        visible = phi[2 * k:] == 0
        if boxes is None:
            box = box_from_points(points)
        else:
            x, y, w, h = boxes[i - 1]
            box = _check_box(np.array([x - 1.0, y - 1.0, x - 1.0 + w, y - 1.0 + h]), path, None)
        records.append(FaceRecord(image=_matlab_image(img, i, path, bool(hdf5)), points=points, visible=visible,
                                  box=box, attributes={}, source=f"{path}:face {i}"))
    return records


def _matlab_v73_header() -> bytes:
    """The 512-byte user block MATLAB puts before the HDF5 data of a v7.3 MAT-file."""
    text = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created by: landmark-loss-lab HDF5 schema 1.00 ."
    return text.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM" + b"\x00" * (512 - 128)


def write_cofw_mat(path: str | Path, records: Sequence[FaceRecord], split: str = "train") -> Path:
    """Write records as a MATLAB v7.3 COFW file (the layout `read_cofw_mat` reads, MATLAB-loadable)."""
    import h5py

    path = Path(path)
    if split not in COFW_KEYS:
        raise ValueError(f"split must be one of {sorted(COFW_KEYS)}, got {split!r}")
    k_images, k_phis, k_boxes = COFW_KEYS[split]
    phis, boxes = [], []
    for r in records:
        pts = _points_of(r, r.num_points, path) + 1.0
        occluded = (~np.asarray(r.visible, bool)).astype(np.float64)
        phis.append(np.concatenate([pts[:, 0], pts[:, 1], occluded]))
        x0, y0, x1, y1 = np.asarray(r.box, np.float64)
        boxes.append([x0 + 1.0, y0 + 1.0, x1 - x0, y1 - y0])
    buffer = io.BytesIO()
    with h5py.File(buffer, "w", userblock_size=512) as f:
        refs_group = f.create_group("#refs#")
        refs = np.empty((1, len(records)), dtype=h5py.ref_dtype)
        for i, r in enumerate(records):
            ds = refs_group.create_dataset(f"img{i}", data=load_image(r.image).transpose(2, 1, 0))
            ds.attrs["MATLAB_class"] = np.bytes_("uint8")
            refs[0, i] = ds.ref
        cell = f.create_dataset(k_images, data=refs)
        cell.attrs["MATLAB_class"] = np.bytes_("cell")
        for key, rows in ((k_phis, phis), (k_boxes, boxes)):
            ds = f.create_dataset(key, data=np.asarray(rows, np.float64).reshape(len(records), -1).T)
            ds.attrs["MATLAB_class"] = np.bytes_("double")
    data = bytearray(buffer.getvalue())
    data[:512] = _matlab_v73_header()
    return write_bytes_atomic(path, bytes(data))
