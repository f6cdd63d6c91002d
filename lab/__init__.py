"""Landmark loss lab: Wing, LaplaceKL, STAR and 2D-Wasserstein losses on one backbone and one evaluation.

The public API (everything else is reachable through its module, but these names stay stable):

    import lab
    faces = lab.Landmarker.from_run().predict("photo.jpg")               # image in, 68 points per face out
    run = lab.train(lab.RunConfig(loss="laplace_kl", epochs=2), "runs")   # a run folder (lab.runner.runs.Run)
    run = lab.load_run("results/real-best")                               # open a finished run
    lab.evaluate(run.path)                                                # re-score it (metrics.json, predictions)
    lab.compare([run.path, ...], "runs/comparison")                       # table + CED figures
    lab.reproduce("results", quick=True)                                  # the reference suite + SUMMARY.md

Registries (every front-end reads these; add to them with the decorators, see the README's "Add a ..." recipes):
    lab.LOSSES / lab.register_loss        name -> LossSpec (lab/losses/registry.py)
    lab.DECODERS / lab.register_decoder   name -> Decoder (lab/heatmaps.py)
    lab.MODELS / lab.register_model       name -> model class (lab/models/registry.py)

Names are imported on first use (PEP 562), so `import lab` stays cheap and the package has no import cycles.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API = {  # public name -> (module, attribute)
    "RunConfig": ("lab.config", "RunConfig"),
    "Landmarker": ("lab.runner.landmarker", "Landmarker"),
    "Face": ("lab.runner.landmarker", "Face"),
    "train": ("lab.runner.train", "train"),
    "evaluate": ("lab.runner.evaluate", "evaluate_run"),
    "load_run": ("lab.runner.runs", "open_run"),
    "list_runs": ("lab.runner.runs", "list_runs"),
    "run_suite": ("lab.runner.reproduce", "run_suite"),
    "build_model": ("lab.models", "build_model"),
    "build_loss": ("lab.losses", "build_loss"),
    "decode": ("lab.heatmaps", "decode"),
    "LOSSES": ("lab.losses", "LOSSES"),
    "LossSpec": ("lab.losses.registry", "LossSpec"),
    "register_loss": ("lab.losses.registry", "register"),
    "DECODERS": ("lab.heatmaps", "DECODERS"),
    "register_decoder": ("lab.heatmaps", "register_decoder"),
    "MODELS": ("lab.models", "MODELS"),
    "register_model": ("lab.models.registry", "register_model"),
}
__all__ = sorted([*_API, "compare", "reproduce"])


def __getattr__(name: str) -> Any:
    if name in _API:
        module, attr = _API[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'lab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])


def compare(run_dirs, out_dir, subset: str | None = None) -> dict:
    """Write comparison.md, comparison.csv and ced_<subset>.png for the run folders into out_dir; returns the
    paths (lab.runner.compare makes the tables, lab.viz.report the files)."""
    from lab.viz.report import write_comparison

    return write_comparison(run_dirs, out_dir, subset)


def reproduce(results="results", quick: bool = False, log=print, **kwargs):
    """Train the reference suite (experiments/*.json) where not finished, then write SUMMARY.md and its figures
    (and, for the full suite into the repository's results/, the README's results block); returns SUMMARY.md's
    path. kwargs: only, device, workers, progress, experiments, jobs (lab.runner.reproduce.run_suite)."""
    from lab.runner.reproduce import run_suite
    from lab.viz.report import write_report

    return write_report(run_suite(results, quick=quick, log=log, **kwargs), log=log)
