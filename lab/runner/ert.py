"""The `ert` method: dlib's Ensemble of Regression Trees (lab/models/ert.py) trained on exactly the crops, boxes and
splits the networks use, written as an ordinary run folder and scored by the same evaluation (lab.runner.evaluate).

`train_ert(cfg)` (what `lab.runner.train.train` calls for cfg.model == "ert"): the splits from
open_splits(**cfg.split_args()), the training faces cropped by LandmarkDataset exactly as the networks' validation
crops are (cfg.crop_scale, model input size; plus `augment_copies` augmented crops per face drawn with the run's
augmentation settings when cfg.augment), one dlib.train_shape_predictor call, then model.pt, train_log.csv (one row:
training seconds, NME on the training crops and of the mean shape there, validation NME) and evaluate_run.
Its loss is "l2" (each tree is a least-squares fit of the shape residual); there is no optimiser, epoch or EMA.

Seeded (dlib's random_seed = cfg.seed) and deterministic: the same config (dlib's thread count included, which the
trees depend on: see lab/models/ert.py) gives byte-identical trees. So a run folder kept without its model.pt (at dlib's defaults the predictor is ~64 MB) is restored by
training it again: `python -m lab train --config RUN/config.json --results PARENT --resume` retrains when model.pt
is missing and only re-evaluates when it is there.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from lab import metrics
from lab.atomic import write_json_atomic
from lab.config import RunConfig
from lab.data.dataset import LandmarkDataset, tensor_to_image
from lab.data.sources import open_splits
from lab.models import build_model
from lab.models.ert import ERT
from lab.runner import runs
from lab.runner.evaluate import evaluate_run
from lab.runner.progress import progress as progress_bar
from lab.schema import get_scheme

LOSS = "l2"  # what the trees minimise: least squares on the (box-normalised) shape residual


def ert_config(cfg: RunConfig, log: Callable[[str], None] = print) -> RunConfig:
    """cfg as an ERT run: loss "l2"; the crop scale the model places its face box with (model_kw crop_scale)
    equal to the run's; dlib's thread count (model_kw num_threads, which the trees depend on) resolved and
    recorded: the option, else cfg.threads, else 0. Raises ValueError for a model_kw crop_scale that contradicts
    cfg.crop_scale."""
    if cfg.model != "ert":
        raise ValueError(f"train_ert: config {cfg.name!r} is for model {cfg.model!r}, not 'ert'")
    kw = dict(cfg.model_kw)
    if "crop_scale" in kw and float(kw["crop_scale"]) != float(cfg.crop_scale):
        raise ValueError(f"config {cfg.name!r}: model_kw crop_scale={kw['crop_scale']} differs from crop_scale="
                         f"{cfg.crop_scale}; the ERT's face box must sit where the crops put it (set crop_scale only)")
    kw["crop_scale"] = float(cfg.crop_scale)
    kw["num_threads"] = int(kw.get("num_threads") or cfg.threads or 0)
    if cfg.init_from:
        raise ValueError(f"config {cfg.name!r}: init_from does not apply to ert (its trees are trained from scratch)")
    if cfg.unlabeled:
        raise ValueError(f"config {cfg.name!r}: the adversarial branch (unlabeled) needs a heatmap network, not ert")
    if cfg.loss != LOSS:
        log(f"{cfg.name}: ert fits its trees by least squares on the points; loss set to {LOSS!r} (was {cfg.loss!r})")
    return cfg.replace(loss=LOSS, model_kw=kw)


def _comparable(cfg: RunConfig) -> dict:
    """The config without what may change between a run and its resumption (devices; torch's thread count, once
    dlib's is recorded in model_kw)."""
    return {k: v for k, v in cfg.to_dict().items() if k not in ("device", "workers", "threads")}


def crops(dataset: LandmarkDataset, progress: bool = False, desc: str = "crops"
          ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """([(S, S, 3) uint8 crops], points (N, K, 2) crop px, visible (N, K)) of every face of `dataset`."""
    images, points, visible = [], [], []
    for i in progress_bar(range(len(dataset)), enabled=progress, desc=desc, leave=False):
        item = dataset[i]
        images.append(tensor_to_image(item["image"]))
        points.append(item["points"].numpy())
        visible.append(item["visible"].numpy())
    return images, np.stack(points).astype(np.float64), np.stack(visible)


def training_crops(cfg: RunConfig, records, model: ERT, progress: bool = False
                   ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """The training faces as the networks' un-augmented crops (epoch 0), then `augment_copies` augmented crops per
    face (epochs 1..n of the dataset's augmentation draws: new synthetic faces too when cfg.fresh_faces)."""
    plain = LandmarkDataset(records, model.input_size, crop_scale=cfg.crop_scale, seed=cfg.seed)
    plain.set_epoch(0)
    images, points, visible = crops(plain, progress, "training crops")
    copies = model.options["augment_copies"] if cfg.augment else 0
    if copies:
        aug = LandmarkDataset(records, model.input_size, crop_scale=cfg.crop_scale, augment=True,
                              rotation_deg=cfg.aug_rotation, scale_jitter=cfg.aug_scale, shift_jitter=cfg.aug_shift,
                              flip=cfg.aug_flip, seed=cfg.seed)
        parts = [(images, points, visible)]
        for epoch in range(1, copies + 1):
            aug.set_epoch(epoch)
            parts.append(crops(aug, progress, f"augmented crops {epoch}/{copies}"))
        images = [im for p in parts for im in p[0]]
        points, visible = np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts])
        plain.set_epoch(0)
    return images, points, visible


def crop_nme(pred: np.ndarray, points: np.ndarray, visible: np.ndarray) -> float:
    """Mean inter-ocular NME of crop-px predictions."""
    norm = metrics.normaliser(points, get_scheme(points.shape[1]), "inter_ocular")
    return float(metrics.nme(pred, points, visible, norm).mean())


def train_ert(cfg: RunConfig, results_dir: str | Path = "results", resume: bool = False, progress: bool = True,
              log: Callable[[str], None] = print, on_epoch: Callable[[int, dict], None] | None = None) -> runs.Run:
    """Train the ERT of `cfg`, write the run folder results_dir/cfg.name and evaluate it like every network.
    resume: an existing folder of the same config is re-evaluated, or retrained when its model.pt is missing.
    on_epoch(1, row) is called once, with the training log's one row, as lab.runner.train.train does per epoch."""
    cfg = ert_config(cfg, log)
    run_dir = Path(results_dir) / cfg.name
    if (run_dir / runs.CONFIG).exists():
        if not resume:
            raise FileExistsError(f"{run_dir} already holds a run; pass --resume to continue it or pick another --name")
        saved = _comparable(ert_config(runs.open_run(run_dir).config, lambda _: None))
        differ = [k for k, v in _comparable(cfg).items() if saved.get(k) != v]
        if differ:
            raise ValueError(f"{run_dir}: cannot resume with a different config; changed: {', '.join(differ)}")
    device = torch.device("cpu")  # dlib runs on the CPU
    splits = open_splits(**cfg.split_args())
    if (run_dir / runs.MODEL).is_file() and (run_dir / runs.LOG).is_file() and resume:
        log(f"{cfg.name}: model.pt present; re-evaluating")
        previous = runs.open_run(run_dir).metrics if (run_dir / runs.METRICS).is_file() else {}
        keep = {k: previous[k] for k in ("train_seconds", "best_epoch", "best_val_nme", "epochs", "model_bytes",
                                         "ert_options") if k in previous}
        return evaluate_run(run_dir, device=device, splits=splits, extra={**keep, "device": str(device)})
    write_json_atomic(run_dir / runs.CONFIG, cfg.to_dict())
    model = build_model("ert", num_points=splits.num_points, width=cfg.width, **cfg.model_kw)
    images, points, visible = training_crops(cfg, splits.train, model, progress)
    threads = model.options["num_threads"]
    log(f"{cfg.name}: training dlib's ERT on {len(images)} crops ({len(splits.train)} faces), "
        f"{model.options['cascade_depth']} x {model.options['num_trees_per_cascade_level']} trees of depth "
        f"{model.options['tree_depth']}, {threads or 1} thread(s)")
    t0 = time.perf_counter()
    model.fit(images, points, seed=cfg.seed, threads=threads, verbose=progress)
    train_seconds = time.perf_counter() - t0
    runs.save_torch(run_dir / runs.MODEL, {"config": model.config, "model": model.state_dict()})
    mean_shape = np.broadcast_to(points.mean(0), points.shape)
    val_images, val_points, val_visible = crops(LandmarkDataset(splits.val, model.input_size, crop_scale=cfg.crop_scale,
                                                                seed=cfg.seed), progress, "validation crops")
    row = {"epoch": 1, "train_nme": crop_nme(model.predict_images(images), points, visible),
           "mean_shape_train_nme": crop_nme(mean_shape, points, visible),
           "val_nme": crop_nme(model.predict_images(val_images), val_points, val_visible),
           "train_crops": len(images), "model_bytes": model.model_bytes,
           "seconds": time.perf_counter() - t0, "train_seconds": train_seconds}
    runs.write_log(run_dir / runs.LOG, [row])
    if on_epoch:
        on_epoch(1, row)
    log(f"{cfg.name}: {train_seconds / 60:.1f} min, {model.model_bytes / 2**20:.1f} MB; NME {100 * row['train_nme']:.2f}% "
        f"on the training crops (mean shape {100 * row['mean_shape_train_nme']:.2f}%), "
        f"val {100 * row['val_nme']:.2f}%")
    run = evaluate_run(run_dir, device=device, splits=splits, extra={
        "train_seconds": train_seconds, "best_epoch": 1, "best_val_nme": row["val_nme"], "epochs": 1,
        "device": str(device), "model_bytes": model.model_bytes,
        "ert_options": {k: v for k, v in model.config.items() if k not in ("name", "num_points", "width")}})
    log(f"{cfg.name}: wrote {run_dir}")
    return run
