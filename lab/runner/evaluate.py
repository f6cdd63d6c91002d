"""Run a model over a dataset, decode, map back to image coordinates, and score with every normaliser."""
from __future__ import annotations

import time
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from lab import metrics
from lab.atomic import write_json_atomic
from lab.data.dataset import LandmarkDataset
from lab.data.sources import Splits, evaluation_splits, open_splits
from lab.data.transforms import invert_affine
from lab.config import RunConfig
from lab.heatmaps import DECODERS, decode, from_heatmap_coords, get_decoder
from lab.losses import get_loss_spec
from lab.moments import moments
from lab.runner import runs
from lab.runner.device import pick_device
from lab.schema import get_scheme

NORMALISERS = ("inter_ocular", "inter_pupil", "box", "diagonal")
THRESHOLDS = (0.1, 0.08, 0.05)


@dataclass(frozen=True)
class Decoding:
    """How a run's final outputs become points: its decoder, that decoder's parameters, the softmax temperature the
    run trained at. Build it with `run_decoding(cfg)`, the one place this is resolved."""

    decoder: str
    kw: dict = field(default_factory=dict)
    temperature: float = 1.0

    def kwargs_for(self, name: str) -> dict:
        """Parameters for decoder `name`: the run's own for its decoder, the defaults for the others; a decoder with a
        temperature parameter gets the run's temperature unless its parameters say otherwise."""
        kw = dict(self.kw) if name == self.decoder else {}
        if "temperature" in get_decoder(name).params:
            kw.setdefault("temperature", self.temperature)
        return kw

    def points(self, final: torch.Tensor, model_output: str, name: str | None = None) -> torch.Tensor:
        """(B, K, 2) heatmap-pixel points from a model's final output ((B, K, h, w) heatmaps or (B, K, 2) coords),
        decoded with the run's decoder (or decoder `name`, e.g. soft-argmax for a coordinate loss in training)."""
        if model_output == "coords":
            return final
        name = name or self.decoder
        return decode(final, name, **self.kwargs_for(name))

    def distribution(self, final: torch.Tensor) -> torch.Tensor:
        """P (B, K, h, w): the maps as the run's decoder reads them (softmax at the run's temperature, or relu)."""
        return get_decoder(self.decoder).distribution_of(final, self.temperature)


def run_decoding(cfg: RunConfig) -> Decoding:
    """The decoding a run is evaluated with, so that it is always decoded as it was trained: the config's decoder or
    its loss's (LossSpec.decoder), the config's decoder_kw, and the temperature of the loss's softmax (the loss
    hyper-parameter LossSpec.temperature names, e.g. LaplaceKL's) or else the runner's soft-argmax temperature (for
    coordinate losses on heatmap models)."""
    spec = get_loss_spec(cfg.loss)
    if spec.temperature is not None:
        temperature = float({**spec.defaults, **cfg.loss_kw}[spec.temperature])
    else:
        temperature = float(cfg.softargmax_temperature)
    name = cfg.decoder or spec.decoder
    get_decoder(name)  # an unknown name fails here, naming the valid ones
    return Decoding(name, dict(cfg.decoder_kw), temperature)


def _to_image(points_h: np.ndarray, matrix_inv: np.ndarray, stride: float) -> np.ndarray:
    """(B, K, 2) heatmap px -> image px through crop px and the inverse crop matrices (B, 2, 3)."""
    crop = from_heatmap_coords(points_h, stride)
    return crop @ np.swapaxes(matrix_inv[:, :, :2], -1, -2) + matrix_inv[:, None, :, 2]


def _cov_to_image(cov_h: np.ndarray, matrix_inv: np.ndarray, stride: float) -> np.ndarray:
    """(B, K, 2, 2) heatmap px^2 -> image px^2: A (stride^2 C) A^T with A the inverse crop's linear part."""
    a = matrix_inv[:, None, :, :2]
    return stride**2 * a @ cov_h @ np.swapaxes(a, -1, -2)


@torch.no_grad()
def predict(model: torch.nn.Module, dataset: LandmarkDataset, device: torch.device, decoding: Decoding,
            batch_size: int = 64, workers: int = 0) -> dict[str, np.ndarray]:
    """Predictions for every face of `dataset`, in original image coordinates.

    Returns numpy arrays: points (N, K, 2) decoded; gt (N, K, 2); visible (N, K); box (N, 4); and for heatmap
    models the moments of the predicted distribution: mean (N, K, 2), cov (N, K, 2, 2) (image px^2),
    laplace_scale (N, K, 2) (image px, along the crop axes), spread (N, K) (model-input px, as the Laplace
    paper reports it), plus argmax and
    every registered decoder's points (N, K, 2) for side-by-side inspection ("<decoder>_points"; the run's own
    decoder with its parameters, the others with their defaults: Decoding.kwargs_for); seconds (float) and fps.
    Moments are of P as the run's decoder reads the maps (Decoding.distribution).
    """
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    stride = float(getattr(model, "stride", 1))
    out: dict[str, list] = {}
    start = time.perf_counter()
    for batch in loader:
        final = model(batch["image"].to(device))[-1].float()
        inv = invert_affine(batch["matrix"].numpy())
        rows = {
            "points": _to_image(decoding.points(final, model.output).cpu().numpy(), inv, stride),
            "gt": batch["image_points"].numpy(),
            "visible": batch["visible"].numpy(),
            "box": batch["box"].numpy(),
        }
        if model.output == "heatmap":
            p = decoding.distribution(final)
            mean, cov, scale = moments(p)
            lin_scale = np.sqrt(np.abs(np.linalg.det(inv[:, :, :2])))[:, None, None]
            rows.update(
                mean=_to_image(mean.cpu().numpy(), inv, stride),
                cov=_cov_to_image(cov.cpu().numpy(), inv, stride),
                laplace_scale=scale.cpu().numpy() * stride * lin_scale,
                spread=metrics.heatmap_spread(p).cpu().numpy() * stride,
                **{f"{name}_points": _to_image(decoding.points(final, "heatmap", name).cpu().numpy(), inv, stride)
                   for name in DECODERS},
            )
        for k, v in rows.items():
            out.setdefault(k, []).append(np.asarray(v))
    seconds = time.perf_counter() - start
    result = {k: np.concatenate(v) for k, v in out.items()}
    result["seconds"] = np.float64(seconds)
    result["fps"] = np.float64(len(dataset) / max(seconds, 1e-9))
    return result


def face_nmes(pred: dict[str, np.ndarray], num_points: int, kind: str = "inter_ocular",
              points: str = "points") -> np.ndarray:
    """(N,) NME per face of a prediction dict with the given normaliser; `points` picks the decoded set
    ("points" = the run's decoder, or "argmax_points", "soft_argmax_points", "barycenter_points")."""
    scheme = get_scheme(num_points)
    norm = metrics.normaliser(pred["gt"], scheme, kind)  # box normalisers use the ground-truth points' box
    return metrics.nme(pred[points], pred["gt"], pred["visible"], norm)


def subset_metrics(pred: dict[str, np.ndarray], num_points: int) -> dict[str, float]:
    """NME (each normaliser), FR and AUC at 0.1 / 0.08 / 0.05 (inter-ocular), spread, N for one subset."""
    out: dict[str, float] = {"n": int(pred["gt"].shape[0])}
    for kind in NORMALISERS:
        out[f"nme_{kind}"] = float(np.mean(face_nmes(pred, num_points, kind)))
    io = face_nmes(pred, num_points, "inter_ocular")
    for t in THRESHOLDS:
        out[f"fr@{t}"] = float(metrics.failure_rate(io, t))
        out[f"auc@{t}"] = float(metrics.auc(io, t))
    if "spread" in pred:
        out["spread_px"] = float(np.mean(pred["spread"]))
    return out


def concat_predictions(preds: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Concatenate per-face arrays of several prediction dicts (the 'full' set = common + challenge)."""
    keys = [k for k, v in preds[0].items() if np.ndim(v) > 0]
    return {k: np.concatenate([p[k] for p in preds]) for k in keys}


def evaluate_run(run_dir: str | Path, device: torch.device | None = None, splits: Splits | None = None,
                 extra: dict[str, Any] | None = None, box_jitter: tuple[float, float] | None = None,
                 test_data: dict[str, list[str]] | None = None) -> runs.Run:
    """Evaluate a run's selected model on its test subsets; write metrics.json and predictions.npz.
    test_data {subset: [real data spec, ...]} evaluates on those faces too (kept for later evaluations): they are
    added to what the run already held (its validation table and predictions stay), replacing subsets of the same
    name."""
    run = runs.open_run(run_dir)
    cfg = run.config
    device = device or pick_device(cfg.device)
    previous = run.metrics if (run.path / runs.METRICS).exists() else {}
    test_data = test_data or previous.get("test_data")
    if test_data != previous.get("test_data"):  # other test faces: robustness measured on the old ones is stale
        previous = {k: v for k, v in previous.items() if k not in ("box_jitter", "temporal_jitter")}
    splits = evaluation_splits(test_data, **cfg.split_args()) if test_data else splits or open_splits(**cfg.split_args())
    model = run.load_model(device)
    if model.num_points != splits.num_points:
        raise ValueError(f"{run.path / runs.MODEL}: model predicts K={model.num_points} points but the data has "
                         f"K={splits.num_points}")
    decoding = run_decoding(cfg)
    preds = {}
    for name, records in splits.tests.items():
        ds = LandmarkDataset(records, model.input_size, crop_scale=cfg.crop_scale, box_jitter=box_jitter, seed=cfg.seed)
        preds[name] = predict(model, ds, device, decoding, workers=cfg.workers)
    if len(preds) > 1:
        preds["full"] = concat_predictions(list(preds.values()))
    table = {name: subset_metrics(p, splits.num_points) for name, p in preds.items()}
    fps = float(np.mean([float(p["fps"]) for n, p in preds.items() if n != "full"]))
    # what the run held before stays (e.g. its validation table when named test sets are added), except subsets
    # of the same name and an old "full" this evaluation did not recompute (it would mix old and new faces)
    kept = [n for n in previous.get("subsets", {}) if n not in table and n != "full"]
    table = {**{n: previous["subsets"][n] for n in kept}, **table}
    result = {"subsets": table, "decoder": decoding.decoder, "eval_fps": fps, **(extra or {})}
    if test_data:
        result["test_data"] = test_data
    new_preds = {n: {k: v for k, v in p.items() if np.ndim(v) > 0} for n, p in preds.items()}
    if kept and (run.path / runs.PREDICTIONS).exists():
        old = runs.load_predictions(run.path / runs.PREDICTIONS)
        new_preds = {**{n: old[n] for n in kept if n in old}, **new_preds}
    runs.save_predictions(run.path / runs.PREDICTIONS, new_preds)
    write_json_atomic(run.path / runs.METRICS, {**previous, **result})
    return runs.open_run(run.path)
