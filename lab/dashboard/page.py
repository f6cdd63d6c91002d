"""The dashboard page: title, sidebar, the chosen view (app.py calls main())."""
from __future__ import annotations

import streamlit as st

from lab.dashboard.common import sidebar
from lab.dashboard.compare_view import view_compare
from lab.dashboard.inspect_view import view_inspect
from lab.dashboard.train_view import view_train


def main() -> None:
    st.set_page_config(page_title="Landmark loss lab", layout="wide")
    st.title("Landmark loss lab")
    st.caption("Wing, LaplaceKL, STAR and 2D-Wasserstein losses on one backbone, one data pipeline and one "
               "evaluation. **Compare**: which method is best per subset. **Inspect**: face by face — heatmaps, "
               "uncertainty, decoders, and the faces where one method beats another. **Train**: a small run.")
    results_dir, runs, selected, colours, view = sidebar()
    if view == "Compare":
        view_compare(results_dir, runs, selected, colours)
    elif view == "Inspect":
        view_inspect(selected, colours)
    else:
        view_train()
