"""Live training in a notebook: a run into a temporary folder with a progress bar and a loss / NME curve redrawn
after every epoch."""
from __future__ import annotations

import tempfile
from pathlib import Path

from lab.config import RunConfig
from lab.notebook.session import interactive_frontend
from lab.viz.history import history_figure


class LivePlot:
    """`on_epoch` callback for lab.runner.train.train: redraws loss and NME curves in place after every epoch.

    Draws on a matplotlib Figure that pyplot does not track, so the inline backend does not show it a second time.
    """

    def __init__(self, title: str = ""):
        self.title = title
        self.rows: list[dict] = []
        self._handle = None

    def __call__(self, epoch: int, row: dict) -> None:
        self.rows.append(dict(row))
        fig = history_figure(self.rows, self.title)
        try:
            from IPython.display import display

            if self._handle is None:
                self._handle = display(fig, display_id=True)
            else:
                self._handle.update(fig)
        except ImportError:  # pragma: no cover
            pass


def train_live(cfg: RunConfig, folder: str | Path | None = None, plot: bool = True, quiet: bool = True):
    """Train `cfg` into a fresh temporary folder (never results/), with a progress bar (in an interactive
    frontend) and a live curve.

    Returns the finished lab.runner.runs.Run. quiet: keep the per-epoch log lines out of the output (the curve
    shows them).
    """
    from lab.runner.train import train

    folder = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="lab-notebook-"))
    callback = LivePlot(f"{cfg.name}: {cfg.loss}") if plot else None
    return train(cfg, folder, progress=interactive_frontend(), log=(lambda _: None) if quiet else print,
                 on_epoch=callback)
