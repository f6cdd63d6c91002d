"""The one place that picks the compute device and whether mixed precision is used."""
from __future__ import annotations

import torch


def pick_device(requested: str | None = None) -> torch.device:
    """`cuda` when available, else `cpu`; `requested` ("cpu", "cuda", "cuda:1") overrides, checked."""
    if requested in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(requested)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {requested!r} requested but CUDA is not available on this machine; use --device cpu")
    return dev


def use_amp(device: torch.device) -> bool:
    """Mixed precision only on CUDA."""
    return device.type == "cuda"
