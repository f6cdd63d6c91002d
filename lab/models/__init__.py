"""Landmark models: the registry (lab/models/registry.py, filled by `@register_model` where each model is defined),
a builder, size summaries and checked checkpoint loading.

Every model has `input_size` (S), `stride` (input px per heatmap px), `num_points` (K), `output` ("heatmap" or
"coords"), `config` (its constructor arguments with "name", so `build_model(**model.config)` rebuilds it) and
`forward(x (B, 3, S, S)) -> list[tensor]`: heatmap models return [(B, K, S/stride, S/stride), ...] (the last is the
final prediction; the hourglass returns one per stack), coordinate models [(B, K, 2)] in heatmap pixels.
`lab.models.fast.optimize_for_inference(model)` gives an eval-only RCN callable with the same outputs, faster.
"""
from __future__ import annotations

import inspect
from typing import Any, Mapping

import torch
from torch import nn

from lab.models.discriminator import PatchDiscriminator
from lab.models.heads import LEGACY_HEAD
from lab.models.registry import MODELS, contract_violations, register_model
# each import registers its backbone (the decorator runs where the model is defined)
from lab.models.rcn import RCN
from lab.models.hourglass import StackedHourglass
from lab.models.regressor import CoordRegressor
from lab.models.ert import ERT

STATE_KEYS = ("model", "state_dict", "model_state")  # where a checkpoint dict may keep the weights
TRAINING_ONLY = frozenset({"dropout", "noise_std"})  # config entries that do not change the weights
EXTRA_STATE = "_extra_state"  # torch's key for a module's non-tensor state (the ERT's trees): its size is not checked
# Arguments added after models were first saved, with the value a saved config without them meant.
_LEGACY_HEAD = {"head": LEGACY_HEAD, "head_channels": 128}  # head_channels is unused by the linear head
LEGACY_DEFAULTS: dict[str, dict[str, Any]] = {"rcn": _LEGACY_HEAD, "hourglass": _LEGACY_HEAD}


def with_legacy_defaults(config: Mapping[str, Any]) -> dict[str, Any]:
    """A saved model config completed with LEGACY_DEFAULTS for the arguments it predates (e.g. "head")."""
    return {**LEGACY_DEFAULTS.get(config.get("name"), {}), **config}


def build_model(name: str, num_points: int = 68, width: float = 1.0, **kw: Any) -> nn.Module:
    """Instantiate registered model `name` ("rcn", "hourglass", "regressor") with K points and a width multiplier."""
    cls = MODELS.lookup(name)
    accepted = set(inspect.signature(cls).parameters) - {"num_points", "width"}
    unknown = sorted(set(kw) - accepted)
    if unknown:
        raise ValueError(f"model {name!r} has no argument(s) {', '.join(unknown)}; valid: {', '.join(sorted(accepted))}")
    return cls(num_points=num_points, width=width, **kw)


def build_discriminator(num_points: int = 68, width: float = 1.0, **kw: Any) -> PatchDiscriminator:
    """The Laplace paper's PatchGAN for K heatmaps (see lab/models/discriminator.py for `noise_std`, `channels`)."""
    return PatchDiscriminator(num_points=num_points, width=width, **kw)


def model_summary(model: nn.Module) -> dict[str, int]:
    """params: trainable + frozen parameter count; buffers: floating buffer elements (BN statistics);
    bytes_fp32: 4 * (params + buffers), the weight bytes of an fp32 state dict without file overhead."""
    params = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for b in model.buffers() if b.is_floating_point())
    return dict(params=params, buffers=buffers, bytes_fp32=4 * (params + buffers))


def _split_checkpoint(state: Mapping[str, Any]) -> tuple[dict | None, Mapping[str, torch.Tensor]]:
    """(config or None, state dict) from a checkpoint dict {"config", "model"|"state_dict"|...} or a bare state dict."""
    for key in STATE_KEYS:
        if key in state and isinstance(state[key], Mapping):
            return state.get("config"), state[key]
    return state.get("config") if isinstance(state.get("config"), Mapping) else None, \
        {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}


def config_mismatch(expected: Mapping[str, Any], found: Mapping[str, Any]) -> list[str]:
    """Lines "key: checkpoint=..., model=..." for every constructor argument that differs ("num_points" shown as K);
    entries in TRAINING_ONLY (dropout rate, discriminator noise) may differ."""
    lines = []
    expected, found = with_legacy_defaults(expected), with_legacy_defaults(found)
    for key in sorted((set(expected) | set(found)) - TRAINING_ONLY):
        if expected.get(key) != found.get(key):
            label = "K (num_points)" if key == "num_points" else key
            ours, theirs = expected.get(key, "<missing>"), found.get(key, "<missing>")
            lines.append(f"{label}: checkpoint={theirs!r}, model={ours!r}")
    return lines


def load_model_state(model: nn.Module, state: Mapping[str, Any], source: str = "<checkpoint>") -> nn.Module:
    """Load weights into `model`, checking the checkpoint was made for the same model; returns `model`.

    state: a checkpoint dict holding "config" (a model's `config`) and the weights under "model", "state_dict" or
    "model_state", or a bare state dict. source: the file or run name, quoted in every error.
    Raises ValueError naming `source` and each differing config entry (name, K, width, ...) when the configs differ,
    or naming the mismatched tensors when a bare state dict does not fit.
    """
    if not isinstance(state, Mapping):
        raise ValueError(f"{source}: expected a checkpoint dict or state dict, got {type(state).__name__}")
    config, weights = _split_checkpoint(state)
    if config is not None:
        diff = config_mismatch(getattr(model, "config", {}), config)
        if diff:
            raise ValueError(f"{source}: checkpoint was made for a different model: " + "; ".join(diff)
                             + ". Rebuild it with build_model(**checkpoint['config']).")
    own = model.state_dict()
    missing = sorted(set(own) - set(weights))
    unexpected = sorted(set(weights) - set(own))
    wrong = [f"{k} {tuple(weights[k].shape)} vs {tuple(own[k].shape)}" for k in own
             if k in weights and not k.endswith(EXTRA_STATE) and weights[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        parts = [f"{label}: {', '.join(items[:5])}{' ...' if len(items) > 5 else ''}"
                 for label, items in (("missing", missing), ("unexpected", unexpected),
                                      ("shape checkpoint vs model", wrong)) if items]
        raise ValueError(f"{source}: weights do not fit {getattr(model, 'config', type(model).__name__)}: "
                         + "; ".join(parts))
    model.load_state_dict(weights)
    return model


def model_from_state(state: Mapping[str, Any], source: str = "<checkpoint>") -> nn.Module:
    """Rebuild the model a checkpoint dict describes (its "config") and load its weights."""
    config = state.get("config") if isinstance(state, Mapping) else None
    if not isinstance(config, Mapping) or "name" not in config:
        raise ValueError(f"{source}: checkpoint has no model config (a dict with 'name'); cannot rebuild the model")
    return load_model_state(build_model(**with_legacy_defaults(config)), state, source)


__all__ = ["MODELS", "register_model", "contract_violations", "build_model", "build_discriminator", "model_summary",
           "load_model_state", "model_from_state", "config_mismatch", "RCN", "StackedHourglass", "CoordRegressor",
           "ERT", "PatchDiscriminator"]
