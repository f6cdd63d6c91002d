"""The experiment suite: configs parse, shared runs agree, and the quick suite runs end to end into SUMMARY.md."""
from __future__ import annotations

import json

import pytest

from lab import runs
from lab.reproduce import EXPERIMENTS_DIR, load_experiments, reproduce, unique_runs, verdicts


def test_every_experiment_parses_and_shared_runs_agree():
    exps = load_experiments()
    names = {e.name for e in exps}
    assert {"laplace_vs_softargmax", "adversarial", "width_sweep", "star_ambiguity", "wasserstein_jitter",
            "wing_coordinates"} <= names
    configs = unique_runs(exps)
    assert len({c.name for c in configs}) == len(configs)
    for e in exps:
        run_names = {c.name for c in e.runs}
        for x in e.expect:
            assert x["better"] in run_names and x["than"] in run_names, (e.name, x)


def test_conflicting_run_definitions_are_refused(tmp_path):
    for i, loss in enumerate(("l2", "l1")):
        (tmp_path / f"{i}.json").write_text(json.dumps({
            "name": f"e{i}", "paper": "p", "claim": "c", "base": {}, "runs": [{"name": "same", "loss": loss}]}))
    with pytest.raises(ValueError, match="same"):
        unique_runs(load_experiments(tmp_path))


def test_quick_suite_end_to_end(tmp_path):
    summary = reproduce(tmp_path, quick=True, progress=False, log=lambda _: None)
    text = summary.read_text()
    exps = load_experiments(quick=True)
    for e in exps:
        assert f"## {e.name}" in text
        for v in verdicts(e, tmp_path):
            assert v["value_better"] == v["value_better"]  # not NaN: every expected metric was measured
    assert (tmp_path / "figures" / "all_methods_ced.png").stat().st_size > 5000
    assert (tmp_path / "figures" / "width_sweep_sweep.png").exists()
    jitter = runs.open_run(tmp_path / "hg-w2").metrics["box_jitter"]
    assert {r["decoder"] for r in jitter} == {"argmax", "soft_argmax", "barycenter"}
    # a second call reuses every finished run instead of training again
    lines = []
    reproduce(tmp_path, quick=True, progress=False, log=lines.append)
    assert sum("reused" in l for l in lines) == len(unique_runs(exps))
