"""The dashboard's pure pieces, on hand-made input: the CED x-range and the reasons for an empty CED
(lab.dashboard.ced), tile labels (lab.dashboard.common), the face downloads (lab.dashboard.face_export)."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from lab.dashboard.ced import ced_gaps, ced_range, empty_reason
from lab.dashboard.common import short_label
from lab.dashboard.face_export import file_stem, points_json


def test_ced_range_is_the_95th_percentile_between_t_and_the_cap():
    good = {"a": np.linspace(0.01, 0.04, 50)}
    assert ced_range(good, 0.1) == 0.1 and ced_range(good, 0.05) == 0.05  # AUC@t's whole range stays in view
    middling = {"a": np.linspace(0.0, 0.2, 101), "b": np.full(99, np.nan)}  # NaNs (no visible landmark) are dropped
    q = np.quantile(np.linspace(0.0, 0.2, 101), 0.95)
    assert q == pytest.approx(0.19) and ced_range(middling, 0.1) == pytest.approx(0.19)
    assert ced_range({"a": np.full(4, 0.2301)}, 0.1) == pytest.approx(0.24)  # rounded up to a whole percent
    assert ced_range({"a": np.full(10, 2.0)}, 0.1) == 0.5  # lost faces: capped at half the inter-ocular distance
    assert ced_range({}, 0.08) == 0.08 and ced_range({"a": np.array([np.nan])}, 0.1) == 0.1


def _run(name: str, preds: dict) -> SimpleNamespace:
    return SimpleNamespace(name=name, predictions=preds)


def test_an_empty_ced_names_its_reason():
    faces = {"gt": np.zeros((3, 68, 2))}
    run_list = [_run("a", {"common": faces}), _run("b", {}), _run("c", {"challenge": {"gt": np.zeros((0, 68, 2))}}),
                _run("d", {"challenge": faces})]
    gaps = ced_gaps(run_list, "challenge")
    assert gaps == {"a": "has no faces in subset 'challenge' (its predictions cover common)",
                    "b": "shipped without predictions", "c": "has 0 faces in subset 'challenge'"}
    assert empty_reason([], [], "challenge").startswith("No run selected")
    assert empty_reason(["x"], [], "challenge").startswith("None of the selected runs could be read")
    text = empty_reason(["a", "b"], run_list[:2], "challenge")
    assert text.startswith("No CED on 'challenge': **a** has no faces") and "**b** shipped without predictions" in text


def test_tile_labels_are_shortened_in_the_middle():
    assert short_label("NME star", 26) == "NME star"
    long = "NME laplace-kl-rcn-x0.0625-seed-3-long"
    short = short_label(long, 26)
    assert len(short) == 26 and short.startswith("NME laplace-") and short.endswith("seed-3-long") and "…" in short


def test_points_json_parses_back_to_each_runs_points():
    gt = np.arange(10, dtype=np.float64).reshape(5, 2)
    preds = {"star": {"points": gt + 0.25, "cov": np.zeros((5, 2, 2))}, "mse": {"points": gt - 1.0}}
    doc = json.loads(points_json("challenge_3", "synthetic:challenge:3", gt, np.array([1, 1, 0, 1, 1]), preds))
    assert doc["face"] == "challenge_3" and doc["visible"] == [True, True, False, True, True]
    assert np.allclose(doc["runs"]["star"]["points"], gt + 0.25) and np.array(doc["runs"]["mse"]["points"]).shape == (5, 2)
    assert np.allclose(doc["ground_truth"], gt) and set(doc["runs"]["star"]) == {"points"}
    unlabeled = json.loads(points_json("photo", "photo.jpg", None, None, preds))
    assert unlabeled["ground_truth"] is None and unlabeled["visible"] is None
    assert file_stem("my photo (1).jpg") == "my_photo_1" and file_stem("challenge_3") == "challenge_3"
    assert file_stem("") == "face"


def test_first_launch_prefers_each_losss_best_run_that_ships_its_weights(tmp_path):
    """A seed replicate or sweep variant without model.pt may score best, but Inspect could not draw its maps:
    the default is the best run of that loss with weights; a loss with none keeps its best run."""
    from lab.config import RunConfig
    from lab.dashboard.data import default_selection
    from lab.runner.runs import MODEL, Run

    def run(name, loss, nme, weights):
        r = Run(tmp_path / name)
        r.path.mkdir()
        if weights:
            (r.path / MODEL).write_bytes(b"x")
        r.config = RunConfig(name=name, loss=loss)
        r.metrics = {"subsets": {"full": {"nme_inter_ocular": nme}}}
        return r

    runs_ = [run("lap-variant", "laplace_kl", 0.10, False), run("lap", "laplace_kl", 0.12, True),
             run("l2", "l2", 0.13, True), run("star-variant", "star", 0.11, False)]
    assert default_selection({r.name: r for r in runs_}) == ["lap", "l2", "star-variant"]  # with weights first
