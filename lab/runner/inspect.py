"""Runs face by face, for the dashboard's Inspect view and the notebooks: faces of a run's test subsets, a model's
heatmaps and predictions for one face, per-landmark errors, faces sorted by NME ("the worst faces") or by the NME
difference of two runs ("where A beats B"), NME per face attribute, and the alignment of predicted covariances with
the face's contours.

No pictures and no front-end here: plain functions of runs, records and arrays (lab.viz draws them, lab.dashboard
caches and lays them out, lab.notebook shows them). Points are (x, y) in original image pixels, pixel-centre
convention (DESIGN.md).
"""
from __future__ import annotations

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
from lab.runner.evaluate import face_nmes, predict, run_decoding
from lab.runner.predict import check_num_points
from lab.runner.runs import Run
from lab.schema import get_scheme

FULL = "full"  # the concatenation of every test subset, as evaluate_run stores it
SAME_TEST_FACES = ("data", "test_n", "synth_size", "seed")  # the config entries that decide synthetic test faces


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
    splits = splits or evaluation_splits(run.metrics.get("test_data"), **run.config.split_args())
    name, i = locate(splits, subset, index)
    return splits.tests[name][i]


def synthetic_test_faces(run: Run, subset: str):
    """The synthetic test faces a run was evaluated on, re-rendered (same split, count, size and seed as its
    config); ValueError for a run on other data."""
    from lab.data.synthetic import SyntheticFaces

    cfg = run.config
    if cfg.data != "synthetic":
        raise ValueError(f"run {run.name}: its test faces are not synthetic ({cfg.data!r}); cannot re-render them")
    return SyntheticFaces(subset, n=cfg.test_n, size=cfg.synth_size, seed=cfg.seed)


def check_same_test_faces(run_a: Run, run_b: Run) -> None:
    """ValueError unless two runs were tested on the same faces (the SAME_TEST_FACES entries of their configs)."""
    if any(getattr(run_a.config, k) != getattr(run_b.config, k) for k in SAME_TEST_FACES):
        raise ValueError(f"runs {run_a.name} and {run_b.name} were tested on different faces "
                         f"({', '.join(SAME_TEST_FACES)})")


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


def attribute_table(run_list: Sequence[Run], subset: str = "challenge") -> pd.DataFrame:
    """Mean inter-ocular NME (%) per run over the test faces carrying each attribute flag (pose, expression,
    illumination, make_up, occlusion, blur), plus all faces: a WFLW-style breakdown of synthetic runs. Each run is
    scored on its own test faces (runs of different suites draw different test sets: seed, size); "faces" is how
    many it has, "<flag> faces" how many carry each flag."""
    rows = {}
    for run in run_list:
        pred = run.predictions.get(subset)
        if pred is None or run.config.data != "synthetic":
            continue
        faces = synthetic_test_faces(run, subset)
        flags = pd.DataFrame([faces[i].attributes for i in range(len(faces))]).astype(bool)
        nmes = 100 * face_nmes(pred, pred["gt"].shape[1])
        if len(flags) != len(nmes):
            raise InputError(f"{run.path}: {len(nmes)} predictions on {subset!r} but its config regenerates "
                             f"{len(flags)} test faces")
        row = {"faces": len(nmes), "all faces": nmes.mean()}
        for k in flags.columns:
            row[k] = nmes[flags[k].to_numpy()].mean() if flags[k].any() else np.nan
            row[f"{k} faces"] = int(flags[k].sum())
        rows[run.name] = row
    return pd.DataFrame(rows).T.round(2)


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
    (2, 3) image -> crop. Raises ValueError when the model's K differs from the face's."""
    check_num_points(model, record.num_points, cfg.name)
    sample = _one_face(model, record, cfg)[0]
    crop, matrix = tensor_to_image(sample["image"]), sample["matrix"].numpy()
    if getattr(model, "output", "heatmap") != "heatmap":
        return crop, None, matrix
    model.eval()
    final = model(sample["image"][None])[-1].float()
    p = run_decoding(cfg).distribution(final)
    return crop, p[0].cpu().numpy(), matrix


def run_faces(run: Run, subset: str = "common", indices: Sequence[int] = (0, 1, 2),
              landmarks: Sequence[int] | None = None):
    """Re-render faces `indices` of a synthetic run's test subset and predict them with the run's model (CPU).

    Returns (records, per-face prediction dicts (the keys of lab.runner.evaluate.predict, one face each, image px),
    maps: per face (P (K', h, w), the normalised predicted maps of `landmarks` (None: all), the crop matrix (2, 3)
    image -> crop, the model's stride); empty for coordinate models). lab.viz.overlay.heatmap_on_image warps a
    map into the image."""
    cfg = run.config
    faces = synthetic_test_faces(run, subset)
    records = [faces[i] for i in indices]
    device = torch.device("cpu")
    model = run.load_model(device)
    ds = LandmarkDataset(records, model.input_size, crop_scale=cfg.crop_scale)
    pred = predict(model, ds, device, run_decoding(cfg))
    per_face = [face_prediction(pred, j) for j in range(len(records))]
    maps = []
    if model.output == "heatmap":
        for rec in records:
            _, p, matrix = run_heatmaps(model, rec, cfg)
            maps.append((p if landmarks is None else p[list(landmarks)], matrix, model.stride))
    return records, per_face, maps


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


# -------------------------------------------------------------------------------------- contour alignment

def contour_alignment(pred: Mapping[str, np.ndarray], min_group: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """For every visible contour point of a prediction dict (cov (N, K, 2, 2), gt (N, K, 2), visible (N, K)):
    the angle in degrees [0, 90] between the major axis of the predicted covariance and the ground-truth contour
    tangent (uniform for random axes), and the anisotropy sqrt(l2 / l1). Contour points: members of the scheme's
    groups with >= min_group points. Returns two (M,) arrays."""
    from lab.data.synthetic.label_noise import contour_tangents

    gt, cov, vis = pred["gt"], pred["cov"], pred["visible"].astype(bool)
    scheme = get_scheme(gt.shape[1])
    on_contour = np.zeros(gt.shape[1], bool)
    for idx in scheme.groups.values():
        if len(idx) >= min_group:
            on_contour[list(idx)] = True
    tangents = np.stack([contour_tangents(g, scheme) for g in gt])  # (N, K, 2)
    values, vectors = np.linalg.eigh(0.5 * (cov + np.swapaxes(cov, -1, -2)))
    major = vectors[..., :, 1]
    keep = vis & on_contour[None, :] & (np.linalg.norm(tangents, axis=-1) > 0)
    cos = np.abs((major * tangents).sum(-1) / np.linalg.norm(tangents, axis=-1).clip(1e-12))[keep]
    ratio = np.sqrt(np.clip(values[..., 1], 0, None) / np.clip(values[..., 0], 1e-12, None))[keep]
    return np.degrees(np.arccos(np.clip(cos, 0.0, 1.0))), ratio


def contour_alignments(run_map: Mapping[str, Run], subset: str = "common", only: Sequence[str] | None = None
                       ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{name: contour_alignment of its stored `subset` predictions} for the runs {name: Run} that predict
    covariances (heatmap runs; `only` picks names)."""
    out = {}
    for name, run in run_map.items():
        if only is not None and name not in only:
            continue
        pred = run.predictions.get(subset, {})
        if "cov" in pred:
            out[name] = contour_alignment(pred)
    return out
