"""lab.notebook: the helpers the notebooks share (budget, results folder, headless detection, alignment)."""
from __future__ import annotations

import os

import numpy as np
import pytest

from lab.config import RunConfig
from lab.data.synthetic.label_noise import contour_tangents
from lab.data.synthetic import SyntheticFaces
from lab.schema import get_scheme
from lab import notebook as nb


def test_pick_budget_cpu_and_cuda():
    cpu = nb.pick_budget("hourglass", cuda=False)
    gpu = nb.pick_budget("hourglass", cuda=True)
    assert cpu["device"] == "cpu" and gpu["device"] == "cuda"
    assert cpu["model_kw"]["input_size"] == 64 and gpu["width"] > cpu["width"]
    assert gpu["train_n"] * gpu["epochs"] > 5 * cpu["train_n"] * cpu["epochs"]
    # overrides apply on both budgets, `cpu` only on the CPU one
    assert nb.pick_budget("rcn", cuda=False, epochs=2, cpu={"train_n": 7})["train_n"] == 7
    assert nb.pick_budget("rcn", cuda=True, epochs=2, cpu={"train_n": 7})["train_n"] == nb.CUDA_BUDGET["train_n"]
    assert nb.pick_budget("rcn", cuda=True, epochs=2)["epochs"] == 2
    with pytest.raises(ValueError, match="unknown live model"):
        nb.pick_budget("resnet")


@pytest.mark.parametrize("cuda", [False, True])
def test_live_config_is_a_valid_run_config(cuda):
    cfg = nb.live_config("x", "w2", decoder="barycenter", cuda=cuda)
    assert isinstance(cfg, RunConfig)
    assert RunConfig.from_dict(cfg.to_dict()) == cfg


def test_results_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv(nb.RESULTS_ENV, raising=False)
    assert nb.results_dir() == nb.REPO / "results"
    monkeypatch.setenv(nb.RESULTS_ENV, str(tmp_path))
    assert nb.results_dir() == tmp_path
    assert nb.results_dir(tmp_path / "other") == tmp_path / "other"


def test_interactive_frontend_env_override(monkeypatch):
    monkeypatch.setenv(nb.WIDGETS_ENV, "0")
    assert nb.interactive_frontend() is False
    monkeypatch.setenv(nb.WIDGETS_ENV, "1")
    assert nb.interactive_frontend() is True
    monkeypatch.delenv(nb.WIDGETS_ENV)
    monkeypatch.setattr(os, "getppid", os.getpid)  # pretend our parent is this pytest process
    assert nb.interactive_frontend() is False


def test_ced_threshold():
    assert nb.ced_threshold({"a": np.array([0.02, 0.05, 0.3])}) == 0.1
    assert nb.ced_threshold({"a": np.array([0.5, 0.8, 0.9, 1.25])}) == pytest.approx(1.2)


def _prediction_with_axes(along_tangent: bool) -> dict:
    """One synthetic face whose predicted covariances have std 2 along (or across) each contour and 1 across."""
    gt = SyntheticFaces("common", n=1, size=128, seed=0)[0].points
    t = contour_tangents(gt, get_scheme(68))
    t = np.where(np.linalg.norm(t, axis=-1, keepdims=True) > 0, t, [1.0, 0.0])
    major = t if along_tangent else np.stack([-t[:, 1], t[:, 0]], -1)
    minor = np.stack([-major[:, 1], major[:, 0]], -1)
    cov = 4.0 * major[:, :, None] * major[:, None, :] + minor[:, :, None] * minor[:, None, :]
    return {"gt": gt[None], "cov": cov[None], "visible": np.ones((1, 68), bool)}


def test_contour_alignment_angles_and_anisotropy():
    angle, ratio = nb.contour_alignment(_prediction_with_axes(True))
    assert len(angle) > 50  # jaw, brows, nose, eyes, lips
    np.testing.assert_allclose(angle, 0.0, atol=1e-4)
    np.testing.assert_allclose(ratio, 2.0, rtol=1e-9)
    angle, _ = nb.contour_alignment(_prediction_with_axes(False))
    np.testing.assert_allclose(angle, 90.0, atol=1e-4)


def test_experiment_runs_reports_missing_runs(tmp_path):
    exp, found, missing = nb.experiment_runs("wing_coordinates", tmp_path)
    assert found == {} and missing == [c.name for c in exp.runs] and missing
