"""The robustness protocol: NME as the face box is shifted and scaled by growing noise, and temporal jitter."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from lab import metrics
from lab.data.dataset import LandmarkDataset
from lab.data.sources import evaluation_splits
from lab.runner.device import pick_device
from lab.runner.evaluate import face_nmes, predict, run_decoding
from lab.runner.runs import open_run


def _run_parts(run_dir: str | Path, device: torch.device | None):
    run = open_run(run_dir)
    cfg = run.config
    device = device or pick_device(cfg.device)
    return run, cfg, device, run.load_model(device), run_decoding(cfg)


def _decoded(pred: dict, decoder: str, own: str) -> str:
    """The prediction key holding `decoder`'s points (coordinate models only have their own)."""
    key = "points" if decoder == own else f"{decoder}_points"
    if key not in pred:
        raise ValueError(f"decoder {decoder!r} is not available for this model (it does not output heatmaps)")
    return key


def box_jitter_curve(run_dir: str | Path, levels: Sequence[float], device: torch.device | None = None,
                     decoders: Sequence[str] | None = None) -> pd.DataFrame:
    """Mean inter-ocular NME per test subset, jitter level (box centre shift and log-scale std, both = level) and
    decoder (default: the run's own; one forward pass serves every decoder).

    The jitter draw for face i is seeded by (run seed, level index, i), so every run sees the same boxes.
    Columns: run, level, subset, decoder, nme.
    """
    run, cfg, device, model, decoding = _run_parts(run_dir, device)
    own = decoding.decoder
    splits = evaluation_splits(run.metrics.get("test_data"), **cfg.split_args())
    rows = []
    for li, level in enumerate(levels):
        for subset, records in splits.tests.items():
            ds = LandmarkDataset(records, model.input_size, crop_scale=cfg.crop_scale,
                                 box_jitter=(level, level) if level > 0 else None, seed=cfg.seed)
            ds.set_epoch(li)
            pred = predict(model, ds, device, decoding, workers=cfg.workers)
            for dec in decoders or [own]:
                nmes = face_nmes(pred, model.num_points, points=_decoded(pred, dec, own))
                rows.append({"run": run.name, "level": level, "subset": subset, "decoder": dec, "nme": float(nmes.mean())})
    return pd.DataFrame(rows)


def temporal_jitter(run_dir: str | Path, n_sequences: int = 4, frames: int = 48, device: torch.device | None = None,
                    decoders: Sequence[str] | None = None) -> pd.DataFrame:
    """High-frequency energy of the prediction error on smooth synthetic sequences (lab.metrics.temporal_jitter:
    mean squared second difference, px^2 of the synthetic render), per decoder; the crop follows each frame's
    ground-truth box."""
    from lab.data.synthetic import sequence

    run, cfg, device, model, decoding = _run_parts(run_dir, device)
    own = decoding.decoder
    values: dict[str, list[float]] = {d: [] for d in decoders or [own]}
    for s in range(n_sequences):
        records = sequence(seed=cfg.seed * 1000 + s, T=frames, size=cfg.synth_size)
        ds = LandmarkDataset(records, model.input_size, crop_scale=cfg.crop_scale)
        pred = predict(model, ds, device, decoding)
        for dec in values:
            values[dec].append(metrics.temporal_jitter(pred[_decoded(pred, dec, own)] - pred["gt"]))
    return pd.DataFrame([{"run": run.name, "decoder": d, "temporal_jitter": float(np.mean(v))} for d, v in values.items()])
