"""The `ert` method (dlib's regression trees, lab/models/ert.py + lab/runner/ert.py): options with dlib's defaults,
the crop geometry, a tiny ERT that trains in seconds and beats the mean shape by a wide margin, a run folder that
round-trips through eval / compare / predict, and retraining a run kept without its model file, byte for byte."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from lab.__main__ import main
from lab.config import RunConfig
from lab.models import build_model, contract_violations, model_from_state
from lab.models.ert import DLIB_OPTIONS, ERT_OPTIONS
from lab.runner import runs
from lab.runner.evaluate import face_nmes
from lab.runner.train import train

dlib = pytest.importorskip("dlib")

# seconds on one core: 4 cascade levels x 12 trees on 48 faces of 64 px
TINY_ERT = dict(input_size=64, cascade_depth=4, num_trees_per_cascade_level=12, oversampling_amount=5,
                feature_pool_size=200, num_test_splits=10)
TINY = RunConfig(name="ert-tiny", model="ert", width=1.0, loss="l2", model_kw=TINY_ERT, train_n=48, val_n=12,
                 test_n=12, synth_size=64, device="cpu", threads=1)
LFPW = Path(os.environ.get("LAB_LFPW") or Path(__file__).resolve().parents[2] / "shared/data/lfpw-train")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    results = tmp_path_factory.mktemp("ert")
    return train(TINY, results, progress=False, log=lambda _: None)


def test_options_default_to_dlibs_own():
    opts = dlib.shape_predictor_training_options()
    fields = {k for k in dir(opts) if not k.startswith("_")} - {"be_verbose", "random_seed"}  # from the run
    assert fields == set(DLIB_OPTIONS) | {"num_threads"}, fields ^ set(ERT_OPTIONS)
    for key in fields:
        assert ERT_OPTIONS[key][0] == pytest.approx(getattr(opts, key)), key
    m = build_model("ert")
    assert all(m.config[k] == ERT_OPTIONS[k][0] for k in ERT_OPTIONS)
    set_opts = build_model("ert", num_trees_per_cascade_level=7, nu=0.2).training_options(seed=3, threads=2)
    assert (set_opts.num_trees_per_cascade_level, set_opts.nu, set_opts.random_seed, set_opts.num_threads) == \
        (7, pytest.approx(0.2), "3", 2)


def test_face_box_sits_where_the_crop_puts_it():
    """The crop of box B is a square of side crop_scale * max(w, h) centred on B: a square B maps to the centred
    square of side S / crop_scale, which is the box the trees start from."""
    from lab.data.transforms import apply_affine, crop_matrix

    m = build_model("ert", input_size=128, crop_scale=1.25)
    box = np.array([30.0, 40.0, 130.0, 140.0])
    corners = apply_affine(box.reshape(2, 2), crop_matrix(box, 128, scale=1.25))
    assert np.allclose(corners.ravel(), m.box_in_crop)
    up = build_model("ert", upsample=2)
    xy = np.array([[0.0, 0.0], [12.25, 99.5]])
    assert np.allclose(up._from_grid(up._to_grid(xy)), xy)
    assert np.allclose(up._to_grid([[-0.5, -0.5]]), -0.5)  # the crop's edge is the enlarged image's edge
    assert up.dlib_image(np.zeros((128, 128, 3), np.uint8)).shape == (256, 256)


def test_untrained_ert_honours_the_contract_and_bad_options_raise():
    m = build_model("ert", num_points=5, input_size=32)
    assert contract_violations(m) == [] and m.output == "coords" and m.stride == 1
    assert torch.allclose(m(torch.zeros(1, 3, 32, 32))[0], torch.full((1, 5, 2), 15.5))
    for bad in (dict(nu=0), dict(tree_depth=0), dict(crop_scale=0.9), dict(lambda_param=-1), dict(upsample=1.5)):
        with pytest.raises(ValueError):
            build_model("ert", **bad)


def test_tiny_ert_beats_the_mean_shape_by_a_wide_margin(tiny_run):
    log = tiny_run.path / runs.LOG
    row = {k: float(v) for k, v in zip(*[line.split(",") for line in log.read_text().splitlines()])}
    assert row["train_crops"] == 48 and row["train_seconds"] < 60
    assert row["train_nme"] < 0.5 * row["mean_shape_train_nme"], row  # its own training faces
    m = tiny_run.metrics
    assert m["model_bytes"] == row["model_bytes"] > 0 and m["ert_options"]["num_trees_per_cascade_level"] == 12
    common = m["subsets"]["common"]["nme_inter_ocular"]
    assert common < 0.8 * 0.41, common  # unseen faces: below the mean shape's ~41 % on these subsets


def test_run_folder_is_an_ordinary_run(tiny_run, tmp_path, capsys):
    path = tiny_run.path
    for name in (runs.CONFIG, runs.MODEL, runs.METRICS, runs.PREDICTIONS, runs.LOG):
        assert (path / name).is_file(), name
    cfg = json.loads((path / runs.CONFIG).read_text())
    assert cfg["model"] == "ert" and cfg["loss"] == "l2" and cfg["model_kw"]["crop_scale"] == cfg["crop_scale"]
    assert cfg["model_kw"]["num_threads"] == 1  # dlib's thread count changes the trees: recorded from cfg.threads
    preds = tiny_run.predictions
    assert set(preds) == {"common", "challenge", "full"}
    assert set(preds["common"]) == {"points", "gt", "visible", "box"}  # points only: no heatmap statistics
    assert preds["common"]["points"].shape == (12, 68, 2)
    before = tiny_run.metrics["subsets"]
    assert np.isclose(face_nmes(preds["common"], 68).mean(), before["common"]["nme_inter_ocular"], rtol=1e-4)
    # eval through the CLI: the same model from model.pt gives the same numbers
    assert main(["eval", str(path)]) == 0
    after = runs.open_run(path)
    assert after.metrics["subsets"] == before and after.metrics["model_bytes"] == tiny_run.metrics["model_bytes"]
    model = after.load_model()
    assert model.trained and model.model_bytes == tiny_run.metrics["model_bytes"]
    assert model_from_state(runs.load_torch(path / runs.MODEL)).config == model.config
    assert main(["compare", str(path), "--out", str(tmp_path / "cmp")]) == 0
    assert "ert x1" in capsys.readouterr().out
    # photo in, points out: the Landmarker on a given box
    from lab.data.synthetic import SyntheticFaces
    from lab.runner.landmarker import Landmarker

    face = SyntheticFaces("common", n=1, size=64, seed=5)[0]
    found = Landmarker.from_run(path, device="cpu").predict(face.image, boxes=[face.box])
    assert found[0].points.shape == (68, 2) and found[0].scale is None


def test_a_run_without_its_model_file_says_so_and_retrains_byte_identical(tiny_run, tmp_path, capsys):
    import shutil

    path = tmp_path / tiny_run.name
    shutil.copytree(tiny_run.path, path)
    (path / runs.MODEL).unlink()
    assert main(["eval", str(path)]) == 2
    err = capsys.readouterr().err
    assert "no model file" in err and "--resume" in err
    assert main(["train", "--config", str(path / runs.CONFIG), "--results", str(tmp_path), "--resume",
                 "--quiet"]) == 0
    assert (path / runs.MODEL).read_bytes() == (tiny_run.path / runs.MODEL).read_bytes()
    assert runs.open_run(path).metrics["subsets"] == tiny_run.metrics["subsets"]
    with pytest.raises(FileExistsError):  # no silent retraining over a run
        train(TINY, tmp_path, log=lambda _: None)
    with pytest.raises(ValueError, match="different config"):
        train(TINY.replace(model_kw={**TINY_ERT, "nu": 0.2}), tmp_path, resume=True, log=lambda _: None)


def test_cli_flags_become_the_models_options(tmp_path):
    from lab.__main__ import build_parser, config_from_args

    cfg = config_from_args(build_parser().parse_args(["train", "--model", "ert", "--ert-trees", "50",
                                                      "--ert-tree-depth", "3", "--ert-nu", "0.2",
                                                      "--ert-landmark-relative-padding", "false"]))
    assert cfg.loss == "l2" and cfg.width == 1.0 and cfg.name == "ert-1-l2"
    assert cfg.model_kw == {"num_trees_per_cascade_level": 50, "tree_depth": 3, "nu": 0.2,
                            "landmark_relative_padding_mode": False}
    assert main(["train", "--model", "rcn", "--ert-trees", "5", "--results", str(tmp_path)]) == 2
    with pytest.raises(ValueError, match="crop_scale"):
        train(TINY.replace(model_kw={**TINY_ERT, "crop_scale": 1.5}), tmp_path, log=lambda _: None)


@pytest.mark.skipif(not LFPW.is_dir(), reason=f"real LFPW faces not found at {LFPW} (set LAB_LFPW)")
def test_small_ert_on_real_faces_beats_the_mean_shape(tmp_path):
    """200 LFPW training faces, the networks' split (experiments/07_real_faces.json), 10 x 10 trees: the held-out
    faces' NME is under half the mean shape's (19.2 %)."""
    cfg = TINY.replace(name="ert-lfpw", data=f"300w:{LFPW}", val_fraction=0.15, split_seed=0, train_n=200,
                       model_kw=dict(cascade_depth=10, num_trees_per_cascade_level=10, oversampling_amount=10))
    run = train(cfg, tmp_path, progress=False, log=lambda _: None)
    assert run.metrics["subsets"]["val"]["n"] == 121
    assert run.metrics["subsets"]["val"]["nme_inter_ocular"] < 0.5 * 0.192
