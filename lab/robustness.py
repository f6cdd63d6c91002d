"""The robustness protocol: NME as the face box is shifted and scaled by growing noise, and temporal jitter."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from lab import metrics
from lab.data.dataset import LandmarkDataset
from lab.data.sources import open_splits
from lab.device import pick_device
from lab.evaluate import face_nmes, predict
from lab.losses import get_loss_spec
from lab.runs import open_run


def _run_parts(run_dir: str | Path, device: torch.device | None):
    run = open_run(run_dir)
    cfg = run.config
    device = device or pick_device(cfg.device)
    return run, cfg, device, run.load_model(device), cfg.decoder or get_loss_spec(cfg.loss).decoder


def box_jitter_curve(run_dir: str | Path, levels: Sequence[float], device: torch.device | None = None,
                     decoders: Sequence[str] | None = None) -> pd.DataFrame:
    """Mean inter-ocular NME per test subset and jitter level (box centre shift and log-scale std, both = level).

    The jitter draw for face i is seeded by (run seed, level index, i), so every run sees the same boxes.
    decoders: evaluate each named decoder (default: the run's own). Columns: level, subset, decoder, nme.
    """
    run, cfg, device, model, own = _run_parts(run_dir, device)
    splits = open_splits(cfg)
    rows = []
    for li, level in enumerate(levels):
        for subset, records in splits.tests.items():
            ds = LandmarkDataset(records, model.input_size, crop_scale=cfg.crop_scale,
                                 box_jitter=(level, level) if level > 0 else None, seed=cfg.seed)
            ds.set_epoch(li)
            for dec in decoders or [own]:
                pred = predict(model, ds, device, dec, cfg.decoder_kw if dec == own else {}, cfg.softargmax_temperature)
                rows.append({"run": run.name, "level": level, "subset": subset, "decoder": dec,
                             "nme": float(face_nmes(pred, model.num_points).mean())})
    return pd.DataFrame(rows)


def temporal_jitter(run_dir: str | Path, n_sequences: int = 4, frames: int = 48, device: torch.device | None = None,
                    decoders: Sequence[str] | None = None) -> pd.DataFrame:
    """High-frequency energy of the prediction error on smooth synthetic sequences (lab.metrics.temporal_jitter),
    in pixels of the synthetic render, per decoder; the crop follows the ground-truth box of each frame."""
    from lab.data.synthetic import sequence

    run, cfg, device, model, own = _run_parts(run_dir, device)
    rows = []
    for dec in decoders or [own]:
        values = []
        for s in range(n_sequences):
            records = sequence(seed=cfg.seed * 1000 + s, T=frames, size=cfg.synth_size)
            ds = LandmarkDataset(records, model.input_size, crop_scale=cfg.crop_scale)
            pred = predict(model, ds, device, dec, cfg.decoder_kw if dec == own else {}, cfg.softargmax_temperature)
            values.append(metrics.temporal_jitter(pred["points"] - pred["gt"]))
        rows.append({"run": run.name, "decoder": dec, "temporal_jitter": float(np.mean(values))})
    return pd.DataFrame(rows)
