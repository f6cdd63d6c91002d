"""Has a run converged? Two rules every reported number is checked against: its validation curve has flattened,
and it has learned (it beats the mean shape by a wide margin).

Flattened:

    late_gain(val) = (val[start] - val[-1]) / val[start],  start = the first validation of the last `share` of them

with val the run's validation NME_io in the order it was measured (train_log.csv's val_nme column, blank where an
epoch was not validated). A run has flattened when late_gain < FLAT (2 % relative) over its last tenth of
validations (at least the last interval): at the end of its schedule the NME no longer moves by a fiftieth of
itself. Why the last tenth and not the last fifth: the recipe's cosine schedule anneals over the last fifth, and
annealing alone buys a few percent there however long the schedule is (the convergence benchmark's 60-minute
hourglass x0.5 gained 3 % over its last fifth, 4.42 to 4.27 %), while a curve still falling in the last tenth,
with the learning rate under 3 % of its peak, is a run cut short. A run without at least MIN_POINTS validations
(dlib's ERT, trained to completion, has none) is "no curve", not flattened.

Learned: NME_io <= LEARNED x the mean shape's NME_io on the same faces (`mean_shape_nme`: every face predicted as
the average of that subset's labels, in the crops the model saw), on the run's "full" subset (else its first).
The mean shape scores about 29 % on synthetic common, 79 % on challenge, 55 % on full and 19 % on the LFPW
validation split; a run above half of that has not learned enough to rank against another.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from lab import metrics
from lab.runner.runs import FULL, LOG, PREDICTIONS
from lab.schema import get_scheme

FLAT = 0.02  # relative gain over the last tenth of the validations below which a curve counts as flat
SHARE = 0.1
MIN_POINTS = 4
LEARNED = 0.5  # a run has learned when its NME is at most this share of the mean shape's on the same faces


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


def mean_shape_nme(pred: dict) -> tuple[float, float]:
    """(the run's NME_io, the mean shape's NME_io) on one subset's predictions (points, gt (N, K, 2), visible)."""
    gt, visible = np.asarray(pred["gt"], np.float64), np.asarray(pred["visible"], bool)
    norm = metrics.normaliser(gt, get_scheme(gt.shape[1]), "inter_ocular")
    shape = np.broadcast_to(gt.mean(0), gt.shape)
    return (float(np.mean(metrics.nme(np.asarray(pred["points"], np.float64), gt, visible, norm))),
            float(np.mean(metrics.nme(shape, gt, visible, norm))))


def learned_ratio(run) -> float:
    """The run's NME_io over the mean shape's, on its "full" subset (else its first); nan without predictions."""
    preds = run.predictions if (run.path / PREDICTIONS).is_file() else {}
    if not preds:
        return math.nan
    nme, shape = mean_shape_nme(preds.get(FULL) or next(iter(preds.values())))
    return nme / shape if shape > 0 else math.nan


def convergence_note(run_list, flat: float = FLAT, learned: float = LEARNED) -> str:
    """Two sentences for a table of runs: both rules, and which runs (if any) break them, with their figures."""
    gains = {r.name: late_gain(val_curve(r.path)) for r in run_list}
    steep = {n: g for n, g in gains.items() if g >= flat}
    none = [n for n, g in gains.items() if math.isnan(g)]
    text = (f"Learning curves: a run counts as converged when its validation NME improved by less than "
            f"{100 * flat:g} % (relative) over its last tenth of validations; ")
    text += ("every run with a curve meets it" if not steep else "not flattened: " + ", ".join(
        f"{n} ({100 * g:.1f} %)" for n, g in steep.items()))
    if none:
        text += f"; no validation curve (trained to completion or validated too rarely): {', '.join(none)}"
    ratios = {r.name: learned_ratio(r) for r in run_list}
    weak = {n: q for n, q in ratios.items() if q > learned}
    text += (f". A run counts as learned when its NME is at most {learned:g} x the mean shape's on the same faces; ")
    text += ("every run with predictions meets it" if not weak else "**not learned**: " + ", ".join(
        f"{n} ({q:.2f} x the mean shape)" for n, q in weak.items()))
    unknown = [n for n, q in ratios.items() if math.isnan(q)]
    if unknown:
        text += f"; no predictions to check: {', '.join(unknown)}"
    return text + "."
