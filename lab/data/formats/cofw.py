"""COFW `.mat` files (``COFW_train_color.mat`` / ``COFW_test_color.mat``).

MATLAB v7.3 = HDF5; older v5 files are read with scipy. Images ``IsTr`` / ``IsT`` (an N x 1 cell of uint8
H x W or H x W x 3 images), landmarks ``phisTr`` / ``phisT`` (N x 87: 29 x, 29 y, 29 occlusion flags,
1 = occluded), boxes ``bboxesTr`` / ``bboxesT`` (N x 4: x y w h). Generic names ``images`` / ``phis`` /
``bboxes`` are accepted too. Coordinates and box corners are 1-based (0-based = value - 1); the box becomes
x-1, y-1, x-1+w, y-1+h. HDF5 stores MATLAB arrays transposed (column-major): phis is (87, N) on disk, an
H x W x 3 image (3, W, H); the reader undoes that.
"""
from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from lab.atomic import write_bytes_atomic
from lab.data.formats.common import FormatError, _check_box, _points_of, load_image
from lab.data.record import FaceRecord, box_from_points

COFW_KEYS: dict[str, tuple[str, str, str]] = {  # split -> (images, phis, bboxes)
    "train": ("IsTr", "phisTr", "bboxesTr"),
    "test": ("IsT", "phisT", "bboxesT"),
    "generic": ("images", "phis", "bboxes"),
}


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
