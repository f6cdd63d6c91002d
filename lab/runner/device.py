"""The one place that picks the compute device and whether mixed precision is used."""
from __future__ import annotations

import os

import torch


def pick_device(requested: str | None = None) -> torch.device:
    """`cuda` when available, else `cpu`; `requested` ("cpu", "cuda", "cuda:1") overrides, checked. Under torchrun
    (LOCAL_RANK set) "auto" and "cuda" mean this process's own GPU, cuda:LOCAL_RANK."""
    cuda = f"cuda:{int(os.environ['LOCAL_RANK'])}" if "LOCAL_RANK" in os.environ else "cuda"
    if requested in (None, "", "auto"):
        return torch.device(cuda if torch.cuda.is_available() else "cpu")
    if requested == "cuda":
        requested = cuda
    dev = torch.device(requested)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {requested!r} requested but CUDA is not available on this machine; use --device cpu")
    return dev


AMP_MODES = ("auto", "bf16", "off", "cuda")


def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bf16 natively (AVX512-BF16 or AMX): only then is bf16 autocast faster on it.
    Measured on an AVX2-only EPYC here: a bf16-autocast training step of the hourglass x0.25 took 7x longer."""
    return torch.backends.cpu.get_cpu_capability() in ("AVX512_BF16", "AMX")


def use_amp(device: torch.device, mode: str = "cuda") -> bool:
    """Whether to train under bf16 autocast. mode "auto": on CUDA, and on CPUs with native bf16; "bf16": always;
    "off": never; "cuda": on CUDA only (the version-1 behaviour)."""
    if mode not in AMP_MODES:
        raise ValueError(f"unknown amp mode {mode!r}; valid: {', '.join(AMP_MODES)}")
    if mode == "auto":
        return device.type == "cuda" or (device.type == "cpu" and cpu_has_native_bf16())
    return mode == "bf16" or (mode == "cuda" and device.type == "cuda")
