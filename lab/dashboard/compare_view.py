"""The Compare view: which method is best per subset (table, CED, robustness, sweeps, paper claims)."""
from __future__ import annotations

import streamlit as st

from lab.dashboard import data
from lab.dashboard.ced import ced_section
from lab.dashboard.common import USER_ERRORS, error
from lab.runner.compare import comparison_table
from lab.viz import overlay as ov
from lab.runner.runs import recipe_note


def view_compare(results_dir: str, runs: dict, selected: list, colours: dict) -> None:
    if not runs:
        st.info("No finished runs yet: train one in the **Train** view, or run `python -m lab reproduce`.")
        return
    subsets = data.subsets_of(selected or list(runs.values()))  # the subsets of the runs being looked at
    subset = st.selectbox("Test subset", subsets, index=subsets.index("challenge") if "challenge" in subsets else 0,
                          key="cmp_subset")
    only_selected = st.checkbox("Table: only the runs selected in the sidebar", value=False, key="cmp_only")
    table_runs = selected if only_selected else list(runs.values())
    st.subheader(f"Which method is best on '{subset}'?")
    note = recipe_note(table_runs)
    if note:
        st.warning(note)
    table = comparison_table(table_runs)
    if len(table):
        table = table[table["subset"] == subset].sort_values("NME io (%)", kind="stable").reset_index(drop=True)
    if len(table):
        best = table.iloc[0]
        st.success(f"Best on **{subset}**: **{best['run']}** (loss `{best['loss']}`, {best['model']}, decoder "
                   f"{best['decoder']}): NME {best['NME io (%)']:.2f}% of the inter-ocular distance, "
                   f"FR@0.1 {best.get('FR@0.1 (%)', float('nan')):.1f}%, "
                   f"AUC@0.1 {best.get('AUC@0.1', float('nan')):.3f}.")
        st.dataframe(table, hide_index=True, width="stretch")
    else:
        st.info(f"No run has results on '{subset}'.")
    st.caption("NME in % of the inter-ocular distance (lower is better); FR@0.1 = faces with NME > 10%; "
               "AUC@0.1 = area under the CED up to 10% (higher is better); spread = mean distance of the predicted "
               "distribution from its mean, in model-input pixels.")
    ced_section(st.session_state.get("runs", []), selected, subset, colours)
    if not selected:
        return
    jitter = data.box_jitter_frame(selected, subset)
    st.subheader("Robustness to the face box")
    if len(jitter):
        from lab.viz.sweeps import line_plotly

        fig = line_plotly(jitter, "level", "nme", "curve", "box jitter (std of shift and log-scale)",
                          f"NME (%), {subset}", "NME as the face box is perturbed (line style = decoder)")
        st.plotly_chart(ov.recolour_traces(fig, colours, ov.decoder_dashes()), key="jitter")
        temporal = data.temporal_jitter_frame(selected)
        if len(temporal):
            st.caption("Temporal jitter on smooth synthetic sequences (lower = steadier predictions):")
            st.dataframe(temporal, hide_index=True)
    else:
        st.caption("None of the selected runs has box-jitter results (`python -m lab reproduce` adds them to the "
                   "wasserstein_jitter runs; `python -m lab eval RUN --jitter 0,0.1,0.2` prints them).")
    compare_sweeps(results_dir, list(runs), subset)


def compare_sweeps(results_dir: str, names: list[str], subset: str) -> None:
    from lab.viz.sweeps import line_plotly

    st.subheader("Sweeps and paper claims")
    try:
        items = data.sweep_frames(results_dir, names)
    except USER_ERRORS as e:
        error(e)
        return
    for item in items:
        done = not item["missing"]
        with st.expander(f"{item['experiment']} — " + ("all runs present" if done else
                                                     f"{len(item['missing'])} runs missing"), expanded=done):
            st.markdown(f"**Paper.** {item['paper']}  \n**Claim.** {item['claim']}")
            if not done:
                st.caption("Missing from this results folder: " + ", ".join(item["missing"]))
                continue
            frame = item["frame"]
            if frame is not None and len(frame):
                part = frame[frame["subset"] == subset] if subset in set(frame["subset"]) else frame
                fig = line_plotly(part, "x", "nme", "group", item["label"], f"NME (%), {subset}", item["experiment"],
                                  log_x=item["log_x"])
                fig.update_xaxes(tickvals=sorted(set(part["x"])))  # label the swept values, not a log grid
                st.plotly_chart(fig, key=f"sweep_{item['experiment']}")
            if item["verdicts"] is not None and len(item["verdicts"]):
                st.dataframe(item["verdicts"], hide_index=True)
