"""Landmark loss lab dashboard: `streamlit run app.py [-- --results DIR]` (default: results/ beside this file).

Views: Compare (which method is best per subset: table, CED, robustness, sweeps, paper claims), Inspect (one face:
ground truth vs each run, heatmaps, covariance ellipses, Laplace scales, decoders, per-landmark errors; worst faces;
faces where run A beats run B) and Train (a small run from the browser). Layout and widgets only: the logic lives
in lab.viz.inspect, lab.viz.overlay, lab.viz.dashboard_data, lab.compare and lab.train.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np
import streamlit as st

from lab.compare import ced_curves, comparison_table
from lab.runs import IN_PROGRESS, RunError
from lab.heatmaps import DECODERS as DECODER_REGISTRY
from lab.viz import dashboard_data as data
from lab.viz import inspect as ins
from lab.viz import overlay as ov

HERE = Path(__file__).resolve().parent
VIEWS = ("Compare", "Inspect", "Train")
USER_ERRORS = (ValueError, FileNotFoundError, RunError, KeyError)
DECODERS = tuple(DECODER_REGISTRY)  # the registry in lab/heatmaps.py


def default_results() -> str:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--results")
    args, _ = parser.parse_known_args(sys.argv[1:])
    return args.results or str(HERE / "results")


def error(e: BaseException) -> None:
    st.error(str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e))


# -------------------------------------------------------------------------------------------------- sidebar

def sidebar():
    """Results folder, runs (several), view. Returns (results_dir, {name: Run}, selected runs, colours, view)."""
    st.session_state.setdefault("results_dir", default_results())
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
    colours = {run.name: ov.run_colour(i) for i, run in enumerate(selected)}
    failed = sum(not m.startswith(IN_PROGRESS) for m in broken.values())
    st.sidebar.caption(f"{len(runs)} finished runs in `{results_dir}`" + (f", {failed} broken" if failed else ""))
    return results_dir, runs, selected, colours, view


# -------------------------------------------------------------------------------------------------- compare

def view_compare(results_dir: str, runs: dict, selected: list, colours: dict) -> None:
    if not runs:
        st.info("No finished runs yet: train one in the **Train** view, or run `python -m lab reproduce`.")
        return
    subsets = data.subsets_of(list(runs.values()))
    subset = st.selectbox("Test subset", subsets, index=subsets.index("challenge") if "challenge" in subsets else 0,
                          key="cmp_subset")
    only_selected = st.checkbox("Table: only the runs selected in the sidebar", value=False, key="cmp_only")
    table_runs = selected if only_selected else list(runs.values())
    st.subheader(f"Which method is best on '{subset}'?")
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
    if not selected:
        st.info("Select runs in the sidebar to plot their CED curves and robustness.")
        return
    st.subheader("Cumulative error distribution")
    t = st.radio("CED up to", (0.1, 0.08, 0.05), horizontal=True, key="cmp_t", format_func=lambda v: f"{100 * v:g}%")
    curves = ced_curves(selected, subset)
    if curves:
        from lab.viz.ced import ced_plotly

        st.plotly_chart(ov.recolour_traces(ced_plotly(curves, t, title=f"CED — {subset}"), colours), key="ced")
    jitter = data.box_jitter_frame(selected, subset)
    st.subheader("Robustness to the face box")
    if len(jitter):
        from lab.viz.sweeps import line_plotly

        fig = line_plotly(jitter, "level", "nme", "curve", "box jitter (std of shift and log-scale)",
                          f"NME (%), {subset}", "NME as the face box is perturbed (line style = decoder)")
        st.plotly_chart(ov.recolour_traces(fig, colours, ov.DECODER_DASHES), key="jitter")
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


# -------------------------------------------------------------------------------------------------- inspect

def pick_test_face(selected: list):
    """Subset, ordering (index / worst / A beats B), gallery and face picker. Returns (record, image, preds)."""
    first = selected[0]
    subsets = list(first.predictions)
    c1, c2 = st.columns([1, 2])
    subset = c1.selectbox("Test subset", subsets, key="ins_subset",
                          index=subsets.index("challenge") if "challenge" in subsets else 0)
    base = ins.subset_predictions(first, subset)
    same = [r for r in selected if subset in r.predictions and ins.same_faces(base, r.predictions[subset])]
    others = [r.name for r in selected if r not in same]
    if others:
        st.warning(f"Not shown: {', '.join(others)} (evaluated on other '{subset}' faces than {first.name}).")
    order = c2.radio("Order faces", ("by index", "worst first", "where A beats B"), horizontal=True, key="ins_order")
    names = [r.name for r in same]
    runs = {r.name: r for r in same}
    drawn = first
    if order == "worst first":
        worst = st.selectbox("Worst faces of run", names, key="ins_worst_run")
        table, drawn = ins.worst_faces(runs[worst], subset), runs[worst]
        labels = {int(f): f"#{f} — {worst} NME {v:.2f}%" for f, v in zip(table["face"], table["nme"])}
    elif order == "where A beats B":
        table, labels, a = a_beats_b(runs, subset)
        if table is None:
            return None
        drawn = runs[a]
    else:
        table = ins.face_nme_table(first, subset)
        labels = {int(f): f"#{f} — {first.name} NME {v:.2f}%" for f, v in zip(table["face"], table["nme"])}
    options = [int(f) for f in table["face"]]
    signature = (subset, order, tuple(options))  # a new ordering starts at its first face (the worst, A's best win)
    if st.session_state.get("ins_face") not in options or st.session_state.get("ins_signature") != signature:
        st.session_state["ins_face"] = options[0]
    st.session_state["ins_signature"] = signature
    gallery(first, subset, options[:6], labels, drawn)
    index = st.selectbox("Face", options, format_func=labels.get, key="ins_face")
    record, image = data.test_face(first, subset, index)
    preds = {r.name: ins.face_prediction(r.predictions[subset], index) for r in same}
    return record, image, preds


def a_beats_b(runs: dict, subset: str):
    """Two run pickers, then (faces sorted by NME(B) - NME(A), their labels, A's name); Nones for < 2 runs."""
    names = list(runs)
    if len(names) < 2:
        st.info("Select at least two runs (evaluated on the same faces) to compare them face by face.")
        return None, None, None
    losses = {n: runs[n].config.loss for n in names}
    a_default = next((i for i, n in enumerate(names) if losses[n] == "star"), 0)
    b_default = next((i for i, n in enumerate(names) if losses[n] == "heatmap_mse" and i != a_default),
                     1 if a_default == 0 else 0)
    c1, c2 = st.columns(2)
    a = c1.selectbox("Run A", names, index=a_default, key="ins_a")
    b = c2.selectbox("Run B", names, index=b_default, key="ins_b")
    table = ins.faces_a_beats_b(runs[a], runs[b], subset)
    wins = int((table["gain"] > 0).sum())
    st.markdown(f"**{a}** beats **{b}** on **{wins} of {len(table)}** '{subset}' faces (mean NME "
                f"{table['nme_a'].mean():.2f}% vs {table['nme_b'].mean():.2f}%). Faces below are sorted by NME(B) − NME(A): A's biggest wins first.")
    labels = {int(f): f"#{f} — A {x:.2f}% vs B {y:.2f}% (gain {g:+.2f})"
              for f, x, y, g in zip(table["face"], table["nme_a"], table["nme_b"], table["gain"])}
    return table, labels, a


def gallery(run, subset: str, faces: list[int], labels: dict, drawn) -> None:
    """Thumbnails of the first faces of the ordering with GT (green) and one run (red); a button shows each."""
    with st.expander("Gallery (first faces of this order; green = ground truth, red = " + drawn.name + ")",
                     expanded=True):
        cols = st.columns(len(faces) or 1)
        for col, face in zip(cols, faces):
            record, image = data.test_face(run, subset, face)
            points = drawn.predictions[subset]["points"][face]
            col.image(ins.face_thumbnail(image, record.points, points), caption=labels[face].split(" — ")[1],
                      width="stretch")
            col.button(f"show #{face}", key=f"gal_{face}", on_click=st.session_state.__setitem__,
                       args=("ins_face", face))


def pick_dataset_face(selected: list):
    spec = st.text_input("Data source", key="ins_spec", placeholder="300w:/path/to/folder (also wflw:LIST[:ROOT], "
                         "cofw:MAT, aflw:LIST[:ROOT])")
    if not spec:
        st.info("Give a real data source: a folder of images with .pts files (300w:PATH) or a WFLW/COFW/AFLW file.")
        return None
    faces = data.dataset_faces(spec)
    index = int(st.number_input(f"Face (0 .. {len(faces) - 1})", 0, len(faces) - 1, 0, key="ins_ds_index"))
    record = faces[index]
    st.caption(f"{record.source}")
    return record, ins.record_image(record), True


def pick_upload(selected: list):
    upload = st.file_uploader("Image of a face (PNG, JPEG or BMP; at most "
                              f"{ins.MAX_UPLOAD_BYTES // 2**20} MiB)", type=["png", "jpg", "jpeg", "bmp"],
                              key="ins_upload")
    if upload is None:
        st.info("Upload a photo; the face box is the whole image, centred, unless you enter one.")
        return None
    image, note = ins.load_upload(upload.getvalue(), upload.name)
    if note:
        st.info(note)
    from lab.predict import default_box

    auto = default_box(image, selected[0].config.crop_scale)
    mode = st.radio("Face box", ("auto-centred", "enter x0 y0 x1 y1"), horizontal=True, key="ins_box_mode")
    if mode == "auto-centred":
        box = auto
    else:
        cols = st.columns(4)
        box = [c.number_input(n, value=float(round(v, 1)), key=f"ins_box_{n}") for c, n, v in
               zip(cols, ("x0", "y0", "x1", "y1"), auto)]
    k = data.load_model(selected[0]).num_points
    return ins.image_record(image, box, k, upload.name), image, False


def live_predictions(selected: list, record) -> dict:
    """Each run's predictions for a face that is not a stored test face; a failing run shows an error."""
    preds = {}
    for run in selected:
        try:
            preds[run.name] = ins.predict_record(data.load_model(run), record, run.config)
        except USER_ERRORS as e:
            error(e)
    return preds


def overlay_controls(selected: list, k: int, has_gt: bool) -> dict:
    from lab.schema import get_scheme

    names = get_scheme(k).names if k in (68, 98, 29, 19) else [str(i) for i in range(k)]
    c = {}
    c["gt"] = st.checkbox("ground truth", value=has_gt, disabled=not has_gt, key="ov_gt")
    c["points"] = st.checkbox("predictions", value=True, key="ov_points")
    c["errors"] = st.checkbox("error vectors (GT → prediction)", value=has_gt, disabled=not has_gt, key="ov_errors")
    c["box"] = st.checkbox("face box", value=not has_gt, key="ov_box", help="the box the crop is taken around "
                           "(the model sees crop_scale × its longer side)")
    c["landmark"] = st.selectbox("Landmark", [None, *range(k)], key="ov_landmark",
                                 format_func=lambda i: "all" if i is None else f"#{i} {names[i]}")
    c["zoom"] = c["landmark"] is not None and st.checkbox("zoom on the landmark", value=True, key="ov_zoom")
    c["heat_run"] = st.selectbox("Heatmap of", ["none", *[r.name for r in selected]], index=1, key="ov_heat")
    c["opacity"] = st.slider("heatmap opacity", 0.0, 1.0, 0.5, 0.05, key="ov_opacity")
    c["cov"] = st.checkbox("covariance ellipse (Wasserstein moments)", value=False, key="ov_cov")
    c["laplace"] = st.checkbox("Laplace scale b", value=False, key="ov_laplace",
                               help="per-axis E|q - μ| of each predicted distribution (LaplaceKL's scale)")
    c["laplace_kind"] = st.radio("drawn as", ("box", "ellipse"), horizontal=True, key="ov_laplace_kind",
                                 disabled=not c["laplace"], label_visibility="collapsed")
    c["n_sigma"] = st.slider("ellipse / box size (× σ or × b)", 0.5, 3.0, 1.0, 0.5, key="ov_sigma")
    c["decoders"] = st.multiselect("decoders", DECODERS, default=[], key="ov_decoders",
                                   help="argmax ✕, soft-argmax ◇, local barycenter △ of each run's heatmap")
    c["names"] = names
    return c


def heat_layer(run, record, image: np.ndarray, landmark) -> np.ndarray | None:
    """(H, W) heat in [0, 1] in the image frame from the run's model on this face; None for coordinate models."""
    model = data.load_model(run)
    _, maps, matrix = ins.run_heatmaps(model, record, run.config)
    if maps is None:
        st.caption(f"{run.name} regresses coordinates: no heatmap to show.")
        return None
    return ov.heatmap_on_image(ov.landmark_heat(maps, landmark), matrix, model.stride, image.shape[:2])


def view_inspect(selected: list, colours: dict) -> None:
    if not selected:
        st.info("Select one or more runs in the sidebar.")
        return
    source = st.radio("Face from", ("Test faces", "Dataset path", "Uploaded image"), horizontal=True, key="ins_source")
    try:
        if source == "Test faces":
            picked = pick_test_face(selected)
            if picked is None:
                return
            record, image, preds = picked
            stored = next(iter(preds.values()))
            gt, visible = stored["gt"], stored["visible"].astype(bool)
            mismatch = ins.record_mismatch(record, stored)
            if mismatch:
                st.warning(mismatch.capitalize() + ".")
        else:
            picked = pick_dataset_face(selected) if source == "Dataset path" else pick_upload(selected)
            if picked is None:
                return
            record, image, labelled = picked
            gt, visible = (record.points, record.visible) if labelled else (None, None)
            preds = live_predictions(selected, record)
    except USER_ERRORS as e:
        error(e)
        return
    k = len(gt) if gt is not None else len(next(iter(preds.values()))["points"]) if preds else 68
    fig_col, ctl_col = st.columns([3, 1])
    with ctl_col:
        c = overlay_controls(selected, k, gt is not None)
    shown = image
    if c["heat_run"] != "none":
        run = next(r for r in selected if r.name == c["heat_run"])
        try:
            heat = heat_layer(run, record, image, c["landmark"])
            if heat is not None:
                shown = ov.blend_heat(image, heat, c["opacity"])
        except USER_ERRORS as e:
            with fig_col:
                st.error(f"Heatmap of {run.name}: {e}")
    options = ov.OverlayOptions(gt=c["gt"], points=c["points"], errors=c["errors"], cov=c["cov"], laplace=c["laplace"],
                                laplace_kind=c["laplace_kind"],
                                decoders=tuple(c["decoders"]), landmark=c["landmark"], n_sigma=c["n_sigma"],
                                names=c["names"], box=c["box"])
    layers = ov.face_layers(gt, visible, preds, options, colours)
    zoom = None
    if c["zoom"]:
        i = c["landmark"]
        framed = [p[key][i] for p in preds.values() for key in ("points", *[f"{d}_points" for d in c["decoders"]])
                  if key in p] + ([gt[i]] if gt is not None else [])
        zoom = ov.zoom_window(np.array(framed), min_half=max(6.0, 0.08 * max(image.shape[:2])))
    with fig_col:
        st.plotly_chart(ov.plotly_face(shown, layers, zoom=zoom), key="face")
        st.caption("● prediction (run colour), green ● ground truth, lines = error vectors; ✕ argmax, ◇ soft-argmax, "
                   "△ local barycenter; dotted = covariance ellipse, dashed = Laplace scale. Heatmap: each "
                   "landmark's predicted distribution scaled to its own peak. Hover a point for its error.")
    if gt is not None and preds:
        cols = st.columns(len(preds))
        for col, (name, p) in zip(cols, preds.items()):
            col.metric(f"NME {name}", f"{ins.face_nme(p['points'], gt, visible):.2f}%")
        st.subheader("Per-landmark errors (% inter-ocular)")
        st.dataframe(ins.errors_by_run(preds, gt, visible), hide_index=True, height=300, key="ins_table")


# ---------------------------------------------------------------------------------------------------- train

def view_train(results_dir: str) -> None:
    from lab.config import RunConfig
    from lab.losses import LOSSES
    from lab.models import MODELS

    if "trained" in st.session_state:
        st.success(st.session_state.pop("trained"))
    st.markdown("Train a small run on this machine; when it finishes it appears in the sidebar's run list.")
    losses, models = sorted(LOSSES), sorted(MODELS)
    with st.form("train_form"):
        c1, c2, c3 = st.columns(3)
        name = c1.text_input("Run name", value="my-run", key="tr_name")
        loss = c2.selectbox("Loss", losses, index=losses.index("laplace_kl"), key="tr_loss")
        model = c3.selectbox("Model", models, index=models.index("rcn"), key="tr_model")
        width = c1.select_slider("Width", (0.0625, 0.125, 0.25, 0.5, 1.0), value=0.25, key="tr_width")
        train_n = c2.number_input("Training faces", 8, 5000, 256, key="tr_train_n")
        test_n = c3.number_input("Test faces per subset", 4, 600, 64, key="tr_test_n")
        epochs = c1.number_input("Epochs", 1, 50, 2, key="tr_epochs")
        spec = c2.text_input("Data", value="synthetic", key="tr_data", help="synthetic, or 300w:PATH etc.")
        batch = c3.number_input("Batch size", 2, 128, 32, key="tr_batch")
        size = c1.selectbox("Synthetic image size", (64, 96, 128), index=2, key="tr_size")
        resume = c2.checkbox("continue an unfinished run of this name", value=False, key="tr_resume")
        submitted = st.form_submit_button("Start training")
    st.caption("Stay on this view until it finishes: leaving it stops the run after its last saved epoch "
               "(tick 'continue' to resume it, or `python -m lab train --name NAME --resume`).")
    if not submitted:
        return
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name or ""):
        st.error(f"Run name {name!r}: use letters, digits, '.', '_' or '-' (it becomes a folder name).")
        return
    cfg = RunConfig(name=name, loss=loss, model=model, width=float(width), data=spec.strip(), train_n=int(train_n),
                    val_n=max(8, int(train_n) // 8), test_n=int(test_n), epochs=int(epochs), batch_size=int(batch),
                    synth_size=int(size))
    bar = st.progress(0.0, text="building the model and data ...")
    status = st.empty()

    def on_epoch(epoch: int, row: dict) -> None:
        val = f", val NME {100 * row['val_nme']:.2f}%" if "val_nme" in row else ""
        bar.progress(epoch / cfg.epochs, text=f"epoch {epoch}/{cfg.epochs}: loss {row['train_loss']:.4f}{val}")

    from lab.train import train

    try:
        run = train(cfg, results_dir, resume=resume, progress=False, log=status.caption, on_epoch=on_epoch)
    except FileExistsError as e:
        st.error(f"{e}. Here: pick another name, or tick 'continue an unfinished run of this name'.")
        return
    except (*USER_ERRORS, RuntimeError) as e:
        error(e)
        return
    full = run.metrics["subsets"].get("full") or next(iter(run.metrics["subsets"].values()))
    st.session_state["trained"] = (f"Trained **{run.name}** in {run.metrics.get('train_seconds', 0):.0f} s: test NME "
                                   f"{100 * full['nme_inter_ocular']:.2f}%. It is now selected in the sidebar.")
    st.session_state["pending_run"] = run.name
    st.rerun()


# ----------------------------------------------------------------------------------------------------- main

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
        view_train(results_dir)


main()
