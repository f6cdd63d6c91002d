"""Cumulative error distribution (CED) curves: fraction of faces with NME <= x, one curve per method."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from lab import metrics


def ced_curve(nmes: np.ndarray, t: float = 0.1, step: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """Thresholds (M,) on [0, t] and CED values (M,) for per-face NMEs (N,)."""
    xs = np.arange(0.0, t + step / 2, step)
    return xs, np.asarray(metrics.ced(nmes, xs))


def ced_figure(curves: dict[str, np.ndarray], t: float = 0.1, title: str = "CED", ax=None):
    """Matplotlib CED plot of {label: per-face NMEs (N,)}, with AUC@t in the legend. Returns the figure."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4.2), dpi=110)
    else:
        fig = ax.figure
    for label, nmes in curves.items():
        xs, ys = ced_curve(nmes, t)
        ax.plot(100 * xs, ys, lw=1.8, label=f"{label} (AUC {metrics.auc(nmes, t):.3f})")
    ax.set(xlim=(0, 100 * t), ylim=(0, 1), xlabel="NME (% of inter-ocular distance)", ylabel="fraction of faces",
           title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def save_ced(curves: dict[str, np.ndarray], path: str | Path, t: float = 0.1, title: str = "CED") -> Path:
    """Write a CED PNG atomically."""
    from lab.viz.png import save_figure

    return save_figure(ced_figure(curves, t, title), path)


def ced_plotly(curves: dict[str, np.ndarray], t: float = 0.1, title: str = "CED", x_max: float | None = None):
    """Plotly CED figure for the app: hover shows NME and the fraction of faces; the legend gives AUC@t.
    x_max: the axis end (NME fraction), t by default."""
    import plotly.graph_objects as go

    top = t if x_max is None else x_max
    fig = go.Figure()
    for label, nmes in curves.items():
        xs, ys = ced_curve(nmes, top, step=top / 400)
        fig.add_trace(go.Scatter(x=100 * xs, y=ys, mode="lines", name=f"{label} (AUC@{t:g} {metrics.auc(nmes, t):.3f})",
                                 hovertemplate="NME %{x:.2f}%<br>fraction %{y:.3f}<extra>" + label + "</extra>"))
    fig.update_layout(title=title, xaxis_title="NME (% inter-ocular)", yaxis_title="fraction of faces",
                      yaxis_range=[0, 1], xaxis_range=[0, 100 * top], height=420, margin=dict(l=40, r=10, t=40, b=40))
    return fig


def ced_threshold(curves: dict) -> float:
    """0.1 (the usual AUC@0.1 / FR@0.1 range) unless most faces lie beyond it (e.g. smoke runs); then a range
    that shows the curves: the 90th percentile of the NMEs rounded up to a multiple of 0.1."""
    pooled = np.concatenate([np.asarray(v, np.float64) for v in curves.values()])
    q = float(np.quantile(pooled, 0.9))
    return 0.1 if np.median(pooled) <= 0.1 else float(np.ceil(q * 10) / 10)


def ced_by_backbone(run_list: Sequence, subset: str = "full"):
    """One CED panel per backbone (model x width) of the runs, so only comparable runs share a panel."""
    import matplotlib.pyplot as plt

    from lab.runner.compare import ced_curves

    groups: dict[str, list] = {}
    for run in run_list:
        groups.setdefault(f"{run.config.model} x{run.config.width:g}", []).append(run)
    cols = min(3, len(groups))
    rows = -(-len(groups) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.6 * cols, 4.2 * rows), squeeze=False)
    for ax in axes.flat[len(groups):]:
        ax.set_axis_off()
    for ax, (name, members) in zip(axes.flat, groups.items()):
        curves = ced_curves(members, subset)
        if curves:
            t = ced_threshold(curves)
            ced_figure(curves, t=t, title=f"{name}: CED ({subset})" + ("" if t == 0.1 else f", AUC@{t:g}"), ax=ax)
    fig.tight_layout()
    return fig
