"""Run a model over a dataset, decode, map back to image coordinates, and score with every normaliser."""
from __future__ import annotations

import time
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from lab import metrics
from lab.data.dataset import LandmarkDataset
from lab.data.transforms import invert_affine
from lab.heatmaps import DECODERS, decode, from_heatmap_coords, moments, normalize, soft_argmax
from lab.schema import get_scheme

NORMALISERS = ("inter_ocular", "inter_pupil", "box", "diagonal")
DECODER_NAMES = tuple(DECODERS)
THRESHOLDS = (0.1, 0.08, 0.05)


def distribution_mode(decoder: str) -> str:
    """How a heatmap becomes a distribution for moments: softmax for soft-argmax methods, relu otherwise."""
    return "softmax" if decoder == "soft_argmax" else "relu"


def decode_outputs(final: torch.Tensor, model_output: str, decoder: str, decoder_kw: dict,
                   temperature: float = 1.0) -> torch.Tensor:
    """(B, K, 2) heatmap-pixel points from a model's final output ((B, K, h, w) heatmaps or (B, K, 2) coords)."""
    if model_output == "coords":
        return final
    if decoder == "soft_argmax":
        return soft_argmax(final, temperature=decoder_kw.get("temperature", temperature))
    return decode(final, decoder, **decoder_kw)


def _to_image(points_h: np.ndarray, matrix_inv: np.ndarray, stride: float) -> np.ndarray:
    """(B, K, 2) heatmap px -> image px through crop px and the inverse crop matrices (B, 2, 3)."""
    crop = from_heatmap_coords(points_h, stride)
    return crop @ np.swapaxes(matrix_inv[:, :, :2], -1, -2) + matrix_inv[:, None, :, 2]


def _cov_to_image(cov_h: np.ndarray, matrix_inv: np.ndarray, stride: float) -> np.ndarray:
    """(B, K, 2, 2) heatmap px^2 -> image px^2: A (stride^2 C) A^T with A the inverse crop's linear part."""
    a = matrix_inv[:, None, :, :2]
    return stride**2 * a @ cov_h @ np.swapaxes(a, -1, -2)


@torch.no_grad()
def predict(model: torch.nn.Module, dataset: LandmarkDataset, device: torch.device, decoder: str,
            decoder_kw: dict | None = None, temperature: float = 1.0, batch_size: int = 64,
            workers: int = 0) -> dict[str, np.ndarray]:
    """Predictions for every face of `dataset`, in original image coordinates.

    Returns numpy arrays: points (N, K, 2) decoded; gt (N, K, 2); visible (N, K); box (N, 4); and for heatmap
    models the moments of the predicted distribution: mean (N, K, 2), cov (N, K, 2, 2) (image px^2),
    laplace_scale (N, K, 2) (image px, along the crop axes), spread (N, K) (model-input px, as the Laplace
    paper reports it), plus argmax and
    soft_argmax and barycenter points (N, K, 2) for side-by-side inspection ("<decoder>_points"; the run's own
    decoder with its decoder_kw, the others with their defaults); seconds (float) and fps.
    """
    decoder_kw = decoder_kw or {}
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    stride = float(getattr(model, "stride", 1))
    out: dict[str, list] = {}
    start = time.perf_counter()
    for batch in loader:
        final = model(batch["image"].to(device))[-1].float()
        inv = invert_affine(batch["matrix"].numpy())
        rows = {
            "points": _to_image(decode_outputs(final, model.output, decoder, decoder_kw, temperature).cpu().numpy(), inv, stride),
            "gt": batch["image_points"].numpy(),
            "visible": batch["visible"].numpy(),
            "box": batch["box"].numpy(),
        }
        if model.output == "heatmap":
            p = normalize(final, distribution_mode(decoder), temperature)
            mean, cov, scale = moments(p)
            lin_scale = np.sqrt(np.abs(np.linalg.det(inv[:, :, :2])))[:, None, None]
            rows.update(
                mean=_to_image(mean.cpu().numpy(), inv, stride),
                cov=_cov_to_image(cov.cpu().numpy(), inv, stride),
                laplace_scale=scale.cpu().numpy() * stride * lin_scale,
                spread=metrics.heatmap_spread(p).cpu().numpy() * stride,
                **{f"{name}_points": _to_image(decode_outputs(final, "heatmap", name, decoder_kw if name == decoder else {},
                                                             temperature).cpu().numpy(), inv, stride)
                   for name in DECODER_NAMES},
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
