"""The Inspect view: one face, ground truth vs each run, heatmaps, ellipses, Laplace scales, decoders; worst faces;
faces where run A beats run B."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from lab.dashboard import data, upload
from lab.dashboard.common import DECODERS, USER_ERRORS, error, metric_tiles
from lab.dashboard.face_export import download_buttons
from lab.runner import inspect as ins
from lab.runner.predict import default_box, image_record, predict_record
from lab.viz import overlay as ov
from lab.viz.draw import face_thumbnail


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
        st.info("Overlay at least two runs (Runs to overlay, above) evaluated on the same faces to compare them "
                "face by face.")
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
            col.image(face_thumbnail(image, record.points, points), caption=labels[face].split(" — ")[1],
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
    given = st.file_uploader("Image of a face (PNG, JPEG or BMP; at most "
                             f"{upload.MAX_UPLOAD_BYTES // 2**20} MiB)", type=["png", "jpg", "jpeg", "bmp"],
                             key="ins_upload")
    if given is None:
        st.info("Upload a photo; the face box is the whole image, centred, unless you enter one.")
        return None
    image, note = upload.load_upload(given.getvalue(), given.name)
    if note:
        st.info(note)
    auto = default_box(image, selected[0].config.crop_scale)
    mode = st.radio("Face box", ("auto-centred", "enter x0 y0 x1 y1"), horizontal=True, key="ins_box_mode")
    if mode == "auto-centred":
        box = auto
    else:
        cols = st.columns(4)
        box = [c.number_input(n, value=float(round(v, 1)), key=f"ins_box_{n}") for c, n, v in
               zip(cols, ("x0", "y0", "x1", "y1"), auto)]
    k = data.load_model(selected[0]).num_points
    return image_record(image, box, k, given.name), image, False


def live_predictions(selected: list, record) -> dict:
    """Each run's predictions for a face that is not a stored test face; a failing run shows an error."""
    preds = {}
    for run in selected:
        try:
            preds[run.name] = predict_record(data.load_model(run), record, run.config)
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
    heat_runs = [r.name for r in selected if r.has_model]  # a run shipped without weights has no maps to draw
    c["heat_run"] = st.selectbox("Heatmap of", ["none", *heat_runs], index=1 if heat_runs else 0, key="ov_heat",
                                 help="runs with weights (model.pt); the others show their stored points only")
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


def overlaid_runs(selected: list) -> list:
    """The runs drawn on the face, picked among the sidebar's: the first one until the user adds more (the choice
    outlives a visit to another view; runs that leave the sidebar leave it too)."""
    names = [r.name for r in selected]
    before = st.session_state.get("ins_runs", st.session_state.get("ins_runs_kept"))
    kept = [n for n in before or [] if n in names]
    st.session_state["ins_runs"] = kept if kept or before == [] else names[:1]
    chosen = st.multiselect("Runs to overlay", names, key="ins_runs", help="the runs selected in the sidebar; "
                            "the first one sets the test subset's faces")
    st.session_state["ins_runs_kept"] = chosen
    by_name = {r.name: r for r in selected}
    return [by_name[n] for n in chosen]


def view_inspect(selected: list, colours: dict) -> None:
    if not selected:
        st.info("Select one or more runs in the sidebar.")
        return
    selected = overlaid_runs(selected)  # from here on: the runs drawn on the face
    if not selected:
        st.info("Pick a run to overlay (Runs to overlay, above).")
        return
    source = st.radio("Face from", ("Test faces", "Dataset path", "Uploaded image"), horizontal=True, key="ins_source")
    try:
        if source == "Test faces":
            picked = pick_test_face(selected)
            if picked is None:
                return
            record, image, preds = picked
            face = f"{st.session_state['ins_subset']}_{st.session_state['ins_face']}"
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
            face = Path(record.source).stem
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
        download_buttons(face, record.source, gt, visible, preds, shown, layers, zoom)
        st.caption("● prediction (run colour), green ● ground truth, lines = error vectors; ✕ argmax, ◇ soft-argmax, "
                   "△ local barycenter; dotted = covariance ellipse, dashed = Laplace scale. Heatmap: each "
                   "landmark's predicted distribution scaled to its own peak. Hover a point for its error.")
    if gt is not None and preds:
        metric_tiles([(f"NME {name}", f"{ins.face_nme(p['points'], gt, visible):.2f}%") for name, p in preds.items()])
        st.subheader("Per-landmark errors (% inter-ocular)")
        st.dataframe(ins.errors_by_run(preds, gt, visible), hide_index=True, height=300, key="ins_table")
