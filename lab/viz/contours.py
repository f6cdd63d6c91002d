"""How predicted covariances lie against the face's contours: histograms of the angle between each ellipse's major
axis and the contour tangent, and of the ellipses' anisotropy (STAR's claim, notebook 03)."""
from __future__ import annotations

from typing import Sequence

import numpy as np


def contour_alignment_figure(run_map: dict, subset: str = "common", only: Sequence[str] | None = None):
    """Histograms of lab.runner.inspect.contour_alignment for runs {name: Run} (heatmap runs only; `only` picks
    names). Returns the figure, or None when no run qualifies."""
    import matplotlib.pyplot as plt

    from lab.runner.inspect import contour_alignments

    data = contour_alignments(run_map, subset, only)
    if not data:
        return None
    fig, (ax_c, ax_a) = plt.subplots(1, 2, figsize=(12, 3.6))
    for name, (angle, ratio) in data.items():
        ax_c.hist(angle, bins=18, range=(0, 90), histtype="step", lw=2, density=True,
                  label=f"{name} (mean {angle.mean():.0f}°)")
        ax_a.hist(np.log2(ratio), bins=30, range=(0, 4), histtype="step", lw=2, density=True,
                  label=f"{name} (median {np.median(ratio):.2f})")
    ax_c.axhline(1 / 90, color="k", ls=":", lw=1, label="random axes (mean 45°)")
    ax_c.set(xlabel="angle between the major axis and the contour tangent (°)", ylabel="density",
             title="alignment with the contour (0° = along)")
    ax_a.set(xlabel="log2 anisotropy  sqrt(λ2 / λ1)", ylabel="density", title="anisotropy of the predicted maps")
    for ax in (ax_c, ax_a):
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(f"contour points, {subset} test faces", fontsize=10)
    fig.tight_layout()
    return fig
