"""The one box-jitter average (lab.viz.sweeps.box_jitter_frame) that the Compare view, the SUMMARY.md figures and
the notebooks' jitter_figure all plot, pinned on hand-made rows."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lab.viz.sweeps import JITTER_COLUMNS, box_jitter_frame, jitter_figure


def _rows() -> list[dict]:
    """Run "a" (barycenter) and run "b" (argmax, soft_argmax) at levels 0 and 0.1 on common and challenge, plus
    a "full" row that the subset average must not count."""
    rows = [{"run": "a", "level": lv, "subset": s, "decoder": "barycenter", "nme": v}
            for lv, s, v in ((0.0, "common", 0.02), (0.0, "challenge", 0.04), (0.1, "common", 0.03),
                             (0.1, "challenge", 0.07), (0.1, "full", 0.90))]
    rows += [{"run": "b", "level": lv, "subset": s, "decoder": d, "nme": v}
             for d, off in (("argmax", 0.0), ("soft_argmax", 0.01))
             for lv, s, v in ((0.1, "common", 0.05 + off), (0.0, "common", 0.01 + off), (0.0, "challenge", 0.03 + off))]
    return rows


def test_box_jitter_frame_averages_the_test_subsets_in_percent():
    full = box_jitter_frame(_rows())
    assert list(full.columns) == JITTER_COLUMNS
    a = full[full["run"] == "a"]
    assert list(a["level"]) == [0.0, 0.1] and list(a["nme"]) == pytest.approx([3.0, 5.0])  # the "full" 90 % is left out
    b = full[full["curve"] == "b + soft_argmax"].sort_values("level")
    assert list(b["nme"]) == pytest.approx([3.0, 6.0])  # level 0.1 has only a common row: its mean is that row
    assert set(full["curve"]) == {"a + barycenter", "b + argmax", "b + soft_argmax"} and len(full) == 6

    challenge = box_jitter_frame(_rows(), "challenge")
    assert list(challenge.loc[challenge["run"] == "a", "nme"]) == pytest.approx([4.0, 7.0])
    assert list(challenge.loc[challenge["curve"] == "b + argmax", "level"]) == [0.0]
    pd.testing.assert_frame_equal(box_jitter_frame(pd.DataFrame(_rows())), full)  # a frame in, the same frame out
    assert box_jitter_frame([]).empty and list(box_jitter_frame([]).columns) == JITTER_COLUMNS
    assert box_jitter_frame(_rows(), "val").empty


def test_jitter_figure_plots_the_shared_frame():
    import matplotlib.pyplot as plt

    fig = jitter_figure(_rows())
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert set(lines) == {"a + barycenter", "b + argmax", "b + soft_argmax"}
    assert np.allclose(lines["a + barycenter"].get_ydata(), [3.0, 5.0])
    assert np.allclose(lines["b + argmax"].get_xdata(), [0.0, 0.1])
    plt.close(fig)


def test_summary_figure_plots_the_shared_frame(tmp_path, monkeypatch):
    """lab.viz.report draws the wasserstein_jitter experiment's box-jitter figure from box_jitter_frame: the
    committed runs' rows, averaged over common and challenge, in percent, one curve per run + decoder."""
    import shutil

    from lab.runner import runs
    from lab.runner.reproduce import load_experiments
    from lab.viz import report

    exp = next(e for e in load_experiments() if e.name == "wasserstein_jitter")
    committed = Path(__file__).resolve().parents[1] / "results"
    if not all((committed / c.name / runs.METRICS).is_file() for c in exp.runs):
        pytest.skip("results/ lacks the wasserstein_jitter runs")
    for c in exp.runs:  # the run folders without their weights, so nothing is written into results/
        (tmp_path / c.name).mkdir()
        for name in (runs.CONFIG, runs.METRICS, runs.PREDICTIONS):
            shutil.copy(committed / c.name / name, tmp_path / c.name / name)
    drawn = {}

    def capture(df, path, **kw):
        drawn[Path(path).stem] = (df, kw)
        return Path(path)

    monkeypatch.setattr(report, "save_line_plot", capture)
    monkeypatch.setattr(report, "save_ced", lambda curves, path, **kw: Path(path))
    report._figures(exp, tmp_path)
    df, kw = drawn["wasserstein_jitter_box_jitter"]
    assert kw["group"] == "curve" and kw["x"] == "level" and kw["y"] == "nme"
    rows = [r for c in exp.runs for r in runs.open_run(tmp_path / c.name).metrics["box_jitter"]]
    pd.testing.assert_frame_equal(df, box_jitter_frame(rows))
    r0 = rows[0]
    same = [r["nme"] for r in rows if (r["run"], r["decoder"], r["level"]) == (r0["run"], r0["decoder"], r0["level"])
            and r["subset"] != "full"]
    picked = df[(df["curve"] == f"{r0['run']} + {r0['decoder']}") & (df["level"] == r0["level"])]
    assert len(same) >= 2 and picked["nme"].item() == pytest.approx(100 * np.mean(same))
