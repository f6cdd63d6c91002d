"""lab.runner.verdicts: expected directions judged against the seed spread, on hand-made runs."""
from pathlib import Path

import numpy as np
import pytest

from lab.config import RunConfig
from lab.runner.runs import Run
from lab.runner.verdicts import describe, judge, noise_floor


def _run(name: str, loss: str, seed: int, nme: float, data: str = "synthetic", auc: float = 0.5) -> Run:
    run = Run(Path("/nowhere") / name)
    run.config = RunConfig(name=name, loss=loss, seed=seed, data=data)
    run.metrics = {"subsets": {"full": {"nme_inter_ocular": nme, "auc@0.1": auc}}, "decoder": "argmax"}
    return run


def _seeds(loss: str, values, data: str = "synthetic", prefix: str = "") -> list[Run]:
    return [_run(f"{prefix}{loss}" + (f"-s{i}" if i else ""), loss, i, v, data) for i, v in enumerate(values)]


EXPECT = {"better": "laplace_kl", "than": "l2", "metric": "nme_inter_ocular", "subset": "full"}


def test_gap_below_twice_the_spread_is_within_noise():
    pool = _seeds("laplace_kl", [0.040, 0.041, 0.042]) + _seeds("l2", [0.0415, 0.0425, 0.0435])
    v = judge(EXPECT, pool)
    assert v["seeds_better"] == v["seeds_than"] == 3
    assert v["mean_better"] == pytest.approx(0.041) and v["mean_than"] == pytest.approx(0.0425)
    assert v["spread"] == pytest.approx(0.001)  # std (ddof 1) of 40, 41, 42 (x 1e-3)
    assert v["spread_from"] == "own seeds"
    assert v["verdict"] == "within noise" and not v["reproduced"]  # gap 0.0015 < 2 x 0.001


def test_clear_gaps_reproduce_or_reverse():
    pool = _seeds("laplace_kl", [0.040, 0.041, 0.042]) + _seeds("l2", [0.050, 0.051, 0.052])
    assert judge(EXPECT, pool)["verdict"] == "yes"
    assert judge(EXPECT, pool)["reproduced"]
    assert judge({**EXPECT, "better": "l2", "than": "laplace_kl"}, pool)["verdict"] == "no"


def test_higher_is_better_for_auc():
    pool = _seeds("laplace_kl", [0.04]) + _seeds("l2", [0.05])
    pool[0].metrics["subsets"]["full"]["auc@0.1"] = 0.7
    assert judge({**EXPECT, "metric": "auc@0.1"}, pool)["verdict"] == "yes"
    assert judge({**EXPECT, "metric": "auc@0.1", "better": "l2", "than": "laplace_kl"}, pool)["verdict"] == "no"


def test_single_seed_pair_borrows_the_noise_floor_of_its_data():
    seeded = _seeds("softargmax_ref", [0.030, 0.032, 0.034])  # spread 0.002 on synthetic
    close = [_run("wing", "wing", 0, 0.0400), _run("l1", "l1", 0, 0.0430)]  # gap 0.003 < 0.004
    far = [_run("wing", "wing", 0, 0.0400), _run("l1", "l1", 0, 0.0500)]
    expect = {**EXPECT, "better": "wing", "than": "l1"}
    v = judge(expect, seeded + close)
    assert v["spread"] == pytest.approx(0.002) and v["spread_from"] == "seeds of softargmax_ref"
    assert v["verdict"] == "within noise"
    assert judge(expect, seeded + far)["verdict"] == "yes"
    # seeds on other data say nothing about this benchmark's noise: a plain yes / no, no spread
    other = _seeds("softargmax_ref", [0.030, 0.032, 0.034], data="300w:/faces")
    v = judge(expect, other + close)
    assert np.isnan(v["spread"]) and v["verdict"] == "yes"


def test_noise_floor_takes_the_largest_spread_and_ignores_single_runs():
    pool = _seeds("a", [0.01, 0.02]) + _seeds("b", [0.01, 0.05]) + [_run("c", "c", 0, 0.9)]
    spread, source = noise_floor(pool, "synthetic", "nme_inter_ocular", "full")
    assert spread == pytest.approx(np.std([0.01, 0.05], ddof=1)) and source == "b"


def test_missing_run_is_not_measured_and_described():
    v = judge(EXPECT, _seeds("laplace_kl", [0.04]))
    assert v["verdict"] == "not measured" and not v["reproduced"]
    pool = _seeds("laplace_kl", [0.040, 0.041, 0.042]) + _seeds("l2", [0.050, 0.051, 0.052])
    text = describe(judge(EXPECT, pool))
    assert "mean over seeds 0.0410 [3] vs 0.0510 [3]" in text and text.endswith("-> yes")


def test_a_single_seed_beside_a_seeded_method_takes_the_larger_floor():
    """wing (one seed) vs l2 (three, spread 0.001): the one seed's own spread is unknown, so the data's largest
    seed spread (0.004, another method's) judges the pair, not l2's small one."""
    pool = (_seeds("l2", [0.050, 0.051, 0.052]) + _seeds("noisy", [0.030, 0.034, 0.038])
            + [_run("wing", "wing", 0, 0.045)])
    v = judge({**EXPECT, "better": "wing", "than": "l2"}, pool)
    assert v["spread"] == pytest.approx(0.004) and v["spread_from"] == "seeds of noisy"
    assert v["verdict"] == "within noise"  # gap 0.006 < 2 x 0.004, though > 2 x 0.001
    assert judge({**EXPECT, "better": "wing", "than": "l2"}, pool[:3] + pool[-1:])["verdict"] == "yes"
