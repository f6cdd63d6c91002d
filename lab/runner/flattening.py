"""Has a run's validation curve flattened? The rule every reported number is checked against.

    late_gain(val) = (val[start] - val[-1]) / val[start],  start = the first validation of the last `share` of them

with val the run's validation NME_io in the order it was measured (train_log.csv's val_nme column, blank where an
epoch was not validated). A run has flattened when late_gain < FLAT (2 % relative by default): over its last fifth
of validations the NME improved by less than a fiftieth of itself, so training longer on the same schedule would
not change its rank against a run a few percent away. A run without at least MIN_POINTS validations (dlib's ERT,
trained to completion, has none) is "no curve", not flattened.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Sequence

from lab.runner.runs import LOG

FLAT = 0.02  # relative gain over the last fifth of the validations below which a curve counts as flat
SHARE = 0.2
MIN_POINTS = 4


def val_curve(run_dir: str | Path) -> list[float]:
    """The validation NMEs (fractions) of a run folder, in order; [] without a training log."""
    path = Path(run_dir) / LOG
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [float(row["val_nme"]) for row in csv.DictReader(f) if row.get("val_nme") not in (None, "")]


def late_gain(val: Sequence[float], share: float = SHARE) -> float:
    """Relative NME gain over the last `share` of the validations (positive: still improving); nan when fewer
    than MIN_POINTS validations."""
    if len(val) < MIN_POINTS:
        return math.nan
    start = val[min(len(val) - 2, int(math.floor(len(val) * (1 - share))))]
    return (start - val[-1]) / start if start > 0 else math.nan


def flattening_note(run_list, flat: float = FLAT) -> str:
    """One sentence for a table of runs: the rule, and which runs (if any) break it, with their late gains."""
    gains = {r.name: late_gain(val_curve(r.path)) for r in run_list}
    steep = {n: g for n, g in gains.items() if g >= flat}
    none = [n for n, g in gains.items() if math.isnan(g)]
    text = (f"Learning curves: a run counts as converged when its validation NME improved by less than "
            f"{100 * flat:g} % (relative) over its last fifth of validations; ")
    text += ("every run with a curve meets it" if not steep else "not flattened: " + ", ".join(
        f"{n} ({100 * g:.1f} %)" for n, g in steep.items()))
    if none:
        text += f"; no validation curve (trained to completion or validated too rarely): {', '.join(none)}"
    return text + "."
