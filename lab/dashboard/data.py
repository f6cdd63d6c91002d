"""The dashboard's data: cached loaders of a results folder (runs, broken runs with their error), models, splits,
test-face images, user-given datasets, and the frames the Compare view plots (box jitter, sweeps).

The caches are streamlit's (`st.cache_resource` for objects kept in memory, `st.cache_data` for arrays); their
keys include a fingerprint of the files' modification times, so a run trained or re-evaluated meanwhile is
picked up on the next rerun. Outside a streamlit session the functions work uncached (streamlit warns once).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import streamlit as st

from lab.runner import runs as runs_mod
from lab.config import RunConfig
from lab.data.record import FaceRecord
from lab.data.sources import Splits, evaluation_splits
from lab.runner.runs import Run, RunError
from lab.viz import sweeps

WATCHED = (runs_mod.CONFIG, runs_mod.METRICS, runs_mod.PREDICTIONS, runs_mod.MODEL)


def fingerprint(results_dir: str | Path) -> tuple:
    """((folder, ((file, mtime_ns, size), ...)), ...) for the run folders' watched files: changes when any does."""
    root = Path(results_dir)
    if not root.is_dir():
        return ()
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        stats = []
        for name in WATCHED:
            try:
                s = (folder / name).stat()
                stats.append((name, s.st_mtime_ns, s.st_size))
            except OSError:
                pass
        out.append((folder.name, tuple(stats)))
    return tuple(out)


@st.cache_resource(max_entries=8, show_spinner=False)
def _scan(results_dir: str, stamp: tuple) -> tuple[dict[str, Run], dict[str, str]]:
    found, broken = runs_mod.list_runs(results_dir)
    good = {}
    for run in found:
        if isinstance(run.metrics.get("subsets"), dict) and run.metrics["subsets"]:
            good[run.name] = run
        else:
            broken[run.name] = f"run {run.path}: {runs_mod.METRICS} has no per-subset results (\"subsets\")"
    return good, broken


def load_runs(results_dir: str | Path) -> tuple[dict[str, Run], dict[str, str]]:
    """({name: Run} of the finished runs, {folder: error message} of the broken ones) under results_dir.

    Raises FileNotFoundError when the folder does not exist."""
    root = Path(results_dir).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: results folder not found")
    return _scan(str(root.resolve()), fingerprint(root))


def data_available(run: Run) -> bool:
    """Whether the faces a run was trained on can be read here (synthetic always; real folders via the data root,
    lab.data.sources.resolve_data_path)."""
    from lab.data.sources import parse_sources, resolve_data_path

    try:
        for kind, paths in parse_sources(run.config.data):
            for path in paths:
                resolve_data_path(path, kind)
    except (FileNotFoundError, ValueError):
        return False
    return True


def default_selection(run_map: dict[str, Run], limit: int = 8) -> list[str]:
    """The runs selected on first launch, real faces first: for each loss its best run (lowest mean NME_io on "full",
    else on its first subset) among the real-face runs whose data is on this machine, else among the synthetic
    runs, preferring runs that ship their weights (Inspect draws their heatmaps); at most `limit`, those with
    weights first, each group best first."""
    def score(run: Run) -> tuple[bool, float]:
        subsets = run.metrics["subsets"]
        m = subsets.get("full") or next(iter(subsets.values()))
        return not run.has_model, float(m.get("nme_inter_ocular", np.inf))

    real = {n: r for n, r in run_map.items() if r.config.data != "synthetic" and data_available(r)}
    synthetic = {n: r for n, r in run_map.items() if r.config.data == "synthetic"}
    best: dict[str, tuple[float, str]] = {}
    for name, run in (real or synthetic or run_map).items():
        key = run.config.loss
        best[key] = min(best.get(key, ((True, np.inf), name)), (score(run), name))
    return [name for _, name in sorted(best.values())][:limit]


def usable_runs(selected: Sequence[Run]) -> tuple[list[Run], dict[str, str]]:
    """Split selected runs into those whose predictions load and {name: error} for the rest (corrupt npz)."""
    good, bad = [], {}
    for run in selected:
        try:
            run.predictions  # noqa: B018 - read (and keep) now so a corrupt file is reported once, by name
            good.append(run)
        except RunError as e:
            bad[run.name] = str(e)
    return good, bad


@st.cache_resource(max_entries=32, show_spinner=False)
def _model(path: str, stamp: tuple):
    return runs_mod.open_run(path).load_model("cpu")


def load_model(run: Run):
    """The run's selected weights (model.pt) on the CPU, eval mode; RunError for a missing or foreign file."""
    try:
        s = (run.path / runs_mod.MODEL).stat()
        stamp = (s.st_mtime_ns, s.st_size)
    except OSError:
        raise RunError(f"run {run.name}: no {runs_mod.MODEL} (cannot compute heatmaps or new predictions)") from None
    return _model(str(run.path), stamp)


DATA_KEYS = ("data", "train_n", "val_n", "test_n", "synth_size", "seed", "val_fraction", "split_seed")


def data_key(run: Run) -> str:
    """JSON of what decides a run's test faces: config entries and any named test sources (`eval --test`);
    runs with equal keys share splits and images."""
    cfg = run.config.to_dict()
    return json.dumps({"config": RunConfig(**{k: cfg[k] for k in DATA_KEYS}).to_dict(),
                       "test_data": run.metrics.get("test_data")}, sort_keys=True)


@st.cache_resource(max_entries=16, show_spinner=False)
def _splits(key: str) -> Splits:
    spec = json.loads(key)
    return evaluation_splits(spec["test_data"], **RunConfig.from_dict(spec["config"]).split_args())


def test_splits(run: Run) -> Splits:
    """The run's data splits (cached per data_key)."""
    return _splits(data_key(run))


@st.cache_data(max_entries=512, show_spinner=False)
def _face_image(key: str, subset: str, index: int) -> np.ndarray:
    from lab.runner.inspect import locate, record_image

    splits = _splits(key)
    name, i = locate(splits, subset, index)
    return record_image(splits.tests[name][i])


def test_face(run: Run, subset: str, index: int) -> tuple[FaceRecord, np.ndarray]:
    """(record, image (H, W, 3) uint8) of face `index` of the run's test `subset` (images cached)."""
    from lab.runner.inspect import face_record

    return face_record(run, subset, index, test_splits(run)), _face_image(data_key(run), subset, index)


@st.cache_resource(max_entries=4, show_spinner="reading the dataset ...")
def dataset_faces(spec: str) -> list[FaceRecord]:
    """Every face of a user-given real data source (lab.runner.inspect.dataset_faces), cached per spec."""
    from lab.runner.inspect import dataset_faces as read

    return read(spec)


# ------------------------------------------------------------------------------------------ compare frames

def subsets_of(run_list: Sequence[Run]) -> list[str]:
    """Test subsets present in the runs' metrics, in first-seen order ("full" last)."""
    names = list(dict.fromkeys(s for r in run_list for s in r.metrics.get("subsets", {})))
    return sorted(names, key=lambda s: s == "full")


def box_jitter_frame(run_list: Sequence[Run], subset: str) -> pd.DataFrame:
    """lab.viz.sweeps.box_jitter_frame of the runs' metrics["box_jitter"] rows on `subset` (columns run, decoder,
    level, nme (%), curve); empty when no run has any."""
    return sweeps.box_jitter_frame([r for run in run_list for r in run.metrics.get("box_jitter", [])], subset)


def temporal_jitter_frame(run_list: Sequence[Run]) -> pd.DataFrame:
    """Columns run, decoder, temporal jitter (px^2) from the runs' metrics["temporal_jitter"]."""
    rows = [{"run": run.name, "decoder": t["decoder"], "temporal jitter (px^2)": t["temporal_jitter"]}
            for run in run_list for t in run.metrics.get("temporal_jitter", [])]
    return pd.DataFrame(rows)


def sweep_frames(results_dir: str | Path, available: Sequence[str]) -> list[dict]:
    """For each experiment of experiments/*.json with a sweep: {"experiment", "paper", "claim", "label",
    "log_x", "missing" (run names absent from the results), "frame" (lab.runner.reproduce's sweep table: run, x,
    group, subset, nme % — None while runs are missing), "verdicts" (the expected directions, or None)}."""
    from lab.runner import reproduce, verdicts

    out = []
    for exp in reproduce.load_experiments():
        missing = [c.name for c in exp.runs if c.name not in available]
        item = {"experiment": exp.name, "paper": exp.paper, "claim": exp.claim, "missing": missing,
                "frame": None, "verdicts": None, "label": (exp.sweep or {}).get("label", ""),
                "log_x": (exp.sweep or {}).get("log_x", False), "has_sweep": exp.sweep is not None}
        if not missing:
            try:
                if exp.sweep:
                    item["frame"] = reproduce.sweep_frame(exp, Path(results_dir))
                judged = pd.DataFrame(verdicts.verdicts(exp, Path(results_dir)))
                item["verdicts"] = judged[[c for c in verdicts.COLUMNS if c in judged]] if len(judged) else judged
            except (RunError, KeyError, ValueError) as e:
                item["missing"] = [f"(unreadable: {e})"]
        out.append(item)
    return out
