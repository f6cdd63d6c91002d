"""Training curves: loss and NME per epoch from a run's train_log rows (the notebooks' live curve)."""
from __future__ import annotations

from typing import Sequence

import numpy as np


def history_figure(rows: Sequence[dict], title: str = ""):
    """Loss (left) and NME in % (right: train, validation) per epoch from train_log rows (dicts)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 2.8), dpi=100)
    ax_loss, ax_nme = fig.subplots(1, 2)
    epochs = [r["epoch"] for r in rows]
    ax_loss.plot(epochs, [r["train_loss"] for r in rows], "o-", label="train loss")
    if any("d_loss" in r for r in rows):
        ax_loss.plot(epochs, [r.get("d_loss", np.nan) for r in rows], "s--", label="discriminator loss")
    ax_loss.set(xlabel="epoch", ylabel="loss", title=title or "training loss")
    ax_nme.plot(epochs, [100 * r["train_nme"] for r in rows], "o-", label="train")
    val = [(r["epoch"], 100 * float(r["val_nme"])) for r in rows if r.get("val_nme") not in (None, "")]
    if val:
        ax_nme.plot(*zip(*val), "s-", label="validation")
    ax_nme.set(xlabel="epoch", ylabel="NME (% inter-ocular)", title="NME")
    for ax in (ax_loss, ax_nme):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    return fig
