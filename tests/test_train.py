"""The runner end to end on tiny synthetic runs: train -> eval -> compare, resume, atomic writes, NaN stop, bad input."""
from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
import torch

from lab.runner import runs
from lab.__main__ import main
from lab.atomic import write_json_atomic
from lab.config import RunConfig
from lab.runner.train import NonFiniteLoss, train

TINY = RunConfig(name="tiny", model="rcn", width=0.0625, loss="laplace_kl", train_n=48, val_n=12, test_n=12,
                 epochs=2, batch_size=16, device="cpu", threads=1, synth_size=96)


def _log(run_dir) -> pd.DataFrame:
    return pd.read_csv(run_dir / runs.LOG)


def test_train_eval_compare_end_to_end(tmp_path, capsys):
    results = tmp_path / "results"
    assert main(["train", "--name", "a", "--model", "rcn", "--width", "0.0625", "--loss", "l2", "--train-n", "48",
                 "--val-n", "12", "--test-n", "12", "--epochs", "2", "--batch-size", "16", "--device", "cpu",
                 "--results", str(results), "--quiet"]) == 0
    run_dir = results / "a"
    for name in (runs.CONFIG, runs.CHECKPOINT, runs.MODEL, runs.METRICS, runs.PREDICTIONS, runs.LOG):
        assert (run_dir / name).is_file(), name
    cfg = json.loads((run_dir / runs.CONFIG).read_text())
    m = json.loads((run_dir / runs.METRICS).read_text())
    assert cfg["loss"] == "l2" and m["device"] == "cpu"
    assert set(m["subsets"]) == {"common", "challenge", "full"}
    full = m["subsets"]["full"]
    assert full["n"] == 24 and 0 < full["nme_inter_ocular"] < 5 and 0 <= full["fr@0.1"] <= 1
    assert full["nme_inter_pupil"] != full["nme_inter_ocular"]
    preds = runs.load_predictions(run_dir / runs.PREDICTIONS)
    assert preds["challenge"]["points"].shape == (12, 68, 2) and preds["challenge"]["cov"].shape == (12, 68, 2, 2)
    # the mean NME in metrics.json is the mean of per-face NMEs recomputed from the stored predictions
    from lab.runner.evaluate import face_nmes
    assert np.isclose(face_nmes(preds["common"], 68).mean(), m["subsets"]["common"]["nme_inter_ocular"], rtol=1e-4)  # 1/256 px grid

    assert main(["train", "--name", "b", "--model", "rcn", "--width", "0.0625", "--loss", "laplace_kl",
                 "--train-n", "48", "--val-n", "12", "--test-n", "12", "--epochs", "1", "--batch-size", "16",
                 "--device", "cpu", "--results", str(results), "--quiet"]) == 0
    out = tmp_path / "cmp"
    assert main(["compare", str(run_dir), str(results / "b"), "--out", str(out)]) == 0
    table = pd.read_csv(out / "comparison.csv")
    assert set(table["run"]) == {"a", "b"} and set(table["subset"]) == {"common", "challenge", "full"}
    assert (out / "ced_full.png").stat().st_size > 5000
    assert main(["eval", str(run_dir)]) == 0
    assert "NME io (%)" in capsys.readouterr().out


def test_same_seed_same_metrics_on_cpu(tmp_path):
    a = train(TINY.replace(name="a", epochs=1), tmp_path, progress=False, log=lambda _: None)
    b = train(TINY.replace(name="b", epochs=1), tmp_path, progress=False, log=lambda _: None)
    assert a.metrics["subsets"] == b.metrics["subsets"]
    assert _log(a.path)["train_loss"].tolist() == _log(b.path)["train_loss"].tolist()


class Killed(Exception):
    pass


def test_resume_equals_uninterrupted_run(tmp_path):
    cfg = TINY.replace(epochs=3, unlabeled=16)  # the adversarial branch too: its RNG and D state must resume
    full = train(cfg.replace(name="full"), tmp_path, progress=False, log=lambda _: None)

    def kill_after_first(epoch, row):
        if epoch == 1:
            raise Killed

    with pytest.raises(Killed):
        train(cfg.replace(name="cut"), tmp_path, progress=False, log=lambda _: None, on_epoch=kill_after_first)
    assert len(_log(tmp_path / "cut")) == 1 and not (tmp_path / "cut" / runs.METRICS).exists()
    with pytest.raises(FileExistsError):
        train(cfg.replace(name="cut"), tmp_path, progress=False, log=lambda _: None)
    resumed = train(cfg.replace(name="cut"), tmp_path, resume=True, progress=False, log=lambda _: None)
    a, b = _log(full.path), _log(resumed.path)
    assert a["train_loss"].tolist() == b["train_loss"].tolist()
    assert a["d_loss"].tolist() == b["d_loss"].tolist()
    assert full.metrics["subsets"] == resumed.metrics["subsets"]


def test_resume_refuses_a_changed_config(tmp_path):
    train(TINY.replace(epochs=1), tmp_path, progress=False, log=lambda _: None)
    with pytest.raises(ValueError, match="width"):
        train(TINY.replace(epochs=2, width=0.125), tmp_path, resume=True, progress=False, log=lambda _: None)


def test_nonfinite_loss_stops_and_keeps_the_batch(tmp_path, monkeypatch):
    import lab.runner.train as lt

    train(TINY.replace(epochs=1), tmp_path, progress=False, log=lambda _: None)
    good = (tmp_path / "tiny" / runs.CHECKPOINT).read_bytes()
    real = lt.supervised_loss
    monkeypatch.setattr(lt, "supervised_loss", lambda *a: real(*a) * float("nan"))
    with pytest.raises(NonFiniteLoss, match=r"epoch 1, step 0.*nonfinite_batch\.pt"):
        train(TINY.replace(epochs=2), tmp_path, resume=True, progress=False, log=lambda _: None)
    saved = torch.load(tmp_path / "tiny" / "nonfinite_batch.pt", weights_only=True)
    assert saved["image"].shape[0] == TINY.batch_size and saved["epoch"] == 1
    assert (tmp_path / "tiny" / runs.CHECKPOINT).read_bytes() == good


def test_atomic_write_survives_a_crash_before_rename(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    write_json_atomic(path, {"nme": 1})

    def crash(*_):
        raise OSError("killed between temp write and rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="killed"):
        write_json_atomic(path, {"nme": 2})
    assert json.loads(path.read_text()) == {"nme": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temp file left behind


def test_bad_cli_input_lists_valid_choices(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--loss", "nope"])
    assert e.value.code == 2 and "star" in capsys.readouterr().err
    assert main(["train", "--data", "imagenet:/x", "--results", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "unknown data source" in err and "300w:PATH" in err
    assert main(["train", "--data", "300w:/no/such/folder", "--results", str(tmp_path), "--quiet"]) == 2
    assert "/no/such/folder" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "missing")]) == 2
    assert "not a run folder" in capsys.readouterr().err


def test_checkpoint_of_another_model_is_refused(tmp_path):
    run = train(TINY.replace(epochs=1), tmp_path, progress=False, log=lambda _: None)
    from lab.models import build_model

    other = build_model("rcn", num_points=68, width=0.125)
    runs.save_torch(run.path / runs.MODEL, {"config": {**other.config, "num_points": 29}, "model": other.state_dict()})
    with pytest.raises(runs.RunError, match="model.pt"):
        runs.open_run(run.path).load_model()


def test_init_from_starts_at_the_source_runs_weights(tmp_path):
    source = train(TINY.replace(name="src", epochs=1), tmp_path, progress=False, log=lambda _: None)
    # zero epochs: the fine-tuned run keeps its initial weights, which must be the source's (by name under results)
    ft = train(TINY.replace(name="ft", epochs=0, init_from="src"), tmp_path, progress=False, log=lambda _: None)
    a, b = source.load_model().state_dict(), ft.load_model().state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert ft.metrics["subsets"]["full"]["nme_inter_ocular"] == pytest.approx(
        source.metrics["subsets"]["full"]["nme_inter_ocular"], abs=1e-6)
    scratch = train(TINY.replace(name="scratch", epochs=0), tmp_path, progress=False, log=lambda _: None)
    assert not all(torch.equal(a[k], v) for k, v in scratch.load_model().state_dict().items())
    # a path works too, and fine-tuning trains from there
    train(TINY.replace(name="ft2", epochs=1, init_from=str(tmp_path / "src")), tmp_path, progress=False, log=lambda _: None)


def test_init_from_refuses_a_missing_run_or_another_model(tmp_path):
    train(TINY.replace(name="src", epochs=0), tmp_path, progress=False, log=lambda _: None)
    with pytest.raises(FileNotFoundError, match="nope"):
        train(TINY.replace(name="a", init_from="nope"), tmp_path, progress=False, log=lambda _: None)
    with pytest.raises(ValueError, match=r"src.*model\.pt.*width"):
        train(TINY.replace(name="b", width=0.125, init_from="src"), tmp_path, progress=False, log=lambda _: None)


def test_predictions_file_stores_duplicates_once_and_shape_statistics_in_half_precision(tmp_path):
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 128, (20, 68, 2))
    cov = rng.uniform(0.5, 40.0, (20, 68, 2, 2))
    cov[..., 1, 0] = cov[..., 0, 1]  # symmetric, as every covariance
    subset = {"points": pts, "mean": pts.copy(), "soft_argmax_points": pts.copy(), "gt": pts + 1.0,
              "cov": cov, "visible": np.ones((20, 68), bool)}
    path = runs.save_predictions(tmp_path / "p.npz", {"common": subset, "challenge": subset})
    back = runs.load_predictions(path)
    assert set(back) == {"common", "challenge", "full"}
    for name in ("points", "mean", "soft_argmax_points"):
        assert back["common"][name].dtype == np.float32  # coordinates on a 1/QUANTUM px grid: error <= half a step
        assert np.abs(back["common"][name] - pts).max() <= 0.5 / runs.QUANTUM + 1e-5
    q = back["common"]["points"].astype(np.float64) * runs.QUANTUM
    assert np.allclose(q, np.round(q), atol=1e-3)
    assert back["common"]["cov"].dtype == np.float32 and np.allclose(back["common"]["cov"], cov, rtol=1e-3)
    assert back["full"]["mean"].shape == (40, 68, 2)
    with np.load(path) as z:  # the copies are references, not arrays
        assert z["common/mean"].dtype.kind == "U" and z["common/points"].dtype == np.float32
        assert z["common/cov~sym"].dtype == np.float16 and z["common/cov~sym"].shape == (20, 68, 3)  # xx, xy, yy
    # another decoder's points: an int16 offset from the points on the grid (exact there), unless far off
    near, far = pts + rng.normal(0, 3, pts.shape), pts.copy()
    far[0, 0] += 5000.0
    path = runs.save_predictions(tmp_path / "q.npz", {"val": {"points": pts, "dark_points": near, "argmax_points": far,
                                                              "mean": near.copy(), "gt": pts + 1.0}})
    with np.load(path) as z:
        assert z["val/dark_points+points"].dtype == np.int16 and z["val/argmax_points"].dtype == np.float32
        assert str(z["val/mean"]) == "@dark_points" and z["val/gt"].dtype == np.float32
    back = runs.load_predictions(path)["val"]
    grid = (np.round(near * runs.QUANTUM) / runs.QUANTUM).astype(np.float32)
    assert back["dark_points"].dtype == np.float32 and np.array_equal(back["dark_points"], grid)
    assert np.array_equal(back["argmax_points"], (np.round(far * runs.QUANTUM) / runs.QUANTUM).astype(np.float32)) and np.array_equal(back["mean"], back["dark_points"])
    assert np.abs(back["gt"] - (pts + 1.0)).max() <= 0.5 / runs.QUANTUM + 1e-5  # gt: on the grid, never an offset
    np.savez(tmp_path / "orphan.npz", **{"val/dark_points+points": np.zeros((2, 68, 2), np.int16)})
    with pytest.raises(runs.RunError, match="offset from points"):
        runs.load_predictions(tmp_path / "orphan.npz")
    np.savez(tmp_path / "bad.npz", **{"common/points": np.array("@nowhere")})
    with pytest.raises(runs.RunError, match="nowhere"):
        runs.load_predictions(tmp_path / "bad.npz")


def test_the_loss_picks_the_map_activation_unless_model_kw_does():
    """Relu-normalised losses (W2, STAR) train on "in+relu" maps (lab/models/heads.py); the others on raw maps;
    model_kw's head_act wins; the saved run config stays as written (reproduce compares it)."""
    from lab.runner.train import build_parts, model_kwargs

    base = RunConfig(model="rcn", width=0.0625)
    assert model_kwargs(base.replace(loss="w2")) == {"head_act": "in+relu"}
    assert model_kwargs(base.replace(loss="star")) == {"head_act": "in+relu"}
    assert model_kwargs(base.replace(loss="laplace_kl")) == {} and model_kwargs(base.replace(loss="star_awing")) == {}
    assert model_kwargs(base.replace(loss="w2", model_kw={"head_act": "none"})) == {"head_act": "none"}
    parts = build_parts(base.replace(loss="w2", train_n=2, val_n=1, test_n=1, device="cpu"))
    assert parts.model.config["head_act"] == "in+relu" and parts.cfg.model_kw == {}


def test_a_config_file_without_version_is_named_as_the_version_1_recipe(tmp_path, capsys):
    """A hand-written --config without "version" loads with the version-1 defaults (what every config saved before
    the recipe meant); the CLI says so in one line instead of training the old recipe silently."""
    from lab.__main__ import build_parser, config_from_args

    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"name": "mine", "loss": "l1"}))
    args = build_parser().parse_args(["train", "--config", str(path)])
    cfg = config_from_args(args)
    assert cfg.version == 1 and cfg.optimizer == "adam"
    err = capsys.readouterr().err
    assert f'{path} has no "version"' in err and len(err.strip().splitlines()) == 1
    path.write_text(json.dumps({"name": "mine", "loss": "l1", "version": 2}))
    assert config_from_args(build_parser().parse_args(["train", "--config", str(path)])).optimizer == "adamw"
    assert capsys.readouterr().err == ""
