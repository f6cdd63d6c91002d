"""Landmarks for any photo with a trained run: `python -m lab predict --run RUN IMAGE [--box x0 y0 x1 y1]`."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import torch

from lab.atomic import write_bytes_atomic
from lab.data.formats import load_image, write_pts
from lab.data.record import FaceRecord
from lab.evaluate import predict
from lab.data.dataset import LandmarkDataset
from lab.runs import open_run
from lab.viz.draw import draw_points


def default_box(image: np.ndarray, crop_scale: float) -> np.ndarray:
    """Without a box the whole image is taken as a face crop like the training crops: the centred square of side
    max(H, W) / crop_scale, so the crop the model sees spans the whole image."""
    h, w = image.shape[:2]
    side = max(h, w) / crop_scale
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2])


def predict_points(run_dir: str | Path, image: np.ndarray | str | Path, box: Sequence[float] | None = None,
                   device: str | torch.device = "cpu") -> dict[str, np.ndarray]:
    """Predictions (points (K, 2) in image pixels, plus heatmap moments) for one face of one image."""
    run = open_run(run_dir)
    model = run.load_model(device)
    cfg = run.config
    img = load_image(image)
    box = np.asarray(box, dtype=np.float64) if box is not None else default_box(img, cfg.crop_scale)
    if box.shape != (4,) or not np.all(np.isfinite(box)) or box[2] <= box[0] or box[3] <= box[1]:
        raise ValueError(f"face box must be x0 y0 x1 y1 with x1 > x0 and y1 > y0, got {box.tolist()}")
    k = model.num_points
    record = FaceRecord(image=img, points=np.zeros((k, 2)), visible=np.ones(k, bool), box=box, source=str(image))
    ds = LandmarkDataset([record], model.input_size, crop_scale=cfg.crop_scale)
    from lab.losses import get_loss_spec

    decoder = cfg.decoder or get_loss_spec(cfg.loss).decoder
    pred = predict(model, ds, torch.device(device), decoder, cfg.decoder_kw, cfg.softargmax_temperature, batch_size=1)
    return {k2: v[0] for k2, v in pred.items() if np.ndim(v) > 0 and k2 not in ("gt", "visible")} | {"box": box}


def predict_image(run_dir: str | Path, image_path: str | Path, box: Sequence[float] | None = None,
                  out_dir: str | Path | None = None) -> dict[str, Path]:
    """Write <stem>.pts (1-based, 300-W format) and <stem>_landmarks.png (overlay) for one photo."""
    image_path = Path(image_path)
    img = load_image(image_path)
    pred = predict_points(run_dir, img, box)
    out = Path(out_dir) if out_dir else image_path.parent
    pts_path = write_pts(out / f"{image_path.stem}.pts", pred["points"])
    overlay = draw_points(img, pred["points"], box=pred["box"])
    ok, png = cv2.imencode(".png", cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError(f"could not encode the overlay for {image_path}")
    png_path = write_bytes_atomic(out / f"{image_path.stem}_landmarks.png", png.tobytes())
    return {"points": pts_path, "overlay": png_path}
