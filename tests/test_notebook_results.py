"""lab.notebook.results.real_counterpart: a synthetic experiment's real-face side, read from its "real" experiments."""
import json

import numpy as np

from lab.notebook.results import real_counterpart
from lab.runner import runs
from lab.runner.reproduce import load_experiments


def _fake_run(root, cfg, nme):
    folder = root / cfg.name
    folder.mkdir(parents=True)
    (folder / runs.CONFIG).write_text(json.dumps(cfg.to_dict()))
    (folder / runs.METRICS).write_text(json.dumps({"subsets": {"val": {"nme_inter_ocular": nme}}, "epochs": cfg.epochs,
                                                   "decoder": "soft_argmax"}))
    np.savez(folder / runs.PREDICTIONS, x=np.zeros(1))


def test_real_counterpart_shows_the_same_methods_on_real_faces(tmp_path):
    exp = load_experiments(only=["laplace_vs_softargmax"])[0]
    assert exp.real == ["seeds_real", "real_faces"]
    real = {c.name: c for e in load_experiments(only=exp.real) for c in e.runs}
    methods = {(c.model, c.loss) for c in exp.runs}
    wanted = sorted(n for n, c in real.items() if (c.model, c.loss) in methods)
    assert "real-ert" in wanted and "real-star" not in wanted  # ERT is on both sides; STAR is not this comparison
    for i, name in enumerate(wanted):
        _fake_run(tmp_path, real[name], 0.05 + 0.001 * i * (real[name].loss == "l2"))
    found, judged, incomplete = real_counterpart("laplace_vs_softargmax", tmp_path)
    assert sorted(found) == wanted and incomplete == []
    assert len(judged) == len({(v["better"], v["than"], v["metric"]) for v in judged})  # shared pairs once
    assert {(v["better"], v["than"], v["metric"]) for v in judged} == {
        ("real-laplace_kl", "real-softargmax", "nme_inter_ocular"), ("real-laplace_kl", "real-softargmax", "spread_px")}
    nme = next(v for v in judged if v["metric"] == "nme_inter_ocular")
    assert nme["seeds_better"] == nme["seeds_than"] == 3 and nme["spread_from"] == "own seeds"
    # a missing seed: that experiment is named as incomplete, the rest is still shown
    import shutil

    shutil.rmtree(tmp_path / "real-softargmax-s2")
    found, judged, incomplete = real_counterpart("laplace_vs_softargmax", tmp_path)
    assert incomplete == ["seeds_real"] and "real-softargmax-s2" not in found


def test_the_classic_baseline_sits_beside_every_real_comparison(tmp_path):
    real = {c.name: c for c in load_experiments(only=["real_faces"])[0].runs}
    for name in ("real-ert", "real-star", "real-heatmap_mse"):
        _fake_run(tmp_path, real[name], 0.05)
    found, _, incomplete = real_counterpart("star_ambiguity", tmp_path)
    assert {"real-ert", "real-star", "real-heatmap_mse"} <= set(found) and incomplete == ["real_faces"]


def test_an_experiment_without_real_counterpart_shows_nothing(tmp_path):
    assert real_counterpart("adversarial", tmp_path) == ({}, [], [])
