"""The model registry: `@register_model("name")` on a backbone's class adds it to MODELS (timm-style).

The contract every registered model honours (tests/test_models.py checks it for each one):

    model.num_points   K, the landmarks it predicts
    model.input_size   S, the square crop it reads: forward(x (B, 3, S, S))
    model.output       "heatmap" -> forward returns [(B, K, S/stride, S/stride), ...] (the last is the final map;
                       more than one = intermediate supervision); "coords" -> [(B, K, 2)] in heatmap pixels
    model.stride       input pixels per heatmap pixel (coordinate models too: their points are in those pixels)
    model.config       its constructor arguments with "name", so build_model(**model.config) rebuilds it
    constructor        accepts num_points and width (a channel multiplier) as keywords

A new backbone is one file: the class, its docstring, `@register_model("mynet")`, and an import line in
lab/models/__init__.py (the README's "Add a backbone").
"""
from __future__ import annotations

import inspect
from typing import Callable

import torch
from torch import nn

from lab.registry import Registry

MODELS: Registry[type[nn.Module]] = Registry("model")
OUTPUTS = ("heatmap", "coords")


def register_model(name: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator: MODELS[name] = cls. The class must take num_points and width and declare `output`."""
    def add(cls: type[nn.Module]) -> type[nn.Module]:
        params = inspect.signature(cls).parameters
        missing = [p for p in ("num_points", "width") if p not in params]
        if missing:
            raise TypeError(f"model {name!r}: the constructor must accept {', '.join(missing)}")
        if getattr(cls, "output", None) not in OUTPUTS:
            raise TypeError(f"model {name!r}: class attribute `output` must be one of {OUTPUTS}")
        return MODELS.add(name, cls)
    return add


def contract_violations(model: nn.Module, batch: int = 2) -> list[str]:
    """What `model` breaks of the contract above, as readable lines (empty when it honours it); runs one forward
    pass on zeros in eval mode."""
    problems = []
    for attr in ("num_points", "input_size", "output", "stride", "config"):
        if not hasattr(model, attr):
            problems.append(f"no attribute {attr!r}")
    if problems:
        return problems
    k, s, stride = model.num_points, model.input_size, model.stride
    if model.output not in OUTPUTS:
        problems.append(f"output {model.output!r} not in {OUTPUTS}")
    if model.config.get("name") not in MODELS or not isinstance(model, MODELS[model.config["name"]]):
        problems.append(f"config['name'] {model.config.get('name')!r} does not name its registered class")
    if s % stride:
        problems.append(f"input_size {s} is not a multiple of stride {stride}")
    was_training = model.training
    model.eval()
    with torch.no_grad():
        outs = model(torch.zeros(batch, 3, s, s))
    model.train(was_training)
    if not isinstance(outs, (list, tuple)) or not outs:
        return problems + [f"forward must return a non-empty list, got {type(outs).__name__}"]
    want = (batch, k, s // stride, s // stride) if model.output == "heatmap" else (batch, k, 2)
    for i, out in enumerate(outs):
        if tuple(out.shape) != want:
            problems.append(f"output {i} has shape {tuple(out.shape)}, expected {want}")
    return problems
