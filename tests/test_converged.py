import math

from lab.runner import converged as flattening
import numpy as np
import pytest

from lab.runner.runs import LOG, Run, save_predictions


def test_late_gain_on_a_hand_computed_curve():
    # 10 validations: the last tenth (at least the last interval) starts at index 8 (0.20 -> 0.19): gain 0.01 / 0.20 = 5 %
    val = [0.5, 0.4, 0.3, 0.25, 0.22, 0.21, 0.205, 0.202, 0.20, 0.19]
    assert math.isclose(flattening.late_gain(val), 0.05)
    assert math.isclose(flattening.late_gain([0.3, 0.2, 0.1, 0.1, 0.1]), 0.0)  # 5 validations: the last interval
    assert math.isnan(flattening.late_gain([0.3, 0.2]))


def _run(tmp_path, name, vals):
    d = tmp_path / name
    d.mkdir()
    rows = ["epoch,train_loss,val_nme"] + [f"{i + 1},1.0,{'' if v is None else v}" for i, v in enumerate(vals)]
    (d / LOG).write_text("\n".join(rows) + "\n")
    return Run(d)


def test_convergence_note_names_the_runs_still_improving(tmp_path):
    flat = _run(tmp_path, "flat", [0.4, None, 0.2, None, 0.1, None, 0.1, None, 0.1, 0.0995])
    steep = _run(tmp_path, "steep", [0.4, 0.3, 0.2, 0.15, 0.1])
    ert = tmp_path / "ert"
    ert.mkdir()
    assert flattening.val_curve(flat.path) == [0.4, 0.2, 0.1, 0.1, 0.1, 0.0995]
    note = flattening.convergence_note([flat, steep, Run(ert)])
    assert "not flattened: steep (33.3 %)" in note and "flat" not in note.split("not flattened")[1].split(";")[0]
    assert "trained to completion or validated too rarely): ert. A run" in note
    assert note.endswith("no predictions to check: flat, steep, ert.")
    assert "every run with a curve meets it" in flattening.convergence_note([flat])


def test_learned_compares_with_the_mean_shape_of_the_same_faces(tmp_path):
    rng = np.random.default_rng(0)
    gt = (rng.normal(0, 3, (20, 68, 2)) + rng.uniform(10, 50, (1, 68, 2))).astype(np.float32)
    visible = np.ones((20, 68), bool)
    shape = np.broadcast_to(gt.mean(0), gt.shape)
    good, bad = _run(tmp_path, "good", [0.3, 0.2, 0.1, 0.1]), _run(tmp_path, "bad", [0.3, 0.2, 0.1, 0.1])
    save_predictions(good.path / "predictions.npz", {"val": {"points": gt + 0.1, "gt": gt, "visible": visible}})
    save_predictions(bad.path / "predictions.npz", {"val": {"points": shape * 0.99 + gt * 0.01, "gt": gt,
                                                            "visible": visible}})
    nme, mean_shape = flattening.mean_shape_nme({"points": shape, "gt": gt, "visible": visible})
    assert nme == pytest.approx(mean_shape) and mean_shape > 0.05
    assert flattening.learned_ratio(good) < 0.1 and 0.9 < flattening.learned_ratio(bad) < 1.0
    note = flattening.convergence_note([good, bad])
    assert "**not learned**: bad (0.99 x the mean shape)" in note and "good (" not in note
