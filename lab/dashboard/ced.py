"""The Compare view's CED: its x-range taken from the errors, and a sentence instead of an empty plot."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import streamlit as st

from lab.runner.compare import ced_curves
from lab.viz import overlay as ov

QUANTILE = 0.95  # the x-axis ends where this share of the plotted faces is in view
CAP = 0.5  # ... but never beyond half the inter-ocular distance: such a face is lost either way


def ced_range(curves: dict[str, np.ndarray], t: float = 0.1, quantile: float = QUANTILE, cap: float = CAP) -> float:
    """Upper end of the CED x-axis (NME as a fraction) for {label: per-face NMEs (N,)}: the `quantile` of the
    pooled finite NMEs rounded up to a whole percent, at least t (AUC@t's whole range stays in view) and at most
    cap; t when there is no finite NME."""
    pooled = np.concatenate([np.ravel(np.asarray(v, np.float64)) for v in curves.values()]) if curves else np.zeros(0)
    pooled = pooled[np.isfinite(pooled)]
    if not pooled.size:
        return t
    top = np.ceil(round(float(np.quantile(pooled, quantile)) * 100, 6)) / 100
    return float(min(max(top, t), max(cap, t)))


def ced_gaps(run_list: Sequence, subset: str) -> dict[str, str]:
    """{run name: why it has no CED curve on `subset`} for the runs without faces there."""
    out = {}
    for run in run_list:
        preds = run.predictions
        if not preds:
            out[run.name] = "shipped without predictions"
        elif subset not in preds:
            out[run.name] = f"has no faces in subset '{subset}' (its predictions cover {', '.join(preds)})"
        elif not len(preds[subset]["gt"]):
            out[run.name] = f"has 0 faces in subset '{subset}'"
    return out


def empty_reason(chosen: Sequence[str], run_list: Sequence, subset: str) -> str:
    """Why the CED of the runs chosen in the sidebar (names; run_list: those whose predictions load) is empty."""
    if not chosen:
        return "No run selected: pick runs in the sidebar to plot their CED and robustness."
    if not run_list:
        return "None of the selected runs could be read (see the errors above): no CED to plot."
    gaps = ced_gaps(run_list, subset)
    return f"No CED on '{subset}': " + "; ".join(f"**{name}** {why}" for name, why in gaps.items()) + "."


def ced_section(chosen: Sequence[str], run_list: Sequence, subset: str, colours: dict) -> None:
    """The CED plot of the runs on `subset` with an AUC threshold picker, or the sentence saying why there is none."""
    st.subheader("Cumulative error distribution")
    curves = {n: v for n, v in ced_curves(run_list, subset).items() if len(v)}
    if not curves:
        st.info(empty_reason(chosen, run_list, subset))
        return
    from lab.viz.ced import ced_plotly

    t = st.radio("AUC at", (0.1, 0.08, 0.05), horizontal=True, key="cmp_t",
                 format_func=lambda v: f"{100 * v:g}%")
    top = ced_range(curves, t)
    fig = ced_plotly(curves, t, title=f"CED — {subset}", x_max=top)
    st.plotly_chart(ov.recolour_traces(fig, colours), key="ced")
    beyond = float(np.mean(np.concatenate(list(curves.values())) > top))
    st.caption(f"x-axis up to {100 * top:g}% NME: the {100 * QUANTILE:g}th percentile of the plotted faces' errors, "
               f"at least the AUC threshold and at most {100 * CAP:g}%"
               + (f"; {100 * beyond:.0f}% of the faces lie beyond it." if beyond > 0 else "."))
    gaps = ced_gaps(run_list, subset)
    if gaps:
        st.caption("Not plotted: " + "; ".join(f"{name} {why}" for name, why in gaps.items()) + ".")
