"""The dashboard's shared pieces: constants, the error box, metric tiles, the sidebar (results folder, runs,
view)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import streamlit as st

from lab.dashboard import data
from lab.heatmaps import DECODERS as DECODER_REGISTRY
from lab.runner.runs import IN_PROGRESS, RunError
from lab.viz import overlay as ov

HERE = Path(__file__).resolve().parents[2]  # the repository (app.py's folder)
TRAIN_DIR = HERE / "runs"  # where the Train view writes (a user folder; results/ is never written from here)
VIEWS = ("Compare", "Inspect", "Train")
USER_ERRORS = (ValueError, FileNotFoundError, RunError, KeyError)
DECODERS = tuple(DECODER_REGISTRY)  # the registry in lab/heatmaps.py
TILES_PER_ROW = 3  # st.metric tiles side by side: each stays about a third of the page wide
TILE_LABEL_CHARS = 26  # longer labels are shortened in the middle (the full label is the tile's tooltip)


def default_results() -> str:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--results")
    args, _ = parser.parse_known_args(sys.argv[1:])
    return args.results or str(HERE / "results")


def error(e: BaseException) -> None:
    st.error(str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e))


def short_label(text: str, limit: int = TILE_LABEL_CHARS) -> str:
    """text, or its start and end joined by "…" when it has more than `limit` characters."""
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return text[:head] + "…" + text[len(text) - (limit - 1 - head):]


def metric_tiles(items: Sequence[tuple[str, str]], per_row: int = TILES_PER_ROW) -> None:
    """st.metric tiles for (label, value) pairs, at most per_row to a row, labels short enough to fit."""
    for start in range(0, len(items), per_row):
        for col, (label, value) in zip(st.columns(per_row), items[start:start + per_row]):
            short = short_label(label)
            col.metric(short, value, help=label if short != label else None, border=True)


# -------------------------------------------------------------------------------------------------- sidebar

def sidebar():
    """Results folder, runs (several), view. Returns (results_dir, {name: Run}, selected runs, colours, view)."""
    st.session_state.setdefault("results_dir", default_results())
    if "pending_results" in st.session_state:  # a run just trained elsewhere: show its folder
        st.session_state["results_dir"] = st.session_state.pop("pending_results")
    results_dir = st.sidebar.text_input("Results folder", key="results_dir",
                                        help="a folder of run folders (python -m lab train --results DIR)")
    if "view" not in st.session_state:  # a link may open a view: ?view=Inspect
        st.session_state["view"] = st.query_params.get("view") if st.query_params.get("view") in VIEWS else VIEWS[0]
    view = st.sidebar.radio("View", VIEWS, key="view")
    try:
        runs, broken = data.load_runs(results_dir)
    except FileNotFoundError as e:
        st.error(f"{e}. Give an existing folder in the sidebar.")
        runs, broken = {}, {}
    for name, message in broken.items():
        if message.startswith(IN_PROGRESS):
            st.sidebar.info(f"**{name}**: {message}")
        else:
            st.error(f"Run folder **{name}** is skipped: {message}")
    names = list(runs)
    pending = st.session_state.pop("pending_run", None)
    if "runs" not in st.session_state:
        st.session_state["runs"] = data.default_selection(runs)
    st.session_state["runs"] = [n for n in st.session_state["runs"] if n in runs]
    if pending in runs and pending not in st.session_state["runs"]:
        st.session_state["runs"].append(pending)
    chosen = st.sidebar.multiselect("Runs", names, key="runs", help="runs to overlay, plot and compare")
    selected, unreadable = data.usable_runs([runs[n] for n in chosen])
    for name, message in unreadable.items():
        st.error(f"Run **{name}** is left out: {message}")
    for run in selected:
        if not run.has_model:
            st.sidebar.info(f"**{run.name}** ships without weights (no model.pt): its stored predictions are shown, "
                            "but it cannot predict new faces until retrained.")
    colours = {run.name: ov.run_colour(i) for i, run in enumerate(selected)}
    failed = sum(not m.startswith(IN_PROGRESS) for m in broken.values())
    st.sidebar.caption(f"{len(runs)} finished runs in `{results_dir}`" + (f", {failed} broken" if failed else ""))
    return results_dir, runs, selected, colours, view
