"""The loss registry: name -> LossSpec. The CLI, notebooks and app list methods from here (timm-style)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from torch import nn

from lab.registry import Registry


@dataclass(frozen=True)
class LossSpec:
    """A registered loss.

    name: registry key ("star", "w2", ...).
    build: factory `build(**hyper_parameters) -> nn.Module`.
    input: "heatmap" -> forward(heatmaps (B,K,h,w), target (B,K,2), visible (B,K)) ;
           "coords"  -> forward(pred (B,K,2), target (B,K,2), visible (B,K)); all coordinates in heatmap pixels.
    decoder: the decoder the method is evaluated with by default (a name in lab.heatmaps.DECODERS; the decoder
        declares the distribution it reads, so nothing guesses softmax or relu from a name).
    temperature: the name of the hyper-parameter that is the softmax temperature the loss trains with ("temperature"
        for LaplaceKL), or None; a run is decoded at that temperature (lab.runner.evaluate.run_decoding).
    map_activation: the heatmap model's map activation the loss trains with (lab/models/heads.py): "none", or
        "in+relu" for the losses that read relu(H) / sum relu(H) (STAR's official network; raw maps die there).
        The runner passes it to the model unless the run's model_kw sets head_act.
    paper: short citation. equation: the formula implemented, one line.
    defaults: the hyper-parameters `build` uses when given none (shown by the CLI and the app).
    geometry: optional `geometry(model) -> dict` of hyper-parameters that depend on the model's input size and
        stride (e.g. Wing's pixel constants); they override `defaults`, explicit arguments override both.
    """

    name: str
    build: Callable[..., nn.Module]
    input: str
    decoder: str
    paper: str
    equation: str
    defaults: dict = field(default_factory=dict)
    geometry: Callable[[nn.Module], dict] | None = None
    temperature: str | None = None
    map_activation: str = "none"


LOSSES: Registry[LossSpec] = Registry("loss")


def register(spec: LossSpec) -> LossSpec:
    if spec.temperature is not None and spec.temperature not in spec.defaults:
        raise ValueError(f"loss {spec.name!r}: temperature names {spec.temperature!r}, not one of its defaults")
    if spec.input not in ("heatmap", "coords"):
        raise ValueError(f"loss {spec.name!r}: input must be 'heatmap' or 'coords', got {spec.input!r}")
    return LOSSES.add(spec.name, spec)


def get_loss_spec(name: str) -> LossSpec:
    return LOSSES.lookup(name)


def build_loss(name: str, model: nn.Module | None = None, **kwargs) -> nn.Module:
    """Instantiate a registered loss: defaults, then the model-dependent values (if a model is given), then kwargs."""
    spec = get_loss_spec(name)
    derived = spec.geometry(model) if spec.geometry is not None and model is not None else {}
    return spec.build(**{**spec.defaults, **derived, **kwargs})
