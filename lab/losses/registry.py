"""The loss registry: name -> LossSpec. The CLI, notebooks and app list methods from here (timm-style)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from torch import nn


@dataclass(frozen=True)
class LossSpec:
    """A registered loss.

    name: registry key ("star", "w2", ...).
    build: factory `build(**hyper_parameters) -> nn.Module`.
    input: "heatmap" -> forward(heatmaps (B,K,h,w), target (B,K,2), visible (B,K)) ;
           "coords"  -> forward(pred (B,K,2), target (B,K,2), visible (B,K)); all coordinates in heatmap pixels.
    decoder: the decoder the method is evaluated with by default ("argmax", "soft_argmax", "barycenter").
    paper: short citation. equation: the formula implemented, one line.
    defaults: the hyper-parameters `build` uses when given none (shown by the CLI and the app).
    """

    name: str
    build: Callable[..., nn.Module]
    input: str
    decoder: str
    paper: str
    equation: str
    defaults: dict = field(default_factory=dict)


LOSSES: dict[str, LossSpec] = {}


def register(spec: LossSpec) -> LossSpec:
    if spec.name in LOSSES:
        raise ValueError(f"loss {spec.name!r} registered twice")
    if spec.input not in ("heatmap", "coords"):
        raise ValueError(f"loss {spec.name!r}: input must be 'heatmap' or 'coords', got {spec.input!r}")
    LOSSES[spec.name] = spec
    return spec


def get_loss_spec(name: str) -> LossSpec:
    try:
        return LOSSES[name]
    except KeyError:
        raise KeyError(f"unknown loss {name!r}; valid: {', '.join(sorted(LOSSES))}") from None


def build_loss(name: str, **kwargs) -> nn.Module:
    """Instantiate a registered loss with hyper-parameters overriding its defaults."""
    spec = get_loss_spec(name)
    return spec.build(**{**spec.defaults, **kwargs})
