"""The README's "Extend the lab" recipes, run exactly as written: each registers a toy loss / decoder / backbone,
which then shows up in the registries the front-ends read and trains (or decodes) a step."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from lab.config import RunConfig
from lab.data.dataset import LandmarkDataset
from lab.heatmaps import DECODERS, decode
from lab.losses import LOSSES
from lab.models import MODELS, build_model, contract_violations
from lab.runner.train import build_parts, supervised_loss

README = Path(__file__).resolve().parents[1] / "README.md"


def recipe(title: str) -> str:
    """The python block under the README heading `### {title}`."""
    text = README.read_text()
    section = text.split(f"### {title}\n", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1, f"README '### {title}' should hold one python block"
    return blocks[0]


@pytest.fixture
def registered():
    """Run a recipe; afterwards remove whatever it added to the registries."""
    before = {id(reg): set(reg) for reg in (LOSSES, DECODERS, MODELS)}
    yield lambda title: exec(compile(recipe(title), f"README: {title}", "exec"), {})
    for reg in (LOSSES, DECODERS, MODELS):
        for name in set(reg) - before[id(reg)]:
            reg.pop(name)


def _one_step(cfg: RunConfig) -> float:
    parts = build_parts(cfg, device=torch.device("cpu"))
    faces = LandmarkDataset(parts.splits.train, parts.model.input_size, crop_scale=cfg.crop_scale)
    batch = next(iter(torch.utils.data.DataLoader(faces, batch_size=4)))
    loss = supervised_loss(parts, parts.model(batch["image"]), batch)
    loss.backward()
    grads = [p.grad for p in parts.model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    return float(loss.detach())


def test_add_a_loss(registered):
    registered("Add a loss")
    assert LOSSES["my_l1"].input == "coords"
    loss = _one_step(RunConfig(loss="my_l1", model="hourglass", width=0.25, model_kw={"stacks": 1},
                               train_n=8, val_n=4, test_n=4, synth_size=96, epochs=1))
    assert loss > 0


def test_add_a_decoder(registered):
    registered("Add a decoder")
    maps = torch.zeros(1, 1, 8, 8)
    maps[0, 0, 5, 2], maps[0, 0, 5, 3] = 1.0, 0.5  # a neighbour that would shift argmax by a quarter pixel
    assert decode(maps, "argmax_noshift").tolist() == [[[2.0, 5.0]]]
    assert decode(maps, "argmax").tolist() == [[[2.25, 5.0]]]
    assert DECODERS["argmax_noshift"].distribution == "relu"


def test_add_a_backbone(registered):
    registered("Add a backbone")
    model = build_model("tiny", num_points=68, width=0.5)
    assert contract_violations(model) == []
    loss = _one_step(RunConfig(loss="laplace_kl", model="tiny", width=0.5, train_n=8, val_n=4, test_n=4,
                               synth_size=96, epochs=1))
    assert loss > 0
