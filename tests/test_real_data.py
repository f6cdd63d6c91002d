"""Real 300-W-format faces end to end (the shared LFPW folder when present) and `predict` on any photo."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from lab.__main__ import main
from lab.config import RunConfig
from lab.data.formats import parse_pts
from lab.data.sources import open_splits, split_indices
from lab.runner.train import train
from lab.runner import runs

LFPW = Path(os.environ.get("LAB_LFPW", Path(__file__).resolve().parents[2] / "shared/data/lfpw-train"))
needs_lfpw = pytest.mark.skipif(not LFPW.is_dir(), reason=f"real LFPW faces not found at {LFPW} (set LAB_LFPW)")


def test_split_is_deterministic_and_disjoint():
    a = split_indices(805, 0.1, seed=3)
    assert a == split_indices(805, 0.1, seed=3)
    train_idx, val_idx = a
    assert len(val_idx) == 81 and not set(train_idx) & set(val_idx) and len(train_idx) + len(val_idx) == 805
    assert a != split_indices(805, 0.1, seed=4)


@needs_lfpw
def test_tiny_real_train_eval_round(tmp_path):
    cfg = RunConfig(name="real", data=f"300w:{LFPW}", train_n=32, val_fraction=0.02, width=0.0625, loss="laplace_kl",
                    epochs=1, batch_size=16, device="cpu", threads=1)
    splits = open_splits(**cfg.split_args())
    assert len(splits.train) == 32 and len(splits.val) == 17 and splits.num_points == 68
    assert set(splits.notes["val_files"]).isdisjoint(splits.notes["train_files"])
    run = train(cfg, tmp_path, progress=False, log=lambda _: None)
    m = run.metrics["subsets"]["val"]
    assert m["n"] == 17 and np.isfinite(m["nme_inter_ocular"])
    preds = run.predictions["val"]
    assert preds["points"].shape == (17, 68, 2)
    # ground truth in the predictions is the file's 0-based points
    first = sorted(splits.notes["val_files"])[0]
    assert any(np.allclose(g, parse_pts(first.split(":")[0]), atol=1 / runs.QUANTUM) for g in preds["gt"])


def test_predict_writes_pts_and_overlay(tmp_path, capsys):
    run = train(RunConfig(name="p", width=0.0625, loss="l2", train_n=16, val_n=8, test_n=8, epochs=1, batch_size=8,
                          device="cpu", threads=1, synth_size=96), tmp_path, progress=False, log=lambda _: None)
    from lab.data.synthetic import SyntheticFaces

    face = SyntheticFaces("common", n=1, size=200)[0]
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), cv2.cvtColor(face.image, cv2.COLOR_RGB2BGR))
    assert main(["predict", "--run", str(run.path), str(photo), "--box", *map(str, face.box), "--out", str(tmp_path / "o")]) == 0
    pts = parse_pts(tmp_path / "o" / "photo.pts")
    assert pts.shape == (68, 2) and np.all(np.isfinite(pts))
    # the written points are inside the crop around the box the user gave
    x0, y0, x1, y1 = face.box
    side = 1.25 * max(x1 - x0, y1 - y0)
    assert np.all(np.abs(pts - [(x0 + x1) / 2, (y0 + y1) / 2]) <= side / 2 + 1)
    assert cv2.imread(str(tmp_path / "o" / "photo_landmarks.png")).shape[:2] == (200, 200)
    assert main(["predict", "--run", str(run.path), str(photo), "--box", "10", "10", "5", "50"]) == 2
    assert "x1 > x0" in capsys.readouterr().err
    (tmp_path / "bad.png").write_bytes(b"not an image")
    assert main(["predict", "--run", str(run.path), str(tmp_path / "bad.png")]) == 2
    assert "bad.png" in capsys.readouterr().err


def test_eval_on_named_test_sources_the_300w_protocol(tmp_path, capsys, pts_folder):
    from lab.runner.inspect import face_record

    a = pts_folder(tmp_path / "lfpw_test", "common", 3)
    b = pts_folder(tmp_path / "helen_test", "common", 2)
    c = pts_folder(tmp_path / "ibug", "challenge", 4)
    run = train(RunConfig(name="r", width=0.0625, loss="l2", train_n=16, val_n=8, test_n=8, epochs=1, batch_size=8,
                          device="cpu", threads=1, synth_size=96), tmp_path / "results", progress=False, log=lambda _: None)
    assert main(["eval", str(run.path), "--test", f"common=300w:{a}", "--test", f"common=300w:{b}",
                 "--test", f"challenge=300w:{c}"]) == 0
    again = runs.open_run(run.path)
    subsets = again.metrics["subsets"]
    assert {k: v["n"] for k, v in subsets.items()} == {"common": 5, "challenge": 4, "full": 9}
    assert again.metrics["test_data"] == {"common": [f"300w:{a}", f"300w:{b}"], "challenge": [f"300w:{c}"]}
    assert again.predictions["challenge"]["points"].shape == (4, 68, 2)
    # the stored ground truth is the files' points, and the dashboard's face lookup reads the same files
    assert np.allclose(again.predictions["challenge"]["gt"][1], parse_pts(c / "face_001.pts"), atol=1 / runs.QUANTUM)  # stored on the 1/256 px grid
    assert face_record(again, "full", 4 + 4).source.startswith(str(b))  # full = challenge, then common (by name)
    assert np.allclose(again.predictions["full"]["gt"][8], parse_pts(b / "face_001.pts"), atol=1 / runs.QUANTUM)
    # a plain re-evaluation keeps the named test sources
    assert main(["eval", str(run.path)]) == 0
    assert runs.open_run(run.path).metrics["subsets"]["full"]["n"] == 9
    assert main(["eval", str(run.path), "--test", "oops"]) != 0
    assert "NAME=SOURCE" in capsys.readouterr().err


def test_sources_joined_with_plus_make_one_training_set(tmp_path, pts_folder):
    from lab.data.sources import read_sources

    a = pts_folder(tmp_path / "lfpw_train", "train", 3)
    b = pts_folder(tmp_path / "afw", "train", 2)
    faces = read_sources(f"300w:{a}+300w:{b}")
    assert [Path(f.source).parent.name for f in faces] == ["lfpw_train"] * 3 + ["afw"] * 2
    splits = open_splits(**RunConfig(data=f"300w:{a}+300w:{b}", train_n=0, val_fraction=0.2).split_args())
    assert len(splits.train) == 4 and len(splits.val) == 1
    with pytest.raises(ValueError, match="cannot be joined"):
        read_sources(f"synthetic+300w:{a}")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        read_sources(f"300w:{a}+300w:{tmp_path / 'nowhere'}")


def test_relative_data_paths_resolve_against_the_data_root(tmp_path, monkeypatch, pts_folder):
    from lab.data.sources import read_real, read_sources

    pts_folder(tmp_path / "root" / "faces", "common", 3)
    monkeypatch.chdir(tmp_path)  # not the data root: the path below is relative to root/
    with pytest.raises(FileNotFoundError, match="set LAB_DATA to the folder this path is relative to"):
        read_real("300w", ["faces"])
    monkeypatch.setenv("LAB_DATA", str(tmp_path / "root"))
    assert len(read_sources("300w:faces")) == 3
