"""One face of any image as a record a model can read (checked box, placeholder points) and its prediction with a
loaded model: the pieces under lab.runner.landmarker.Landmarker and the dashboard's uploads."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from lab.config import RunConfig
from lab.data.dataset import LandmarkDataset
from lab.data.record import FaceRecord
from lab.runner.evaluate import predict, run_decoding


def default_box(image: np.ndarray, crop_scale: float) -> np.ndarray:
    """Without a box the whole image is taken as a face crop like the training crops: the centred square of side
    max(H, W) / crop_scale, so the crop the model sees spans the whole image."""
    h, w = image.shape[:2]
    side = max(h, w) / crop_scale
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2])


def check_box(box: Sequence[float], shape: tuple[int, ...]) -> np.ndarray:
    """(4,) float64 x0, y0, x1, y1 with x1 > x0, y1 > y0, finite and overlapping the image (H, W, ...)."""
    b = np.asarray(box, dtype=np.float64).reshape(-1)
    if b.shape != (4,) or not np.all(np.isfinite(b)):
        raise ValueError(f"face box must be 4 finite numbers x0 y0 x1 y1, got {list(np.ravel(box))}")
    if b[2] <= b[0] or b[3] <= b[1]:
        raise ValueError(f"face box must have x1 > x0 and y1 > y0, got {b.tolist()}")
    h, w = shape[:2]
    if b[2] < -0.5 or b[3] < -0.5 or b[0] > w - 0.5 or b[1] > h - 0.5:
        raise ValueError(f"face box {b.tolist()} lies outside the {w}x{h} image")
    return b


def image_record(image: np.ndarray, box: Sequence[float], num_points: int, source: str = "image") -> FaceRecord:
    """A FaceRecord for an unlabeled image (placeholder points at the box centre, all visible) and a checked box."""
    box = check_box(box, image.shape)
    centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
    return FaceRecord(image=image, points=np.tile(centre, (num_points, 1)), visible=np.ones(num_points, bool),
                      box=box, source=source)


def check_num_points(model: torch.nn.Module, k: int, source: str) -> None:
    """ValueError when a model predicts a different number of landmarks than the face has."""
    if getattr(model, "num_points", k) != k:
        raise ValueError(f"{source}: the checkpoint predicts K={model.num_points} landmarks but this face has K={k} "
                         f"(a checkpoint of another landmark scheme); pick a run trained on {k}-point data")


def predict_record(model: torch.nn.Module, record: FaceRecord, cfg: RunConfig,
                   device: str | torch.device = "cpu") -> dict[str, np.ndarray]:
    """One face's predictions with the run's decoder: the per-face arrays of lab.runner.evaluate.predict (points, gt,
    visible, box, and for heatmap models mean, cov, laplace_scale, spread, argmax/soft_argmax/barycenter points)."""
    check_num_points(model, record.num_points, cfg.name)
    ds = LandmarkDataset([record], model.input_size, crop_scale=cfg.crop_scale)
    pred = predict(model, ds, torch.device(device), run_decoding(cfg), batch_size=1)
    return {k: v[0] for k, v in pred.items() if np.ndim(v) > 0}
