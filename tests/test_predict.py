"""Landmarks for any photo without ever destroying a file: `python -m lab predict`, the Landmarker API, the face
detector, eval --test adding to a run, atomic writes."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from lab.__main__ import main
from lab.config import RunConfig
from lab.data.formats import load_image, parse_pts
from lab.data.record import box_from_points
from lab.runner import runs
from lab.runner.landmarker import Landmarker, best_real_face_run
from lab.runner.train import train

LFPW = Path(os.environ.get("LAB_LFPW") or Path(__file__).resolve().parents[2] / "shared/data/lfpw-train")


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    """A tiny run trained on a 300-W-style folder (synthetic faces written as .png + .pts): a 'real-face' run."""
    import cv2

    from lab.data.formats import write_pts
    from lab.data.synthetic import SyntheticFaces

    root = tmp_path_factory.mktemp("predict")
    faces = root / "faces"
    faces.mkdir()
    for i, face in enumerate(SyntheticFaces("common", n=24, size=128, seed=3)):
        cv2.imwrite(str(faces / f"face_{i:03d}.png"), cv2.cvtColor(face.image, cv2.COLOR_RGB2BGR))
        write_pts(faces / f"face_{i:03d}.pts", face.points)
    cfg = RunConfig(name="real", model="rcn", width=0.0625, loss="laplace_kl", data=f"300w:{faces}", val_fraction=0.25,
                    epochs=1, batch_size=8, device="cpu", threads=1)
    run = train(cfg, root / "results", progress=False, log=lambda _: None)
    return run, faces


def _box(faces: Path, i: int = 0) -> list[str]:
    return [f"{v:.2f}" for v in box_from_points(parse_pts(faces / f"face_{i:03d}.pts"))]


def test_predict_writes_into_its_own_folder_and_refuses_to_overwrite(real_run, tmp_path, capsys):
    run, faces = real_run
    photo = tmp_path / "in"
    shutil.copytree(faces, photo)
    annotation = (photo / "face_000.pts").read_bytes()
    out = tmp_path / "out"
    args = ["predict", str(photo / "face_000.png"), "--run", str(run.path), "--box", *_box(faces), "--out", str(out)]
    assert main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == ["face_000.json", "face_000.pts", "face_000_landmarks.png"]
    assert (photo / "face_000.pts").read_bytes() == annotation  # the annotation beside the image is untouched
    first = (out / "face_000.pts").read_bytes()
    capsys.readouterr()
    assert main(args) == 2  # a second predict refuses, naming the file, and writes nothing
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and "face_000" in err[-1] and "--overwrite" in err[-1]
    assert (out / "face_000.pts").read_bytes() == first
    # pointed at the image's own folder it still refuses to replace the real annotation
    assert main(["predict", str(photo / "face_000.png"), "--run", str(run.path), "--box", *_box(faces),
                 "--out", str(photo)]) == 2
    assert (photo / "face_000.pts").read_bytes() == annotation
    assert main(args + ["--overwrite"]) == 0


def test_predict_a_folder_to_csv_and_json(real_run, tmp_path):
    run, faces = real_run
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        shutil.copy(faces / f"face_{i:03d}.png", folder)
    out = tmp_path / "out"
    # no --box: dlib's detector looks for the faces (synthetic ones may or may not be found: either is reported)
    assert main(["predict", str(folder), "--run", str(run.path), "--out", str(out), "--format", "csv,json",
                 "--no-overlay", "--quiet"]) == 0
    rows = (out / "landmarks.csv").read_text().splitlines()
    jsons = sorted(out.glob("*.json"))
    n_faces = sum(len(json.loads(p.read_text())["faces"]) for p in jsons)
    assert rows[0].startswith("image,face,point,x,y") and len(rows) == 1 + 68 * n_faces


def test_bad_output_and_input_are_one_line_errors(real_run, tmp_path, capsys):
    run, faces = real_run
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["predict", str(faces / "face_000.png"), "--run", str(run.path), "--box", *_box(faces),
                 "--out", str(blocker / "out")]) == 2
    assert main(["predict", str(tmp_path / "missing.jpg"), "--run", str(run.path)]) == 2
    assert main(["train", "--epochs", "-3", "--results", str(tmp_path / "r")]) == 2
    assert main(["predict", str(faces / "face_000.png"), "--run", str(run.path), "--format", "xml"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 4 and "Not a directory" in err[0] and "missing.jpg" in err[1] and "epochs" in err[2]
    assert "Traceback" not in capsys.readouterr().err


def test_landmarker_api_points_uncertainty_and_boxes(real_run):
    run, faces = real_run
    lm = Landmarker.from_run(run.path, device="cpu")
    img = load_image(faces / "face_001.png")
    box = box_from_points(parse_pts(faces / "face_001.pts"))
    face, = lm.predict(img, boxes=[box])
    assert face.points.shape == (68, 2) and face.scale.shape == (68, 2) and face.cov.shape == (68, 2, 2)
    assert np.all(face.scale > 0) and face.score is None and np.allclose(face.box, box)
    again, = lm.predict(faces / "face_001.png", boxes=[box])
    np.testing.assert_allclose(again.points, face.points)  # a path and an array give the same face
    two = lm.predict(img, boxes=[box, box + 3])
    assert len(two) == 2 and not np.allclose(two[0].points, two[1].points)


def test_best_real_face_run_is_the_lowest_validation_nme(real_run, tmp_path):
    run, _ = real_run
    results = tmp_path / "results"
    for name, nme in (("worse", 0.30), ("better", 0.10)):
        shutil.copytree(run.path, results / name)
        m = json.loads((results / name / runs.METRICS).read_text())
        m["subsets"]["val"]["nme_inter_ocular"] = nme
        (results / name / runs.METRICS).write_text(json.dumps(m))
        cfg = json.loads((results / name / runs.CONFIG).read_text())
        (results / name / runs.CONFIG).write_text(json.dumps({**cfg, "name": name}))
    assert best_real_face_run(results).name == "better"
    (results / "better" / runs.MODEL).unlink()  # shipped without weights: not a candidate
    assert best_real_face_run(results).name == "worse"
    with pytest.raises(runs.RunError, match="without weights"):
        Landmarker(runs.open_run(results / "better"))


def test_eval_test_adds_subsets_and_keeps_the_validation_table(real_run, tmp_path, pts_folder):
    run, _ = real_run
    copy = tmp_path / "run"
    shutil.copytree(run.path, copy)
    before = json.loads((copy / runs.METRICS).read_text())["subsets"]["val"]
    extra = pts_folder(tmp_path / "extra", "challenge", 6)
    assert main(["eval", str(copy), "--test", f"challenge=300w:{extra}"]) == 0
    after = runs.open_run(copy)
    assert {"val", "challenge"} <= set(after.metrics["subsets"]) and after.metrics["subsets"]["val"] == before
    assert {"val", "challenge"} <= set(after.predictions) and len(after.predictions["challenge"]["points"]) == 6
    assert len(after.predictions["val"]["points"]) == before["n"]


def test_a_write_killed_midway_leaves_the_previous_file(tmp_path, monkeypatch):
    from lab import atomic

    target = tmp_path / "metrics.json"
    atomic.write_json_atomic(target, {"old": 1})

    def killed(fd):
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(atomic.os, "fsync", killed)
    with pytest.raises(KeyboardInterrupt):
        atomic.write_json_atomic(target, {"new": 2})
    assert json.loads(target.read_text()) == {"old": 1} and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


@pytest.mark.skipif(not LFPW.is_dir(), reason=f"real LFPW faces not found at {LFPW} (set LAB_LFPW)")
def test_detector_finds_real_faces_in_the_landmark_box_convention():
    from lab.data.detect import detect_faces
    from benchmarks.detector import iou

    ious = []
    for i in range(1, 11):
        img = load_image(LFPW / f"image_{i:04d}.jpg")
        gt = box_from_points(parse_pts(LFPW / f"image_{i:04d}.pts"))
        found = detect_faces(img)
        ious.append(max(iou(np.stack([d.box for d in found]), gt)) if found else 0.0)
    assert np.mean(np.array(ious) > 0.5) >= 0.9 and np.median(ious) > 0.7


def test_every_verb_is_listed_and_every_flag_has_help():
    from lab.__main__ import build_parser

    parser = build_parser()
    verbs = next(a for a in parser._actions if isinstance(getattr(a, "choices", None), dict)).choices
    assert {"demo", "train", "eval", "compare", "synth", "predict", "reproduce", "list"} <= set(verbs)
    top = parser.format_help()
    assert all(v in top for v in verbs)
    missing = [f"{v} {a.option_strings or a.dest}" for v, sp in verbs.items() for a in sp._actions
               if a.dest != "help" and not a.help]
    assert missing == []


def test_runs_trained_before_the_recipe_are_labelled_not_converged(real_run, tmp_path):
    run, _ = real_run
    assert runs.recipe_note([run]) is None  # trained now, on the recipe
    old = tmp_path / "old"
    shutil.copytree(run.path, old)
    cfg = json.loads((old / runs.CONFIG).read_text())
    cfg.pop("version")  # a config saved before version 2
    (old / runs.CONFIG).write_text(json.dumps(cfg))
    note = runs.recipe_note([run, runs.open_run(old), runs.open_run(old)])
    assert note.startswith("Not converged: 1 of these 2 runs") and "version-1" in note
