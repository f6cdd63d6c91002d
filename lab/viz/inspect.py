"""What the dashboard's Inspect view computes: faces of a run's test subsets, a model's heatmaps and predictions for
one face, per-landmark errors, faces sorted by NME ("the worst faces") or by the NME difference of two runs
("where A beats B"), and safe loading of uploaded images.

No streamlit here: everything is a plain function of runs, records and arrays (the app caches and lays them out).
Points are (x, y) in original image pixels, pixel-centre convention (DESIGN.md).
"""
from __future__ import annotations

import struct
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from lab import metrics
from lab.config import RunConfig
from lab.data.dataset import LandmarkDataset, tensor_to_image
from lab.data.formats import load_image
from lab.data.record import FaceRecord
from lab.data.sources import Splits, evaluation_splits, parse_sources, read_sources
from lab.evaluate import distribution_mode, face_nmes, predict
from lab.heatmaps import normalize
from lab.predict import check_box, check_num_points, image_record, predict_record, run_decoder  # noqa: F401 (re-exported for the app)
from lab.runs import Run
from lab.schema import get_scheme

MAX_UPLOAD_BYTES = 20 * 2**20  # 20 MiB
MAX_UPLOAD_PIXELS = 50_000_000  # decoded size limit (a small file can declare a huge image)
MAX_SIDE = 1600  # larger images are downscaled for display and prediction
FULL = "full"  # the concatenation of every test subset, as evaluate_run stores it


class InputError(ValueError):
    """Input the user gave (an upload, a box, a dataset spec, a face index) that cannot be used; says why."""


# ------------------------------------------------------------------------------------------------ test faces



def subset_records(splits: Splits, subset: str) -> Sequence[FaceRecord]:
    """The records of a test subset; "full" is every test subset concatenated in order (as in predictions.npz)."""
    if subset in splits.tests:
        return splits.tests[subset]
    if subset == FULL:
        return [r for records in splits.tests.values() for r in _iterate(records)]
    raise InputError(f"unknown test subset {subset!r}; valid: {', '.join([*splits.tests, FULL])}")


def _iterate(records: Sequence[FaceRecord]):
    return (records[i] for i in range(len(records)))


def locate(splits: Splits, subset: str, index: int) -> tuple[str, int]:
    """(subset, index) of face `index` of `subset`, resolving "full" into the subset that holds it."""
    if subset != FULL:
        n = len(subset_records(splits, subset))
        if not 0 <= index < n:
            raise InputError(f"face index {index} out of range: subset {subset!r} has {n} faces")
        return subset, index
    rest = index
    for name, records in splits.tests.items():
        if 0 <= rest < len(records):
            return name, rest
        rest -= len(records)
    total = sum(len(r) for r in splits.tests.values())
    raise InputError(f"face index {index} out of range: subset 'full' has {total} faces")


def face_record(run: Run, subset: str, index: int, splits: Splits | None = None) -> FaceRecord:
    """Face `index` of a run's test `subset` (synthetic faces are re-rendered, deterministically, not stored)."""
    splits = splits or evaluation_splits(run.config, run.metrics.get("test_data"))
    name, i = locate(splits, subset, index)
    return splits.tests[name][i]


def face_prediction(pred: Mapping[str, np.ndarray], index: int) -> dict[str, np.ndarray]:
    """One face's slice of a subset's prediction arrays (N, ...) -> (...)."""
    n = len(pred["points"])
    if not 0 <= index < n:
        raise InputError(f"face index {index} out of range: the predictions hold {n} faces")
    return {k: np.asarray(v)[index] for k, v in pred.items() if np.ndim(v) > 0}


def subset_predictions(run: Run, subset: str) -> dict[str, np.ndarray]:
    """A run's stored predictions for one test subset; InputError naming the run's subsets if it has none."""
    preds = run.predictions
    if subset not in preds:
        raise InputError(f"run {run.name} has no predictions for subset {subset!r}; it has {', '.join(preds)}")
    return preds[subset]


def same_faces(pred_a: Mapping[str, np.ndarray], pred_b: Mapping[str, np.ndarray], tol: float = 1e-6) -> bool:
    """Whether two runs' predictions of a subset are for the same faces (same ground truth, in the same order)."""
    ga, gb = np.asarray(pred_a["gt"]), np.asarray(pred_b["gt"])
    return ga.shape == gb.shape and bool(np.allclose(ga, gb, atol=tol, equal_nan=True))


def record_mismatch(record: FaceRecord, face: Mapping[str, np.ndarray], tol: float = 0.05) -> str:
    """"" when a re-rendered test face has the ground truth its stored prediction was scored against, else a
    message saying by how much they differ (e.g. the synthetic generator changed after the run was evaluated)."""
    gt = np.asarray(face["gt"], np.float64)
    if gt.shape != record.points.shape:
        return f"the face now has {record.num_points} landmarks but the run stored {len(gt)}"
    err = float(np.max(np.abs(gt - record.points)))
    if err > tol or not np.array_equal(np.asarray(face["visible"], bool), np.asarray(record.visible, bool)):
        return (f"this face, re-created now, differs from the one the run was evaluated on (ground truth moved by up "
                f"to {err:.2f} px or visibility changed): the data generator or files changed since. Points and NMEs "
                f"below use the stored ground truth; the picture and heatmaps are of the face as it is now")
    return ""


# ------------------------------------------------------------------------------------------ per-face tables

def face_nme_table(run: Run, subset: str) -> pd.DataFrame:
    """Columns face, nme (% inter-ocular) for every face of a run's subset, in index order."""
    pred = subset_predictions(run, subset)
    nmes = face_nmes(pred, pred["gt"].shape[1])
    return pd.DataFrame({"face": np.arange(len(nmes)), "nme": 100.0 * nmes})


def worst_faces(run: Run, subset: str, n: int | None = None) -> pd.DataFrame:
    """The n faces (all for None) of a run's subset with the highest NME first: columns face, nme (%)."""
    table = face_nme_table(run, subset).sort_values(["nme", "face"], ascending=[False, True], kind="stable")
    return (table if n is None else table.head(n)).reset_index(drop=True)


def faces_a_beats_b(run_a: Run, run_b: Run, subset: str) -> pd.DataFrame:
    """Faces of `subset` sorted by how much run A beats run B: columns face, nme_a, nme_b (% inter-ocular) and
    gain = nme_b - nme_a (> 0: A is better on that face), largest gain first.

    Raises InputError when the runs were evaluated on different faces (another seed, size or data)."""
    pa, pb = subset_predictions(run_a, subset), subset_predictions(run_b, subset)
    if not same_faces(pa, pb):
        raise InputError(f"runs {run_a.name} and {run_b.name} were evaluated on different {subset!r} faces "
                         f"(different data, seed, test size or image size); face-by-face comparison needs the "
                         f"same faces")
    a, b = face_nme_table(run_a, subset), face_nme_table(run_b, subset)
    table = pd.DataFrame({"face": a["face"], "nme_a": a["nme"], "nme_b": b["nme"], "gain": b["nme"] - a["nme"]})
    return table.sort_values(["gain", "face"], ascending=[False, True], kind="stable").reset_index(drop=True)


star_vs_mse_faces = faces_a_beats_b  # "on which faces does STAR beat MSE?": faces_a_beats_b(star_run, mse_run, s)


def _inter_ocular(gt: np.ndarray, k: int) -> float:
    return float(metrics.normaliser(np.asarray(gt, np.float64)[None], get_scheme(k), "inter_ocular")[0])


def landmark_errors(points: np.ndarray, gt: np.ndarray, visible: np.ndarray | None = None) -> pd.DataFrame:
    """One face, one run: per landmark (K rows) index, name, group, visible, error_px and error_nme (% of the
    inter-ocular distance of this face). Invisible landmarks keep their error but are flagged (NME ignores them)."""
    gt = np.asarray(gt, np.float64)
    k = len(gt)
    scheme = get_scheme(k)
    err = np.linalg.norm(np.asarray(points, np.float64) - gt, axis=-1)
    vis = np.ones(k, bool) if visible is None else np.asarray(visible, bool)
    return pd.DataFrame({"landmark": np.arange(k), "name": scheme.names, "group": scheme.group_of(),
                         "visible": vis, "error_px": err, "error_nme": 100.0 * err / _inter_ocular(gt, k)})


def per_landmark_errors(pred: Mapping[str, Mapping[str, np.ndarray]], subset: str, index: int) -> pd.DataFrame:
    """landmark_errors of face `index` of `subset` from a run's predictions ({subset: arrays}, Run.predictions)."""
    if subset not in pred:
        raise InputError(f"no predictions for subset {subset!r}; available: {', '.join(pred)}")
    face = face_prediction(pred[subset], index)
    return landmark_errors(face["points"], face["gt"], face["visible"])


def errors_by_run(face_preds: Mapping[str, Mapping[str, np.ndarray]], gt: np.ndarray,
                  visible: np.ndarray | None = None) -> pd.DataFrame:
    """One face, several runs: landmark, name, group, visible, then one column "<run> (%)" per run with the
    landmark's error in % inter-ocular."""
    table = None
    for name, pred in face_preds.items():
        t = landmark_errors(pred["points"], gt, visible)
        if table is None:
            table = t[["landmark", "name", "group", "visible"]].copy()
        table[f"{name} (%)"] = t["error_nme"].round(2)
    return table if table is not None else pd.DataFrame()


def face_nme(points: np.ndarray, gt: np.ndarray, visible: np.ndarray | None = None) -> float:
    """NME (% inter-ocular) of one face: the same number predictions.npz and the tables give for it."""
    gt = np.asarray(gt, np.float64)
    vis = None if visible is None else np.asarray(visible, bool)[None]
    return 100.0 * float(metrics.nme(np.asarray(points)[None], gt[None], vis, _inter_ocular(gt, len(gt)))[0])


# ------------------------------------------------------------------------------------- live model on a face



def _one_face(model: torch.nn.Module, record: FaceRecord, cfg: RunConfig) -> LandmarkDataset:
    return LandmarkDataset([record], model.input_size, crop_scale=cfg.crop_scale)


@torch.no_grad()
def run_heatmaps(model: torch.nn.Module, record: FaceRecord, cfg: RunConfig
                 ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """The model's view of one face: crop (S, S, 3) uint8, the normalised heatmaps P (K, h, w) (each sums to 1;
    softmax or relu as the run's decoder uses them; None for a coordinate-regression model) and the crop matrix
    (2, 3) image -> crop. Raises InputError when the model's K differs from the face's."""
    check_num_points(model, record.num_points, cfg.name)
    sample = _one_face(model, record, cfg)[0]
    crop, matrix = tensor_to_image(sample["image"]), sample["matrix"].numpy()
    if getattr(model, "output", "heatmap") != "heatmap":
        return crop, None, matrix
    model.eval()
    final = model(sample["image"][None])[-1].float()
    p = normalize(final, distribution_mode(run_decoder(cfg)), cfg.softargmax_temperature)
    return crop, p[0].cpu().numpy(), matrix








# --------------------------------------------------------------------------------------- user-given datasets

def dataset_faces(spec: str) -> list[FaceRecord]:
    """Every face of a real-format data source "300w:PATH", "wflw:LIST[:ROOT]", "cofw:MAT", "aflw:LIST[:ROOT]"."""
    if not parse_sources(spec.strip()):
        raise InputError("synthetic faces are the runs' test faces: pick 'Test faces'; here give a real data "
                         "source such as 300w:/path/to/folder")
    return read_sources(spec.strip())


def record_image(record: FaceRecord) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a record (its array, or its file read from disk)."""
    return load_image(record.image)


def face_thumbnail(image: np.ndarray, gt: np.ndarray | None, points: np.ndarray | None, side: int = 160
                   ) -> np.ndarray:
    """A small picture for the gallery: GT (green) and one run's points (red) drawn, resized to `side` px wide."""
    import cv2

    from lab.viz.draw import GT_COLOUR, PRED_COLOUR, draw_points

    scale = side / image.shape[1]
    out = cv2.resize(image, (side, max(1, round(image.shape[0] * scale))), interpolation=cv2.INTER_AREA)
    to_small = lambda p: (np.asarray(p, np.float64) + 0.5) * scale - 0.5  # noqa: E731 - pixel-centre resize
    for pts, colour in ((gt, GT_COLOUR), (points, PRED_COLOUR)):
        if pts is not None:
            out = draw_points(out, to_small(pts), colour, contours=False, radius=1.0)
    return out


# ----------------------------------------------------------------------------------------------- uploads

def image_size_from_header(data: bytes) -> tuple[str, int, int]:
    """(format, width, height) read from a PNG, JPEG or BMP header without decoding the pixels.

    Raises InputError for any other content (text, PDF, GIF, ...) or a truncated header."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise InputError("PNG file without a valid header (truncated or corrupt)")
        w, h = struct.unpack(">II", data[16:24])
        return "PNG", w, h
    if data[:2] == b"BM":
        if len(data) < 26:
            raise InputError("BMP file without a valid header (truncated)")
        w, h = struct.unpack("<ii", data[18:26])
        return "BMP", abs(w), abs(h)
    if data[:2] == b"\xff\xd8":
        return ("JPEG", *_jpeg_size(data))
    raise InputError("not an image: the file is not a PNG, JPEG or BMP (its first bytes are "
                     f"{data[:8]!r}); upload a photo of a face")


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a JPEG's start-of-frame segment."""
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise InputError("JPEG file with a corrupt header (expected a marker)")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            i += 2
            continue
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in _SOF:
            if i + 9 > len(data):
                break
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return w, h
        i += 2 + length
    raise InputError("JPEG file without a frame header (truncated or corrupt)")


def load_upload(data: bytes, name: str = "upload", max_bytes: int = MAX_UPLOAD_BYTES,
                max_pixels: int = MAX_UPLOAD_PIXELS, max_side: int = MAX_SIDE) -> tuple[np.ndarray, str]:
    """Decode an uploaded image safely: (image (H, W, 3) uint8 RGB, a note ("" or how it was resized)).

    Checks, before decoding, the byte size (<= max_bytes) and the pixel count the header declares
    (<= max_pixels); images larger than max_side on a side are downscaled (the note says so).
    Raises InputError naming the file and the problem."""
    import cv2

    if len(data) == 0:
        raise InputError(f"{name}: empty file")
    if len(data) > max_bytes:
        raise InputError(f"{name}: file is {len(data) / 2**20:.1f} MiB; the limit is {max_bytes / 2**20:.0f} MiB")
    try:
        fmt, w, h = image_size_from_header(data)
    except InputError as e:
        raise InputError(f"{name}: {e}") from None
    if w == 0 or h == 0:
        raise InputError(f"{name}: {fmt} header declares an empty {w}x{h} image")
    if w * h > max_pixels:
        raise InputError(f"{name}: {fmt} image is {w}x{h} = {w * h / 1e6:.0f} megapixels; the limit is "
                         f"{max_pixels / 1e6:.0f} megapixels (downscale it first)")
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if bgr is None:
        raise InputError(f"{name}: {fmt} file could not be decoded (corrupt or truncated)")
    image = np.ascontiguousarray(bgr[:, :, ::-1])
    note = ""
    if max(image.shape[:2]) > max_side:
        s = max_side / max(image.shape[:2])
        size = (max(1, round(image.shape[1] * s)), max(1, round(image.shape[0] * s)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        note = f"{name}: {w}x{h} image downscaled to {size[0]}x{size[1]} for display and prediction"
    return image, note
