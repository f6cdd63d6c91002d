"""A run is a folder: config.json + checkpoint.pt + model.pt + metrics.json + predictions.npz + train_log.csv.

config.json       RunConfig (everything needed to reproduce the run) plus the device it ran on
checkpoint.pt     last completed epoch: model, optimiser, schedule, EMA, discriminator, RNG state (for --resume)
model.pt          the weights selected on the validation split, with the model's config (small; the app loads it)
metrics.json      per test subset: NME with each normaliser, FR and AUC at 0.1/0.08/0.05, spread; timing
predictions.npz   per subset and face: predicted points, ground truth, visibility, heatmap moments
train_log.csv     one row per epoch
Every file is written atomically (lab.atomic), so a run killed at any moment keeps its last good files.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lab.atomic import write_bytes_atomic, write_text_atomic
from lab.config import CONFIG_VERSION, RunConfig

FULL = "full"  # the union of a run's test subsets
CONFIG, CHECKPOINT, MODEL, METRICS, PREDICTIONS, LOG = (
    "config.json", "checkpoint.pt", "model.pt", "metrics.json", "predictions.npz", "train_log.csv")


class RunError(ValueError):
    """A run folder that cannot be read: names the folder and what is wrong."""


def save_torch(path: str | Path, obj: Any) -> Path:
    """torch.save to a temp file beside `path`, then rename over it."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    return write_bytes_atomic(path, buf.getvalue())


def load_torch(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """torch.load with weights_only=True; a missing or corrupt file raises RunError naming it."""
    path = Path(path)
    if not path.is_file():
        raise RunError(f"{path}: no such checkpoint")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises several types for truncated or foreign files
        raise RunError(f"{path}: not a readable checkpoint ({type(e).__name__}: {e})") from None


HALF_PRECISION = ("cov", "laplace_scale", "spread")  # display-only shape statistics: float16 on disk (5e-4 relative)
SAME_AS = "@"  # a stored 0-d string "@mean": this array equals the subset's array "mean" (stored once)
QUANTUM = 256  # coordinates on disk are multiples of 1/QUANTUM px (error <= 0.002 px)
OFFSET = "+points"  # "<array>+points": the array minus the subset's points, in int16 units of 1/QUANTUM px
OFFSET_MAX = np.iinfo(np.int16).max  # in those units (128 px): an array farther from the points stays float32
SYMMETRIC = "cov"  # (..., 2, 2) covariances are stored as their three distinct entries "cov~sym" (..., 3)


def save_predictions(path: str | Path, subsets: dict[str, dict[str, np.ndarray]]) -> Path:
    """predictions.npz with keys "<subset>/<array>" (e.g. "challenge/points"). Coordinates are stored as float32
    rounded to 1/QUANTUM px (error <= 0.002 px, and the low mantissa bits compress away); the shape statistics in
    HALF_PRECISION as float16; an array equal to an earlier one of its subset (e.g. points = soft_argmax_points =
    mean for a soft-argmax run) as a reference to it; the other decoders' points and the distribution mean (any
    other float array shaped like points, but not gt) as int16 offsets from the points in units of the grid
    ("<array>+points": exact, since both lie on it; an array more than 128 px from the points stays float32); the
    covariances as their entries xx, xy, yy ("cov~sym"). Together these make a synthetic run's file about 40 %
    smaller. A "full" subset that is the concatenation of the others is
    not stored: load_predictions rebuilds it. Read back with load_predictions."""
    def small(name: str, v: np.ndarray) -> np.ndarray:
        v = np.asarray(v)
        if v.dtype.kind == "f":
            return v.astype(np.float16) if name in HALF_PRECISION else (np.round(v * QUANTUM) / QUANTUM).astype(np.float32)
        return v

    flat: dict[str, np.ndarray] = {}
    for s, arrays in subsets.items():
        if s == FULL:
            continue
        kept: dict[str, np.ndarray] = {}
        for k, v in arrays.items():
            v = small(k, v)
            same = next((name for name, w in kept.items() if w.shape == v.shape and w.dtype == v.dtype
                         and np.array_equal(w, v)), None)
            points = kept.get("points")
            if same:
                flat[f"{s}/{k}"] = np.array(SAME_AS + same)
                continue
            kept[k] = v
            if k == SYMMETRIC and v.shape[-2:] == (2, 2):
                flat[f"{s}/{k}~sym"] = np.stack([v[..., 0, 0], v[..., 0, 1], v[..., 1, 1]], -1)
                continue
            offset = None
            if points is not None and k != "gt" and v.dtype == np.float32 and v.shape == points.shape:
                offset = np.round((v.astype(np.float64) - points) * QUANTUM)
            if offset is not None and np.isfinite(offset).all() and np.abs(offset).max(initial=0) <= OFFSET_MAX:
                flat[f"{s}/{k}{OFFSET}"] = offset.astype(np.int16)
            else:
                flat[f"{s}/{k}"] = v
    buf = io.BytesIO()
    np.savez_compressed(buf, **flat)
    return write_bytes_atomic(path, buf.getvalue())


def load_predictions(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """{subset: {array: values}} from predictions.npz; float16 arrays come back as float32, references resolved."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            out: dict[str, dict[str, np.ndarray]] = {}
            for key in z.files:
                subset, _, name = key.partition("/")
                v = z[key]
                out.setdefault(subset, {})[name] = v.astype(np.float32) if v.dtype == np.float16 else v
    except FileNotFoundError:
        raise RunError(f"{path}: no predictions file") from None
    except Exception as e:
        raise RunError(f"{path}: not a readable predictions file ({type(e).__name__}: {e})") from None
    for subset, arrays in out.items():
        if f"{SYMMETRIC}~sym" in arrays:
            xx, xy, yy = np.moveaxis(arrays.pop(f"{SYMMETRIC}~sym"), -1, 0)
            arrays[SYMMETRIC] = np.stack([np.stack([xx, xy], -1), np.stack([xy, yy], -1)], -2)
        for name in [n for n in arrays if n.endswith(OFFSET)]:
            if "points" not in arrays or arrays["points"].dtype.kind == "U":
                raise RunError(f"{path}: {subset}/{name} is an offset from points, which the file does not hold")
            arrays[name[: -len(OFFSET)]] = (arrays["points"].astype(np.float64) + arrays.pop(name) / QUANTUM
                                            ).astype(np.float32)
        for name, v in arrays.items():
            if v.dtype.kind == "U":
                ref = str(v)[len(SAME_AS):]
                if not str(v).startswith(SAME_AS) or ref not in arrays or arrays[ref].dtype.kind == "U":
                    raise RunError(f"{path}: {subset}/{name} refers to {str(v)!r}, which the file does not hold")
                arrays[name] = arrays[ref]
    if len(out) > 1 and FULL not in out:
        from lab.runner.evaluate import concat_predictions

        out[FULL] = concat_predictions(list(out.values()))
    return out


def write_log(path: str | Path, rows: list[dict[str, Any]]) -> Path:
    """The training log as CSV (rewritten whole, atomically, after every epoch)."""
    buf = io.StringIO()
    if rows:
        fields = list(dict.fromkeys(k for r in rows for k in r))
        writer = csv.DictWriter(buf, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return write_text_atomic(path, buf.getvalue())


@dataclass
class Run:
    """A finished (or partly finished) run folder, read lazily."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @cached_property
    def config(self) -> RunConfig:
        try:
            return RunConfig.load(self.path / CONFIG)
        except (FileNotFoundError, ValueError) as e:
            raise RunError(f"run {self.path}: {e}") from None

    @cached_property
    def metrics(self) -> dict[str, Any]:
        path = self.path / METRICS
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            raise RunError(f"run {self.path}: no {METRICS} (not finished?)") from None
        except json.JSONDecodeError as e:
            raise RunError(f"{path}: not valid JSON ({e})") from None

    @cached_property
    def predictions(self) -> dict[str, dict[str, np.ndarray]]:
        return load_predictions(self.path / PREDICTIONS)

    @property
    def has_model(self) -> bool:
        return (self.path / MODEL).is_file()

    def load_model(self, device: str | torch.device = "cpu") -> torch.nn.Module:
        """The selected weights as an eval-mode model on `device`; a foreign or broken file raises RunError."""
        from lab.models import model_from_state

        if not self.has_model:  # shipped without weights (e.g. an ERT, whose trees are tens of MB)
            why = " (an ERT's trees are tens of MB and are not committed)" if self.config.model == "ert" else ""
            raise RunError(f"{self.path / MODEL}: no model file: the run ships without weights{why}; retrain it: "
                           f"python -m lab train --config {self.path / CONFIG} --results {self.path.parent} --resume")
        state = load_torch(self.path / MODEL)
        try:
            model = model_from_state(state, source=str(self.path / MODEL))
        except ValueError as e:
            raise RunError(str(e)) from None
        return model.to(device).eval()


def recipe_note(run_list) -> str | None:
    """A sentence for any picture or table of `run_list` when some of its runs were trained before the training
    recipe (config version < CONFIG_VERSION: the version-1 defaults, which had not converged), with their NME_io
    range on "full" (else their first subset); None when every run is on the recipe."""
    run_list = list({r.path.resolve(): r for r in run_list}.values())  # a run shared by experiments counts once
    old = [r for r in run_list if r.config.version < CONFIG_VERSION]
    if not old:
        return None
    nmes = []
    for r in old:
        subsets = r.metrics.get("subsets", {})
        m = subsets.get("full") or next(iter(subsets.values()), {})
        if "nme_inter_ocular" in m:
            nmes.append(100 * m["nme_inter_ocular"])
    span = f" (NME_io {min(nmes):.1f}-{max(nmes):.1f} %)" if nmes else ""
    return (f"Not converged: {len(old)} of these {len(run_list)} runs were trained with the version-1 defaults, before "
            f"the training recipe{span}; they have not learned enough to rank the methods, and are to be re-measured "
            f"(README, 'Training recipe' shows what the recipe reaches).")


def open_run(path: str | Path) -> Run:
    """A Run for a folder that exists and holds a config.json."""
    path = Path(path)
    if not (path / CONFIG).is_file():
        raise RunError(f"{path}: not a run folder (no {CONFIG})")
    return Run(path)


IN_PROGRESS = "still training"


def _progress(folder: Path) -> str | None:
    """"still training: epoch 3 of 8 done" for a run folder with a training log but no metrics yet, else None."""
    if (folder / METRICS).exists() or not (folder / LOG).is_file():
        return None
    try:
        done = sum(1 for _ in csv.DictReader(io.StringIO((folder / LOG).read_text())))
        total = RunConfig.load(folder / CONFIG).epochs
    except (OSError, ValueError, csv.Error):
        return None
    return f"{IN_PROGRESS}: epoch {done} of {total} done"


def list_runs(results_dir: str | Path) -> tuple[list[Run], dict[str, str]]:
    """Finished runs (config + metrics + predictions readable) under results_dir, and {folder: problem} for the rest
    (a run still training says so: its message starts with IN_PROGRESS)."""
    runs, broken = [], {}
    root = Path(results_dir)
    if not root.is_dir():
        return runs, broken
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and (p / CONFIG).exists()):
        run = Run(folder)
        try:
            run.config, run.metrics  # noqa: B018 - read now so a broken run is reported here
            if not (folder / PREDICTIONS).is_file():
                raise RunError(f"run {folder}: no {PREDICTIONS}")
        except RunError as e:
            broken[folder.name] = _progress(folder) or str(e)
            continue
        runs.append(run)
    return runs, broken
