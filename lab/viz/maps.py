"""One heatmap as a picture, in pixel coordinates, with its covariance ellipse and labelled points."""
from __future__ import annotations

import numpy as np
import torch

from lab.viz.overlay import ellipse_points


def show_map(ax, heat, title: str = "", mean=None, cov=None, points: dict | None = None, zoom: float | None = None,
             n_sigma: float = 2.0, cmap: str = "magma"):
    """One heatmap (h, w) in pixel coordinates (colours from 0 up), with an optional n-sigma covariance ellipse around `mean` and
    labelled points {label: ((x, y), marker colour)}; zoom: half-size of a window around `mean` (or the map centre)."""
    heat = heat.detach().cpu().numpy() if isinstance(heat, torch.Tensor) else np.asarray(heat)
    h, w = heat.shape
    ax.imshow(heat, cmap=cmap, extent=(-0.5, w - 0.5, h - 0.5, -0.5), interpolation="nearest",
              vmin=min(0.0, float(heat.min())))  # from 0: a flat floor of probability shows as such
    if mean is not None and cov is not None:
        xy = ellipse_points(np.asarray(mean, np.float64), np.asarray(cov, np.float64), n_sigma)
        ax.plot(xy[:, 0], xy[:, 1], "--", color="cyan", lw=1.2, label=f"{n_sigma:g}σ ellipse")
    for label, (xy, style) in (points or {}).items():
        ax.plot(*np.asarray(xy, np.float64), style, ms=9, mew=2, label=label, ls="none")
    if zoom:
        cx, cy = (mean if mean is not None else ((w - 1) / 2, (h - 1) / 2))
        ax.set(xlim=(cx - zoom, cx + zoom), ylim=(cy + zoom, cy - zoom))
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    if points or cov is not None:
        ax.legend(fontsize=7, loc="lower left", framealpha=0.7)
    return ax
