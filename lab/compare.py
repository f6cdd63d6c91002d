"""Compare runs: one NME / FR / AUC table per test subset (Markdown + CSV) and a CED figure."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from lab import runs
from lab.atomic import write_text_atomic
from lab.evaluate import face_nmes

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


def compare(run_dirs: Sequence[str | Path], out_dir: str | Path, subset: str | None = None) -> dict[str, Path]:
    """Write comparison.md, comparison.csv and ced_<subset>.png for the runs into out_dir; returns the paths."""
    from lab.viz.ced import save_ced

    run_list = [runs.open_run(d) for d in run_dirs]
    if not run_list:
        raise ValueError("compare needs at least one run folder")
    table = comparison_table(run_list)
    out = Path(out_dir)
    paths = {"markdown": write_text_atomic(out / "comparison.md", table.to_markdown(index=False) + "\n"),
             "csv": write_text_atomic(out / "comparison.csv", table.to_csv(index=False))}
    subsets = [subset] if subset else list(dict.fromkeys(table["subset"]))
    for s in subsets:
        curves = ced_curves(run_list, s)
        if curves:
            paths[f"ced_{s}"] = save_ced(curves, out / f"ced_{s}.png", title=f"CED — {s}")
    return paths
