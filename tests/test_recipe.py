"""The training recipe: schedule values by hand, EMA warm-up, version-1 configs, amp modes, fresh synthetic faces."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from lab.config import CONFIG_VERSION, RunConfig
from lab.data.synthetic import SyntheticFaces
from lab.runner.device import use_amp
from lab.runner.recipe import ModelEMA, build_optimizer, build_scheduler, warmup_cosine


def test_warmup_cosine_by_hand():
    # 10 steps, 2 warm-up, floor 0.1: (t+1)/2 for t < 2, then 0.1 + 0.9 (1 + cos(pi (t-2)/8)) / 2
    assert warmup_cosine(0, 10, 2, 0.1) == pytest.approx(0.5)
    assert warmup_cosine(1, 10, 2, 0.1) == pytest.approx(1.0)
    assert warmup_cosine(2, 10, 2, 0.1) == pytest.approx(1.0)
    assert warmup_cosine(6, 10, 2, 0.1) == pytest.approx(0.1 + 0.9 * 0.5)
    assert warmup_cosine(10, 10, 2, 0.1) == pytest.approx(0.1)
    assert warmup_cosine(50, 10, 2, 0.1) == pytest.approx(0.1)  # past the end: the floor


def test_scheduler_steps_per_optimiser_step():
    cfg = RunConfig(lr=1.0, epochs=2, warmup_steps=2, min_lr_ratio=0.0)
    w = torch.nn.Parameter(torch.zeros(1))
    opt = build_optimizer(cfg, [w])
    sched, per_step = build_scheduler(cfg, opt, steps_per_epoch=5)
    assert per_step and isinstance(opt, torch.optim.AdamW)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    expected = [0.5, 1.0] + [0.5 * (1 + math.cos(math.pi * (t - 2) / 8)) for t in range(2, 10)]
    assert lrs == pytest.approx(expected)
    v1 = RunConfig.from_dict({"schedule": "cosine", "epochs": 3})
    assert build_scheduler(v1, build_optimizer(v1, [w]), 5)[1] is False
    assert isinstance(build_optimizer(v1, [w]), torch.optim.Adam)
    with pytest.raises(ValueError, match="unknown schedule"):
        build_scheduler(cfg.replace(schedule="step"), opt, 5)
    with pytest.raises(ValueError, match="unknown optimizer"):
        build_optimizer(cfg.replace(optimizer="sgd"), [w])


def test_ema_warms_up_then_averages_and_copies_buffers():
    model = torch.nn.Sequential(torch.nn.Linear(1, 1, bias=False), torch.nn.BatchNorm1d(1))
    with torch.no_grad():
        model[0].weight.fill_(0.0)
    ema = ModelEMA(model, decay=0.9)
    with torch.no_grad():
        model[0].weight.fill_(1.0)
        model[1].running_mean.fill_(3.0)
    ema.update(model)  # d_0 = min(0.9, 1/10) = 0.1 -> 0.1 * 0 + 0.9 * 1
    assert float(ema.module[0].weight) == pytest.approx(0.9)
    assert float(ema.module[1].running_mean) == 3.0  # buffers copied
    for _ in range(200):
        ema.update(model)
    assert float(ema.module[0].weight) == pytest.approx(1.0, abs=1e-6)
    state = ema.state_dict()
    other = ModelEMA(model, decay=0.9)
    other.load_state_dict(state)
    assert other.updates == 201 and torch.equal(other.module[0].weight, ema.module[0].weight)


def test_version_1_configs_load_with_what_they_meant(tmp_path):
    """A config saved before the recipe (no "version") keeps Adam, per-epoch cosine, fixed faces, the linear head,
    and its loss's version-1 decoder; a new config gets the recipe."""
    old = {"name": "old", "model": "hourglass", "loss": "heatmap_mse", "model_kw": {"stacks": 1}, "lr": 0.002}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(old))
    cfg = RunConfig.load(path)
    assert cfg.version == 1 and cfg.optimizer == "adam" and cfg.warmup_steps == 0 and not cfg.fresh_faces
    assert cfg.model_kw == {"head": "linear", "stacks": 1} and cfg.decoder == "argmax" and cfg.amp == "cuda"
    w2 = RunConfig.from_dict({"loss": "w2", "model": "hourglass"})
    assert w2.decoder_kw == {"window": 5}
    assert RunConfig.from_dict(RunConfig(loss="w2").to_dict()).decoder_kw == {}
    new = RunConfig()
    assert new.version == CONFIG_VERSION == 2 and new.optimizer == "adamw" and new.fresh_faces and new.ema
    assert RunConfig.from_dict(cfg.to_dict()) == cfg  # round trip keeps version 1


def test_amp_modes():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert use_amp(cuda, "auto") and use_amp(cuda, "cuda") and not use_amp(cpu, "cuda")
    assert use_amp(cpu, "bf16") and not use_amp(cuda, "off")
    assert use_amp(cpu, "auto") == (torch.backends.cpu.get_cpu_capability() in ("AVX512_BF16", "AMX"))
    with pytest.raises(ValueError, match="unknown amp"):
        use_amp(cpu, "fp8")


def test_fresh_faces_change_per_epoch_and_stay_deterministic():
    fixed = SyntheticFaces("train", n=2, size=64, seed=0)
    fresh = SyntheticFaces("train", n=2, size=64, seed=0, fresh=True)
    assert np.array_equal(fixed[0].points, fresh[0].points)  # epoch 0 is the fixed set
    fresh.set_epoch(3)
    a = fresh[0].points
    assert not np.array_equal(a, fixed[0].points) and fresh[0].source.endswith(":epoch=3")
    again = SyntheticFaces("train", n=2, size=64, seed=0, fresh=True)
    again.set_epoch(3)
    assert np.array_equal(again[0].points, a)
    fixed.set_epoch(3)  # not fresh: set_epoch is a no-op
    assert fixed.epoch == 0
