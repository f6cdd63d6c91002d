"""The notebook's kernel session: seeds, inline figures and torch threads (setup), whether a person is looking
(interactive_frontend: headless runs get static pictures only) and the reference results folder."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
RESULTS_ENV = "LAB_RESULTS"
WIDGETS_ENV = "LAB_WIDGETS"  # "1": always offer sliders and widget progress bars, "0": never (static pictures only)
HEADLESS_RUNNERS = ("nbconvert", "nbclient", "pytest", "nbval", "papermill")


def setup(seed: int = 0, threads: int | None = 1) -> None:
    """Seed numpy and torch, draw figures inline (Agg when no IPython kernel is around) and set torch's CPU threads.

    threads=1 (default): the live runs are small, and on a shared CPU (CI, several kernels) torch's OpenMP threads
    spin-wait for each other and run several times slower than one thread; None keeps torch's default."""
    import matplotlib

    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:  # pragma: no cover - IPython ships with ipykernel
        shell = None
    if shell is not None and getattr(shell, "kernel", None) is not None:
        shell.run_line_magic("matplotlib", "inline")
    else:
        matplotlib.use("Agg")
    np.random.seed(seed)
    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)


def interactive_frontend() -> bool:
    """Whether a person is looking: False when the kernel was started by a headless runner (nbconvert, nbclient,
    pytest/nbval, papermill: its parent process's command line names one) or when $LAB_WIDGETS is "0".

    Headless runs get the static pictures only: no sliders and no widget progress bars. Widget messages add
    nothing there, cost a second drawing of every picture, and can stall nbclient's message loop
    (jupyter/nbclient#312, jupyter/nbconvert#2029)."""
    flag = os.environ.get(WIDGETS_ENV)
    if flag in ("0", "1"):
        return flag == "1"
    try:
        parent = Path(f"/proc/{os.getppid()}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:  # not Linux: assume a person is there
        return True
    return not any(name in parent for name in HEADLESS_RUNNERS)


def results_dir(path: str | Path | None = None) -> Path:
    """The reference results: `path`, else $LAB_RESULTS, else the repository's results/ folder."""
    return Path(path or os.environ.get(RESULTS_ENV) or REPO / "results").expanduser()
