"""The dashboard through streamlit's AppTest (each view, runs, toggles, rendered values, downloads, bad input) and the
logic behind it (lab.runner.inspect, lab.dashboard.upload): faces sorted by NME or by the difference of two runs,
safe uploads."""
from __future__ import annotations

import base64
import json
import shutil
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Block, Column, Metric

from lab import metrics
from lab.runner import runs
from lab.config import RunConfig
from lab.data.synthetic import SyntheticFaces
from lab.runner.evaluate import face_nmes
from lab.models import build_model
from lab.runner.train import train
from lab.dashboard import upload
from lab.runner import inspect as ins
from lab.runner.predict import check_box, predict_record

ROOT = Path(__file__).resolve().parents[1]
TINY = RunConfig(model="rcn", width=0.0625, train_n=16, val_n=4, test_n=6, epochs=1, batch_size=8, device="cpu",
                 threads=1, synth_size=64, augment=False)
RUNS = {"laplace": "laplace_kl", "mse": "heatmap_mse", "star": "star"}


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """Three tiny runs on the same faces, a broken run folder (bad metrics.json), a run with a truncated
    predictions.npz and a run whose model.pt has K=98 (both copies of "laplace", so never selected by default)."""
    root = tmp_path_factory.mktemp("app_results")
    for name, loss in RUNS.items():
        train(TINY.replace(name=name, loss=loss), root, progress=False, log=lambda _: None)
    (root / "broken").mkdir()
    shutil.copy(root / "laplace" / runs.CONFIG, root / "broken" / runs.CONFIG)
    (root / "broken" / runs.METRICS).write_text("{not json")
    shutil.copytree(root / "laplace", root / "truncated")
    data = (root / "truncated" / runs.PREDICTIONS).read_bytes()
    (root / "truncated" / runs.PREDICTIONS).write_bytes(data[: len(data) // 2])
    shutil.copytree(root / "laplace", root / "wrongk")
    other = build_model("rcn", num_points=98, width=0.0625)
    runs.save_torch(root / "wrongk" / runs.MODEL, {"config": other.config, "model": other.state_dict()})
    return root


def _app(results: Path | None, view: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    if results is not None:
        at.session_state["results_dir"] = str(results)
    if view:
        at.session_state["view"] = view
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _overlay_all(at: AppTest) -> AppTest:
    """Inspect: overlay every run selected in the sidebar, in its order (the view starts with the first only)."""
    return at.multiselect(key="ins_runs").set_value(at.sidebar.multiselect(key="runs").value).run()


def _blocks(node):
    """Every block (container, row of columns, column) below an AppTest node, depth first."""
    for child in getattr(node, "children", {}).values():
        if isinstance(child, Block):
            yield child
            yield from _blocks(child)


def _errors(at: AppTest) -> list[str]:
    """The page's error messages other than the (expected) one about the broken run folder."""
    return [e.value for e in at.error if not e.value.startswith("Run folder **broken**")]


def _charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _values(v) -> np.ndarray:
    """A plotly trace array (plain list or the typed {"dtype", "bdata"} encoding) as numpy."""
    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
    return np.asarray(v, dtype=float)


def _trace(spec: dict, name: str) -> dict:
    return next(t for t in spec["data"] if t.get("name") == name)


def _face_chart(at: AppTest) -> dict:
    return next(s for s in _charts(at) if any(t.get("name") == "ground truth" for t in s["data"])
                or any(t.get("type") == "image" for t in s["data"]))


def _ced_top(nmes: list[np.ndarray], t: float) -> float:
    """The CED x-axis end (%) the Compare view should pick for these per-face NMEs (%): their 95th percentile
    rounded up to a whole percent, at least 100 t, at most 50."""
    q = np.quantile(np.concatenate(nmes), 0.95)
    return float(min(max(np.ceil(round(q, 6)), 100 * t), 50.0))


def _nmes(results: Path, name: str, subset: str = "challenge") -> np.ndarray:
    pred = runs.open_run(results / name).predictions[subset]
    return 100 * face_nmes(pred, 68)


# ------------------------------------------------------------------------------------------------- Compare

def test_compare_answers_which_method_is_best_and_reports_the_broken_run(results):
    at = _app(results)
    errors = " ".join(e.value for e in at.error)
    assert "broken" in errors and "not valid JSON" in errors
    best = min(("laplace", "mse", "star"), key=lambda n: (_nmes(results, n).mean(), n))
    table = at.dataframe[0].value
    assert table["NME io (%)"].is_monotonic_increasing and set(table["subset"]) == {"challenge"}
    assert len(table) == 5 and table["NME io (%)"].iloc[0] == pytest.approx(_nmes(results, best).mean(), rel=1e-3)  # file on a 1/256 px grid
    assert f"**{table['run'].iloc[0]}**" in at.success[0].value and "challenge" in at.success[0].value
    ced = _trace(_charts(at)[0], next(t["name"] for t in _charts(at)[0]["data"] if t["name"].startswith("star")))
    assert np.all(np.diff(_values(ced["y"])) >= 0)

    at.selectbox(key="cmp_subset").set_value("common").run()
    at.radio(key="cmp_t").set_value(0.05).run()
    assert not at.exception and "common" in at.success[0].value
    spec, shown = _charts(at)[0], at.sidebar.multiselect(key="runs").value
    top = _ced_top([_nmes(results, n, "common") for n in shown], 0.05)
    assert spec["layout"]["xaxis"]["range"] == [0, pytest.approx(top)]
    auc = metrics.auc(_nmes(results, "star", "common") / 100, 0.05)
    assert any(t["name"] == f"star (AUC@0.05 {auc:.3f})" for t in spec["data"])  # the legend's AUC is at t
    assert set(at.dataframe[0].value["subset"]) == {"common"}

    at.sidebar.multiselect(key="runs").set_value(["mse", "truncated"]).run()
    assert not at.exception and any(e.startswith("Run **truncated** is left out") for e in _errors(at))
    assert [t["name"].split(" ")[0] for t in _charts(at)[0]["data"]] == ["mse"]  # the CED of the readable run


def _copy_run(src: Path, dst: Path, keep=None, shift_px: float | None = None) -> Path:
    """A copy of a run folder whose predictions keep only the arrays `keep(key)` accepts, and whose points are
    moved to ground truth + (shift_px, 0) when shift_px is given."""
    shutil.copytree(src, dst)
    with np.load(src / runs.PREDICTIONS) as z:
        arrays = {k: z[k] for k in z.files if keep is None or keep(k)}
    for key in [k for k in arrays if k.endswith("/points") and shift_px is not None]:
        gt = arrays[key.rsplit("/", 1)[0] + "/gt"].astype(np.float32)
        arrays[key] = gt + np.float32([shift_px, 0.0])
    np.savez(dst / runs.PREDICTIONS, **arrays)
    return dst


def _ced_info(at: AppTest) -> str:
    return " ".join(i.value for i in at.info)


def test_ced_range_follows_the_errors(results, tmp_path):
    """Good predictions keep the axis at the AUC threshold; worse ones stretch it to their 95th percentile."""
    folder = tmp_path / "results"
    for name, px in (("near", 0.5), ("far", 3.0)):
        _copy_run(results / "laplace", folder / name, shift_px=px)
    at = _app(folder)
    tops = {}
    for name in ("near", "far"):
        at.sidebar.multiselect(key="runs").set_value([name]).run()
        tops[name] = _charts(at)[0]["layout"]["xaxis"]["range"][1]
        assert tops[name] == pytest.approx(_ced_top([_nmes(folder, name)], 0.1)) and not at.exception
    assert tops["near"] == pytest.approx(10.0) and 10.0 < tops["far"] < 50.0, tops
    beyond = np.mean(_nmes(folder, "far") > tops["far"])  # the faces off the plot are counted in its caption
    assert 0 < beyond < 0.5 and any(f"{100 * beyond:.0f}% of the faces lie beyond it" in c.value for c in at.caption)


def test_an_empty_ced_says_why(results, tmp_path):
    folder = tmp_path / "results"
    _copy_run(results / "laplace", folder / "laplace")
    _copy_run(results / "laplace", folder / "common-only", keep=lambda k: k.startswith("common/"))
    _copy_run(results / "laplace", folder / "no-preds", keep=lambda k: False)
    _copy_run(results / "laplace", folder / "cut")
    (folder / "cut" / runs.PREDICTIONS).write_bytes((folder / "cut" / runs.PREDICTIONS).read_bytes()[:100])
    at = _app(folder)
    ced_charts = lambda: [c for c in _charts(at) if c["layout"]["title"]["text"].startswith("CED")]  # noqa: E731
    at.sidebar.multiselect(key="runs").set_value([]).run()
    assert "No run selected" in _ced_info(at) and not ced_charts()
    at.sidebar.multiselect(key="runs").set_value(["cut"]).run()
    assert "None of the selected runs could be read" in _ced_info(at) and not ced_charts()
    at.sidebar.multiselect(key="runs").set_value(["common-only", "no-preds"]).run()
    assert at.selectbox(key="cmp_subset").value == "challenge" and not ced_charts() and not at.exception
    text = _ced_info(at)
    assert "**common-only** has no faces in subset 'challenge'" in text and "**no-preds** shipped without predictions" in text
    at.sidebar.multiselect(key="runs").set_value(["laplace", "common-only"]).run()
    assert [t["name"].split(" ")[0] for t in ced_charts()[0]["data"]] == ["laplace"]
    assert any(c.value.startswith("Not plotted: common-only has no faces") for c in at.caption)


# ------------------------------------------------------------------------------------------------- Inspect

def test_inspect_overlays_and_per_landmark_errors(results):
    at = _overlay_all(_app(results, "Inspect"))
    nme = {m.label: m.value for m in at.metric}
    for name in ("laplace", "mse", "star"):
        assert nme[f"NME {name}"] == f"{_nmes(results, name)[0]:.2f}%"  # face #0 of challenge, from the stored run
    table = at.dataframe[0].value
    stored = runs.open_run(results / "star").predictions["challenge"]
    expected = ins.landmark_errors(stored["points"][0], stored["gt"][0], stored["visible"][0])
    assert len(table) == 68 and np.allclose(table["star (%)"], expected["error_nme"].round(2))

    at.checkbox(key="ov_cov").check().run()
    at.multiselect(key="ov_decoders").set_value(["barycenter"]).run()
    spec = _face_chart(at)
    assert _values(_trace(spec, "star cov 1σ")["x"]).size == 68 * 66
    assert np.allclose(_values(_trace(spec, "star barycenter")["x"]), stored["barycenter_points"][0, :, 0])

    at.selectbox(key="ov_landmark").set_value(36).run()
    spec = _face_chart(at)
    assert np.allclose(_values(_trace(spec, "star")["x"]), stored["points"][0, 36, 0])
    x0, x1 = spec["layout"]["xaxis"]["range"]
    framed = [stored["gt"][0, 36, 0]] + [runs.open_run(results / n).predictions["challenge"][k][0, 36, 0]
                                         for n in RUNS for k in ("points", "barycenter_points")]
    assert x0 < min(framed) and max(framed) < x1 and [x0, x1] != [-0.5, 63.5]  # zoomed on landmark 36 and its points
    at.slider(key="ov_opacity").set_value(0.2).run()
    assert not at.exception and not _errors(at)


def test_inspect_overlays_one_run_until_more_are_added(results):
    at = _app(results, "Inspect")
    sidebar = at.sidebar.multiselect(key="runs").value
    assert len(sidebar) == 3 and at.multiselect(key="ins_runs").value == sidebar[:1]
    assert [m.label for m in at.metric] == [f"NME {sidebar[0]}"]
    assert {t.get("name") for t in _face_chart(at)["data"]} & set(RUNS) == {sidebar[0]}
    at.multiselect(key="ins_runs").set_value(sidebar[:2]).run()
    assert [m.label for m in at.metric] == [f"NME {n}" for n in sidebar[:2]]
    at.sidebar.radio(key="view").set_value("Compare").run()
    at.sidebar.radio(key="view").set_value("Inspect").run()
    assert at.multiselect(key="ins_runs").value == sidebar[:2]  # the choice outlives a visit to Compare
    at.sidebar.multiselect(key="runs").set_value(sidebar[1:]).run()
    assert at.multiselect(key="ins_runs").value == [sidebar[1]] and not at.exception
    at.multiselect(key="ins_runs").set_value([]).run()
    assert "Pick a run to overlay" in " ".join(i.value for i in at.info) and not at.metric


def _downloads(monkeypatch) -> dict:
    """{file name: data or callable} of every download the app registers from now on (latest run wins)."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    seen, add, add_deferred = {}, MediaFileManager.add, MediaFileManager.add_deferred

    def added(self, data, mimetype, coordinates, file_name=None, **kw):
        seen[file_name] = data
        return add(self, data, mimetype, coordinates, file_name=file_name, **kw)

    def deferred(self, data, mimetype, coordinates, file_name=None, **kw):
        seen[file_name] = data
        return add_deferred(self, data, mimetype, coordinates, file_name=file_name, **kw)

    monkeypatch.setattr(MediaFileManager, "add", added)
    monkeypatch.setattr(MediaFileManager, "add_deferred", deferred)
    return seen


def test_inspect_downloads_the_points_and_the_figure(results, monkeypatch):
    seen = _downloads(monkeypatch)
    at = _overlay_all(_app(results, "Inspect"))
    at.selectbox(key="ins_face").set_value(2).run()
    assert {b.key for b in at.download_button} == {"ins_dl_points", "ins_dl_png"}
    doc = json.loads(seen["challenge_2_points.json"])
    assert doc["face"] == "challenge_2" and set(doc["runs"]) == set(RUNS)
    for name in RUNS:
        stored = runs.open_run(results / name).predictions["challenge"]
        points = np.array(doc["runs"][name]["points"])
        assert points.shape == (68, 2) and np.allclose(points, stored["points"][2], atol=1e-3)
    assert np.allclose(doc["ground_truth"], stored["gt"][2], atol=1e-3) and len(doc["visible"]) == 68
    png = seen["challenge_2.png"]()  # drawn when the button is clicked
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and image.shape[0] > 500 and image.std() > 0


def test_metric_tiles_fit_long_run_names(results, tmp_path):
    folder, long = tmp_path / "results", "laplace-kl-rcn-x0.0625-with-a-rather-long-run-name"
    for name in RUNS:
        shutil.copytree(results / name, folder / name)
    shutil.copytree(results / "laplace", folder / long)
    at = _app(folder, "Inspect")
    at.sidebar.multiselect(key="runs").set_value([*RUNS, long]).run()
    at = _overlay_all(at)
    from lab.dashboard.common import TILE_LABEL_CHARS, TILES_PER_ROW

    labels = [m.label for m in at.metric]
    assert len(labels) == 4 and all(len(label) <= TILE_LABEL_CHARS for label in labels)
    shortened = [m for m in at.metric if m.label not in {f"NME {n}" for n in RUNS}]
    assert len(shortened) == 1 and shortened[0].help == f"NME {long}" and "…" in shortened[0].label
    assert shortened[0].value == f"{_nmes(folder, long)[0]:.2f}%"
    rows = [b for b in _blocks(at.main) if b.children and all(isinstance(c, Column) for c in b.children.values())
            and any(isinstance(e, Metric) for col in b.children.values() for e in col.children.values())]
    assert [len(b.children) for b in rows] == [TILES_PER_ROW, TILES_PER_ROW]  # 3 + 1 tiles in two rows of thirds


def test_worst_faces_gallery_and_where_star_beats_mse(results):
    at = _overlay_all(_app(results, "Inspect"))
    at.radio(key="ins_order").set_value("worst first").run()
    at.selectbox(key="ins_worst_run").set_value("mse").run()
    assert at.selectbox(key="ins_face").value == int(np.argmax(_nmes(results, "mse")))
    assert len(at.image) == 6  # the gallery

    at.radio(key="ins_order").set_value("where A beats B").run()
    assert at.selectbox(key="ins_a").value == "star" and at.selectbox(key="ins_b").value == "mse"
    gain = _nmes(results, "mse") - _nmes(results, "star")
    text = " ".join(m.value for m in at.markdown)
    assert f"on **{int((gain > 0).sum())} of 6**" in text
    assert at.selectbox(key="ins_face").value == int(np.argmax(gain))
    last = int(np.argsort(-gain, kind="stable")[3])
    at.button(key=f"gal_{last}").click().run()
    assert at.selectbox(key="ins_face").value == last
    assert at.metric[0].value == f"{_nmes(results, at.metric[0].label[4:])[last]:.2f}%"


def test_checkpoint_of_another_k_shows_an_error_and_the_rest_works(results, tmp_path):
    at = _app(results, "Inspect")
    full = {n: runs.open_run(results / n).metrics["subsets"]["full"]["nme_inter_ocular"] for n in RUNS}
    assert at.sidebar.multiselect(key="runs").value == sorted(RUNS, key=full.get)  # one run per loss, best first
    at.sidebar.multiselect(key="runs").set_value(["laplace", "wrongk"]).run()
    at = _overlay_all(at)
    at.selectbox(key="ov_heat").set_value("wrongk").run()
    assert not at.exception
    assert any("K=98" in e and "K=68" in e for e in _errors(at))
    assert len(at.metric) == 2 and _face_chart(at)  # the stored predictions of both runs are still shown
    at.selectbox(key="ov_heat").set_value("laplace").run()
    assert not _errors(at)


def test_upload_rejects_non_images_and_huge_images_then_predicts(results):
    at = _overlay_all(_app(results, "Inspect"))
    at.radio(key="ins_source").set_value("Uploaded image").run()
    at.file_uploader(key="ins_upload").upload("notes.png", b"just some text, not a picture", "image/png").run()
    assert not at.exception and any("not an image" in e.value for e in at.error)

    small = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))[1].tobytes()
    huge = small[:16] + struct.pack(">II", 30000, 30000) + small[24:]  # the header declares 900 megapixels
    at.file_uploader(key="ins_upload").clear().upload("huge.png", huge, "image/png").run()
    assert not at.exception and any("megapixels" in e.value for e in at.error)

    face = SyntheticFaces("common", n=1, size=64, seed=3)[0].image
    png = cv2.imencode(".png", cv2.cvtColor(face, cv2.COLOR_RGB2BGR))[1].tobytes()
    at.file_uploader(key="ins_upload").clear().upload("face.png", png, "image/png").run()
    assert not at.exception
    assert _errors(at) == []
    spec = _face_chart(at)
    assert {t.get("name") for t in spec["data"]} >= {"laplace", "mse", "star"} and not at.metric  # no GT, no NME


def test_dataset_path_face_and_a_missing_path(results, tmp_path, pts_folder):
    folder = pts_folder(tmp_path / "faces", "common", 2, size=64, seed=1)
    at = _overlay_all(_app(results, "Inspect"))
    at.radio(key="ins_source").set_value("Dataset path").run()
    at.text_input(key="ins_spec").set_value(f"300w:{tmp_path / 'nowhere'}").run()
    assert not at.exception and any("nowhere" in e and "no such file or folder" in e for e in _errors(at))
    at.text_input(key="ins_spec").set_value(f"300w:{folder}").run()
    at.number_input(key="ins_ds_index").set_value(1).run()
    assert not at.exception
    assert {m.label for m in at.metric} == {"NME laplace", "NME mse", "NME star"}
    assert len(at.dataframe[0].value) == 68


def test_real_data_run_whose_folder_is_absent(tmp_path, pts_folder):
    """A committed real-face run on a machine without the dataset: not selected by default; when picked, Compare
    works from its stored predictions and Inspect names the missing folder instead of failing."""
    folder, results = pts_folder(tmp_path / "faces", "common", 10, size=64, seed=2), tmp_path / "results"
    train(TINY.replace(name="real", loss="laplace_kl", data=f"300w:{folder}", val_fraction=0.3), results,
          progress=False, log=lambda _: None)
    train(TINY.replace(name="synth", loss="laplace_kl"), results, progress=False, log=lambda _: None)
    shutil.rmtree(folder)
    (results / "training").mkdir()  # a run still training: named in the sidebar as such, not as an error
    shutil.copy(results / "synth" / runs.CONFIG, results / "training" / runs.CONFIG)
    shutil.copy(results / "synth" / runs.LOG, results / "training" / runs.LOG)
    at = _app(results)
    assert at.session_state["runs"] == ["synth"] and not at.error
    assert any("**training**: still training: epoch 1 of 1 done" in i.value for i in at.sidebar.info)
    at.sidebar.multiselect(key="runs").set_value(["real"]).run()
    at.sidebar.radio(key="view").set_value("Inspect").run()
    assert not at.exception and any(str(folder) in e and "no such file or folder" in e for e in _errors(at))
    at.sidebar.radio(key="view").set_value("Compare").run()
    assert not at.exception and not _errors(at)


# --------------------------------------------------------------------------------------------------- Train

def test_train_view_trains_into_a_user_folder_and_adds_the_run(results, tmp_path):
    fresh = tmp_path / "fresh_results"
    shutil.copytree(results / "laplace", fresh / "laplace")
    mine = tmp_path / "my_runs"
    at = _app(fresh, "Train")
    at.text_input(key="tr_out").set_value(str(ROOT / "results"))  # the committed results: refused
    at.text_input(key="tr_name").set_value("browser-run")
    at.button[0].click().run()
    assert any("read-only" in e.value for e in at.error) and not (ROOT / "results" / "browser-run").exists()
    at.text_input(key="tr_out").set_value(str(mine))
    at.text_input(key="tr_name").set_value("browser-run")
    at.select_slider(key="tr_width").set_value(0.0625)
    at.number_input(key="tr_train_n").set_value(8)
    at.number_input(key="tr_test_n").set_value(4)
    at.selectbox(key="tr_size").set_value(64)
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert (mine / "browser-run" / runs.PREDICTIONS).is_file() and not (fresh / "browser-run").exists()
    assert at.session_state["results_dir"] == str(mine)
    assert "browser-run" in at.session_state["runs"] and "Trained **browser-run**" in at.success[0].value
    at.text_input(key="tr_name").set_value("browser-run")
    at.button[0].click().run()
    assert any("already holds a run" in e.value for e in at.error)


def test_default_results_folder_loads():
    folder = ROOT / "results"
    if not folder.is_dir() or not any((p / runs.CONFIG).is_file() for p in folder.iterdir() if p.is_dir()):
        pytest.skip("results/ has no committed reference runs yet")
    at = _app(None)
    assert not at.error, [e.value for e in at.error]
    at.sidebar.radio(key="view").set_value("Inspect").run()
    assert not at.exception and not at.error


# ------------------------------------------------------------------------------------------ inspect logic

def test_worst_faces_and_a_beats_b_orderings(results):
    star, mse = runs.open_run(results / "star"), runs.open_run(results / "mse")
    worst = ins.worst_faces(star, "challenge", 3)
    assert list(worst["face"]) == list(np.argsort(-_nmes(results, "star"), kind="stable")[:3])
    table = ins.star_vs_mse_faces(star, mse, "challenge")
    assert np.allclose(table["gain"], table["nme_b"] - table["nme_a"]) and table["gain"].is_monotonic_decreasing
    assert np.allclose(table.set_index("face").sort_index()["nme_a"], _nmes(results, "star"))
    table = ins.per_landmark_errors(star.predictions, "challenge", 4)  # face NME = mean over visible landmarks
    assert len(table) == 68 and table.loc[table["visible"], "error_nme"].mean() == pytest.approx(
        _nmes(results, "star")[4])
    other = runs.open_run(results / "laplace")
    assert ins.face_record(other, "full", 7).source == ins.face_record(other, "challenge", 1).source
    with pytest.raises(ins.InputError, match="out of range"):
        ins.face_record(other, "full", 12)


def test_live_heatmaps_and_predictions_match_the_stored_run(results):
    import torch

    from lab.data.transforms import apply_affine, invert_affine
    from lab.heatmaps import from_heatmap_coords
    from lab.moments import expectation

    run = runs.open_run(results / "star")
    model, record = run.load_model(), ins.face_record(run, "challenge", 2)
    stored = ins.face_prediction(run.predictions["challenge"], 2)
    crop, maps, matrix = ins.run_heatmaps(model, record, run.config)
    assert crop.shape == (model.input_size, model.input_size, 3) and crop.dtype == np.uint8
    assert maps.shape == (68, model.input_size // model.stride, model.input_size // model.stride)
    assert np.allclose(maps.sum(axis=(1, 2)), 1.0, atol=1e-4)
    mean = apply_affine(from_heatmap_coords(expectation(torch.from_numpy(maps)).numpy(), model.stride),
                        invert_affine(matrix))
    assert np.allclose(mean, stored["mean"], atol=1 / runs.QUANTUM)  # the heatmap shown is the one the metrics came from
    live = predict_record(model, record, run.config)
    assert np.allclose(live["points"], stored["points"], atol=1 / runs.QUANTUM)  # stored on a 1/QUANTUM px grid
    wrong = build_model("rcn", num_points=98, width=0.0625)
    with pytest.raises(ValueError, match="K=98 landmarks but this face has K=68"):
        ins.run_heatmaps(wrong, record, run.config)


def test_a_beats_b_needs_the_same_faces(results, tmp_path):
    train(TINY.replace(name="seed1", loss="laplace_kl", seed=1), tmp_path, progress=False, log=lambda _: None)
    with pytest.raises(ins.InputError, match="different 'challenge' faces"):
        ins.faces_a_beats_b(runs.open_run(tmp_path / "seed1"), runs.open_run(results / "mse"), "challenge")


def test_upload_checks_before_decoding():
    png = cv2.imencode(".png", np.full((30, 40, 3), 7, np.uint8))[1].tobytes()
    jpg = cv2.imencode(".jpg", np.full((30, 40, 3), 7, np.uint8))[1].tobytes()
    bmp = cv2.imencode(".bmp", np.full((30, 40, 3), 7, np.uint8))[1].tobytes()
    assert upload.image_size_from_header(png) == ("PNG", 40, 30)
    assert upload.image_size_from_header(jpg) == ("JPEG", 40, 30)
    assert upload.image_size_from_header(bmp) == ("BMP", 40, 30)
    image, note = upload.load_upload(png, "a.png")
    assert image.shape == (30, 40, 3) and note == ""
    image, note = upload.load_upload(png, "a.png", max_side=20)
    assert image.shape == (15, 20, 3) and "downscaled" in note
    with pytest.raises(ins.InputError, match=r"a\.png: file is .* MiB; the limit"):
        upload.load_upload(png, "a.png", max_bytes=100)
    with pytest.raises(ins.InputError, match="megapixels"):
        upload.load_upload(png, "a.png", max_pixels=1000)
    with pytest.raises(ins.InputError, match="not an image"):
        upload.load_upload(b"%PDF-1.4 ...", "doc.pdf")
    with pytest.raises(ins.InputError, match="could not be decoded"):
        upload.load_upload(png[:40], "cut.png")
    with pytest.raises(ValueError, match="x1 > x0"):
        check_box([10, 10, 5, 20], (30, 40))


def test_box_jitter_frame_averages_subsets_for_full():
    from types import SimpleNamespace

    from lab.dashboard.data import box_jitter_frame

    rows = [{"run": "w2", "level": lv, "subset": s, "decoder": "barycenter", "nme": v}
            for lv, s, v in ((0.0, "common", 0.02), (0.0, "challenge", 0.04), (0.1, "common", 0.03),
                             (0.1, "challenge", 0.07))]
    run = SimpleNamespace(name="w2", metrics={"box_jitter": rows})
    full = box_jitter_frame([run], "full")
    assert list(full["nme"]) == pytest.approx([3.0, 5.0]) and list(full["curve"]) == ["w2 + barycenter"] * 2
    assert list(box_jitter_frame([run], "challenge")["nme"]) == pytest.approx([4.0, 7.0])
    assert box_jitter_frame([SimpleNamespace(name="x", metrics={})], "full").empty
