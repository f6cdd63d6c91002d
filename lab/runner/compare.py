"""Compare runs: one NME / FR / AUC table per test subset and the CED curves (pictures: lab.viz.report)."""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from lab.runner import runs
from lab.runner.evaluate import face_nmes

COLUMNS = {
    "nme_inter_ocular": "NME io (%)", "nme_inter_pupil": "NME ip (%)", "nme_box": "NME box (%)",
    "fr@0.1": "FR@0.1 (%)", "auc@0.1": "AUC@0.1", "spread_px": "spread (px)", "n": "N",
}
PERCENT = {"nme_inter_ocular", "nme_inter_pupil", "nme_box", "fr@0.1"}


def comparison_table(run_list: Sequence[runs.Run]) -> pd.DataFrame:
    """Rows (run, subset) with NME (inter-ocular, inter-pupil, box) and FR@0.1 in percent, AUC@0.1, spread, N."""
    rows = []
    for run in run_list:
        cfg = run.config
        for subset, m in run.metrics["subsets"].items():
            row = {"run": run.name, "loss": cfg.loss, "model": f"{cfg.model} x{cfg.width:g}",
                   "decoder": run.metrics.get("decoder", ""), "subset": subset}
            for key, col in COLUMNS.items():
                if key in m:
                    row[col] = round(100 * m[key], 2) if key in PERCENT else round(m[key], 4 if key != "n" else 0)
            rows.append(row)
    return pd.DataFrame(rows)


def ced_curves(run_list: Sequence[runs.Run], subset: str) -> dict:
    """{run name: per-face inter-ocular NMEs} on one subset, for runs that have it."""
    out = {}
    for run in run_list:
        preds = run.predictions
        if subset in preds:
            out[run.name] = face_nmes(preds[subset], preds[subset]["gt"].shape[1])
    return out
