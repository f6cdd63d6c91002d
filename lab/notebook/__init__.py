"""Helpers the notebooks share (`from lab import notebook as nb`): the kernel session and the results folder
(session), the size of a live run (budget), live training with its curve (live), pictures drawn statically and
with sliders (widgets), maps of a given covariance (maps), a run's test faces (faces) and the closing "what the
paper claims vs what we measured" sections read from the reference results (results).

Nothing here computes a loss, a metric or a picture of its own: the notebooks import those from `lab.losses`,
`lab.heatmaps`, `lab.metrics`, `lab.runner` and `lab.viz`; these files arrange them for a notebook.
"""
from lab.notebook.budget import CPU_BUDGET, CUDA_BUDGET, LIVE_MODELS, live_config, pick_budget
from lab.notebook.faces import SHOWN_LANDMARKS, compare_faces, contour_alignment_figure, show_faces
from lab.notebook.live import LivePlot, train_live
from lab.notebook.maps import gaussian_map, rotation_cov
from lab.notebook.results import (all_verdicts, ced_by_backbone, claims_vs_measured, experiment_runs, jitter_figure,
                                  reference_robustness, sweep_figure)
from lab.notebook.session import (HEADLESS_RUNNERS, REPO, RESULTS_ENV, WIDGETS_ENV, interactive_frontend, results_dir,
                                  setup)
from lab.notebook.widgets import Knob, explore, show_source, shown
from lab.runner.inspect import attribute_table, contour_alignment, run_faces
from lab.viz.ced import ced_threshold
from lab.viz.history import history_figure
from lab.viz.maps import show_map

__all__ = [
    "CPU_BUDGET", "CUDA_BUDGET", "HEADLESS_RUNNERS", "LIVE_MODELS", "REPO", "RESULTS_ENV", "SHOWN_LANDMARKS",
    "WIDGETS_ENV", "Knob", "LivePlot", "all_verdicts", "attribute_table", "ced_by_backbone", "ced_threshold",
    "claims_vs_measured", "compare_faces", "contour_alignment", "contour_alignment_figure", "experiment_runs",
    "explore", "gaussian_map", "history_figure", "interactive_frontend", "jitter_figure", "live_config",
    "pick_budget", "reference_robustness", "results_dir", "rotation_cov", "run_faces", "setup", "show_faces",
    "show_map", "show_source", "shown", "sweep_figure", "train_live",
]
