import math

from lab.runner import flattening
from lab.runner.runs import LOG, Run


def test_late_gain_on_a_hand_computed_curve():
    # 10 validations: the last fifth starts at index 8 (0.20 -> 0.19): gain 0.01 / 0.20 = 5 %
    val = [0.5, 0.4, 0.3, 0.25, 0.22, 0.21, 0.205, 0.202, 0.20, 0.19]
    assert math.isclose(flattening.late_gain(val), 0.05)
    assert math.isclose(flattening.late_gain([0.3, 0.2, 0.1, 0.1, 0.1]), 0.0)  # index 4 of 5: the last two
    assert math.isnan(flattening.late_gain([0.3, 0.2]))


def _run(tmp_path, name, vals):
    d = tmp_path / name
    d.mkdir()
    rows = ["epoch,train_loss,val_nme"] + [f"{i + 1},1.0,{'' if v is None else v}" for i, v in enumerate(vals)]
    (d / LOG).write_text("\n".join(rows) + "\n")
    return Run(d)


def test_flattening_note_names_the_runs_still_improving(tmp_path):
    flat = _run(tmp_path, "flat", [0.4, None, 0.2, None, 0.1, None, 0.1, None, 0.1, 0.0995])
    steep = _run(tmp_path, "steep", [0.4, 0.3, 0.2, 0.15, 0.1])
    ert = tmp_path / "ert"
    ert.mkdir()
    assert flattening.val_curve(flat.path) == [0.4, 0.2, 0.1, 0.1, 0.1, 0.0995]
    note = flattening.flattening_note([flat, steep, Run(ert)])
    assert "not flattened: steep (33.3 %)" in note and "flat" not in note.split("not flattened")[1].split(";")[0]
    assert note.endswith("trained to completion or validated too rarely): ert.")
    assert "every run with a curve meets it" in flattening.flattening_note([flat])
