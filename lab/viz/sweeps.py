"""Line plots of a metric against a swept knob (width, label noise, pool size, box jitter), one line per group."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from lab.viz.overlay import decoder_line


def line_plot(df: pd.DataFrame, x: str, y: str, group: str, xlabel: str = "", ylabel: str = "", title: str = "",
              log_x: bool = False, ax=None):
    """Matplotlib figure: one marked line per value of `group`, points sorted by `x`."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4.2), dpi=110)
    else:
        fig = ax.figure
    for name, part in df.groupby(group, sort=True):
        part = part.sort_values(x)
        ax.plot(part[x], part[y], marker="o", lw=1.8, label=str(name))
    if log_x:  # label the swept values themselves, not powers of two
        ax.set_xscale("log", base=2)
        ticks = sorted(df[x].unique())
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
    ax.set(xlabel=xlabel or x, ylabel=ylabel or y, title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def save_line_plot(df: pd.DataFrame, path: str | Path, **kwargs) -> Path:
    """line_plot written atomically as PNG."""
    from lab.viz.png import save_figure

    return save_figure(line_plot(df, **kwargs), path)


def line_plotly(df: pd.DataFrame, x: str, y: str, group: str, xlabel: str = "", ylabel: str = "", title: str = "",
                log_x: bool = False):
    """Plotly version for the app (hover shows the run's values)."""
    import plotly.express as px

    fig = px.line(df.sort_values(x), x=x, y=y, color=group, markers=True, log_x=log_x, title=title,
                  labels={x: xlabel or x, y: ylabel or y})
    fig.update_layout(height=400, margin=dict(l=40, r=10, t=40, b=40))
    return fig


JITTER_COLUMNS = ["run", "decoder", "level", "nme", "curve"]


def box_jitter_frame(rows, subset: str = "full") -> pd.DataFrame:
    """Mean NME (%) per run, decoder and box-jitter level, from box-jitter rows: dicts or a frame with run, level,
    subset, decoder and nme as a fraction (lab.runner.robustness.box_jitter_curve, or the "box_jitter" records of
    a run's metrics). subset "full" averages the per-subset rows and leaves rows labelled "full" out (as the
    reference figures do); any other subset keeps its own rows. Columns JITTER_COLUMNS (curve = "run + decoder");
    empty when no row matches."""
    df = pd.DataFrame(rows)
    if len(df):
        df = df[df["subset"] != "full"] if subset == "full" else df[df["subset"] == subset]
    if not len(df):
        return pd.DataFrame(columns=JITTER_COLUMNS)
    df = df.groupby(["run", "decoder", "level"], as_index=False)["nme"].mean()
    df["nme"] *= 100.0
    df["curve"] = df["run"] + " + " + df["decoder"]
    return df


def jitter_figure(df, title: str = "NME under box jitter"):
    """NME (%) against box-jitter level, averaged over the test subsets (box_jitter_frame on "full"): one colour
    per run, one line style per decoder. df: box-jitter rows (see box_jitter_frame)."""
    import matplotlib.pyplot as plt

    df = box_jitter_frame(df)
    fig, ax = plt.subplots(figsize=(7.5, 4.3))
    for i, run in enumerate(sorted(df.run.unique())):
        for decoder, part in df[df.run == run].groupby("decoder"):
            part = part.sort_values("level")
            ax.plot(part.level, part.nme, decoder_line(decoder), marker="o", ms=4, lw=2, color=f"C{i}",
                    label=f"{run} + {decoder}")
    ax.set(xlabel="box jitter level (std of shift and log-scale, fraction of the box)",
           ylabel="NME (% inter-ocular), common + challenge", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, bbox_to_anchor=(1.02, 1), loc="upper left")
    fig.tight_layout()
    return fig
