"""Fast inference: `optimize_for_inference(model) -> callable`, same outputs as `model.eval()` (to ~1e-5).

What it does, and why (numbers from benchmarks/inference.py on a 2-core AMD EPYC, see its docstring):
- eval-only copy: dropout removed, BN kept in eval (folded into the convs when compiled with freezing);
  runs under `torch.inference_mode`, input and weights in channels_last (NHWC) memory, which oneDNN prefers.
- RCN rewritten exactly (`RCNInference`), two identities that remove the nearest x2 upsampling and cut FLOPs:
  * polyphase: a KxK conv (K <= 5) applied to `upsample2x(a)` equals `pixel_shuffle(conv3x3(a, W'))` with
    W' (4*O, I, 3, 3) gathering, for each of the 4 output phases, the taps that land on each low-res pixel. For the
    decoder's 5x5 conv on cat(up(a), skip) this is conv5x5(skip) + pixel_shuffle(conv3x3(a)): 68 C^2 instead of
    100 C^2 multiply-adds per output pixel (-32 %).
  * space-to-depth (`s2d`): the whole level at half resolution, `pixel_shuffle(conv3x3(cat(a, pixel_unshuffle(skip)),
    W''))`, W'' (8C, 5C, 3, 3): 90 C^2 per pixel but 4x the channels, which vectorises far better when C is 4..16.
  Level modes default by channel count (`s2d` for C <= 16, `polyphase` above); `direct` keeps the original form.
- optional torch.compile (inductor, freezing + C++ wrapper): fuses LeakyReLU, pooling, concat and shuffles into
  generated loops and removes per-op Python overhead, which is what limits the tiny widths (1/16, 1/8) at batch 1.
  It needs a C++ compiler and takes 5-30 s the first time (cached afterwards); `compile="auto"` falls back to
  eager with a warning when it fails.
- threads: not changed unless `threads` is given (torch.set_num_threads is process-wide). For one image through a
  tiny model one thread is fastest on a busy machine; batches want all cores.
"""
from __future__ import annotations

import copy
import warnings
from typing import Callable, Sequence

import torch
from torch import nn
import torch.nn.functional as F

from lab.models.rcn import LEAK, RCN

MODES = ("direct", "polyphase", "s2d")


def _tap_offsets(k: int, parity: int) -> list[tuple[int, int]]:
    """For output pixel 2i + parity and kernel taps d = -k//2 .. k//2: (tap index, low-res offset (p+d)//2 + 1)."""
    r = k // 2
    if k % 2 == 0 or r > 2:
        raise ValueError(f"polyphase rewrite needs an odd kernel of size <= 5, got {k}")
    return [(d + r, (parity + d) // 2 + 1) for d in range(-r, r + 1)]


def polyphase_weight(w: torch.Tensor) -> torch.Tensor:
    """Kernel (O, I, k, k) acting on a nearest-x2-upsampled input -> 3x3 kernel (4*O, I, 3, 3) on the low-res input,
    output channel o*4 + 2p + q = phase (p, q) of channel o, the order `F.pixel_shuffle(., 2)` expects."""
    O, I, k, _ = w.shape
    out = w.new_zeros(O, 2, 2, I, 3, 3)
    for p in range(2):
        for q in range(2):
            for ty, oy in _tap_offsets(k, p):
                for tx, ox in _tap_offsets(k, q):
                    out[:, p, q, :, oy, ox] += w[:, :, ty, tx]
    return out.reshape(4 * O, I, 3, 3)


def space_to_depth_weight(w: torch.Tensor) -> torch.Tensor:
    """Kernel (O, I, k, k) at full resolution -> 3x3 kernel (4*O, 4*I, 3, 3) on `F.pixel_unshuffle(x, 2)`, whose
    channel i*4 + 2p + q holds phase (p, q) of channel i; output channels in `F.pixel_shuffle` order likewise."""
    O, I, k, _ = w.shape
    r = k // 2
    out = w.new_zeros(O, 2, 2, I, 2, 2, 3, 3)
    for p in range(2):
        for q in range(2):
            for dy in range(-r, r + 1):
                for dx in range(-r, r + 1):
                    out[:, p, q, :, (p + dy) % 2, (q + dx) % 2, (p + dy) // 2 + 1, (q + dx) // 2 + 1] += \
                        w[:, :, dy + r, dx + r]
    return out.reshape(4 * O, 4 * I, 3, 3)


def _param(t: torch.Tensor) -> nn.Parameter:
    return nn.Parameter(t.detach().clone().contiguous(memory_format=torch.channels_last)
                        if t.dim() == 4 else t.detach().clone(), requires_grad=False)


class _Conv(nn.Module):
    """conv2d with fixed weights (+ LeakyReLU when `act`); weights stored channels_last."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, padding: int, act: bool = True):
        super().__init__()
        self.weight = _param(weight)
        self.bias = None if bias is None else _param(bias)
        self.padding, self.act = padding, act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(x, self.weight, self.bias, padding=self.padding)
        return F.leaky_relu(x, LEAK, inplace=True) if self.act else x


def _from(conv: nn.Conv2d, act: bool = True) -> _Conv:
    return _Conv(conv.weight, conv.bias, conv.padding[0], act)


class _Fuse(nn.Module):
    """One RCN decoder level: LReLU(conv_kxk(cat(up2x(a), skip))) in mode direct | polyphase | s2d; (B, 2C, h, w)."""

    def __init__(self, conv: nn.Conv2d, c_up: int, mode: str):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"unknown level mode {mode!r}; valid: {', '.join(MODES)}")
        self.mode = mode
        w, b = conv.weight, conv.bias
        if mode == "direct":
            self.conv = _from(conv)
        elif mode == "polyphase":
            self.up = _Conv(polyphase_weight(w[:, :c_up]), None, 1, act=False)
            self.skip = _Conv(w[:, c_up:], b, conv.padding[0], act=False)
        else:
            weight = torch.cat([polyphase_weight(w[:, :c_up]), space_to_depth_weight(w[:, c_up:])], dim=1)
            self.conv = _Conv(weight, b.repeat_interleave(4), 1)

    def forward(self, a: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        if self.mode == "direct":
            return self.conv(torch.cat([F.interpolate(a, scale_factor=2.0, mode="nearest"), skip], dim=1))
        if self.mode == "polyphase":
            y = self.skip(skip).add_(F.pixel_shuffle(self.up(a), 2))
            return F.leaky_relu(y, LEAK, inplace=True)
        return F.pixel_shuffle(self.conv(torch.cat([a, F.pixel_unshuffle(skip, 2)], dim=1)), 2)


def default_modes(channels: int) -> tuple[str, str, str, str]:
    """Decoder level modes (10, 20, 40, 80 px) for base width C: s2d while C <= 16, polyphase above."""
    return ("s2d",) * 4 if channels <= 16 else ("polyphase",) * 4


class RCNInference(nn.Module):
    """Eval-only RCN with the same outputs as `rcn.eval()`; forward(x (B, 3, S, S)) -> [(B, K, S, S)].

    modes: per decoder level (10, 20, 40, 80 px at S = 80), one of "direct", "polyphase", "s2d" (module docstring).
    """

    def __init__(self, rcn: RCN, modes: Sequence[str] | None = None):
        super().__init__()
        if not isinstance(rcn, RCN):
            raise ValueError(f"RCNInference needs an RCN, got {type(rcn).__name__}")
        c = rcn.channels
        modes = tuple(modes or default_modes(c))
        if len(modes) != 4:
            raise ValueError(f"modes must name 4 decoder levels, got {modes!r}")
        self.modes = modes
        for attr in ("input_size", "stride", "num_points", "output", "config"):
            setattr(self, attr, getattr(rcn, attr))
        self.encoder = nn.ModuleList(_from(stage[0]) for stage in rcn.encoder)
        self.bottom = nn.Sequential(*(_from(m) for m in rcn.bottom if isinstance(m, nn.Conv2d)))
        self.fuse = nn.ModuleList(_Fuse(f[0], c, mode) for f, mode in zip(rcn.fuse, modes))
        self.reduce = nn.ModuleList(_from(r[0]) for r in rcn.reduce)
        self.head = _from(rcn.head, act=False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        skips = []
        for conv in self.encoder:
            x = conv(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottom(x)
        for i, skip in enumerate(reversed(skips)):
            x = self.fuse[i](x, skip)
            x = self.reduce[i](x) if i < 3 else self.head(x)
        return [x]


def _compile(net: nn.Module, batch_size: int, strict: bool) -> Callable | None:
    """torch.compile `net` for (batch_size, 3, S, S) channels_last input with inductor freezing (BN folding, oneDNN
    weight prepacking, conv + LeakyReLU fusion) and the C++ wrapper; None (after a warning) if that fails and not
    `strict`. Freezing must be on while the graph is compiled, i.e. during the warm-up call below (options= passed to
    torch.compile did not enable it in torch 2.13)."""
    # every compiled model shares one forward code object: allow a graph per width / batch
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
    try:
        compiled = torch.compile(net, dynamic=False)
        device = next(net.parameters()).device
        x = torch.zeros(batch_size, 3, net.input_size, net.input_size, device=device).contiguous(
            memory_format=torch.channels_last)
        with torch._inductor.config.patch(freezing=True, cpp_wrapper=True), torch.inference_mode():
            compiled(x)
        return compiled
    except Exception as err:  # no C++ compiler, unsupported platform, ...
        if strict:
            raise
        warnings.warn(f"torch.compile failed ({type(err).__name__}: {err}); using the eager fast path")
        return None


def optimize_for_inference(model: nn.Module, batch_size: int = 1, compile: bool | str = "auto",
                           threads: int | None = None, modes: Sequence[str] | None = None,
                           ) -> Callable[[torch.Tensor], list[torch.Tensor]]:
    """A fast eval-only callable `f(x (B, 3, S, S)) -> list[tensor]` equal to `model.eval()(x)` up to float rounding.

    model: any lab model (RCN gets the exact rewrite, others a channels_last eval copy); `model` is not modified.
    batch_size: the batch the compiled graph is specialised and warmed up for (other batch sizes run eager).
    compile: True, False or "auto" (try torch.compile with inductor freezing + C++ wrapper, fall back to eager).
    threads: if given, calls torch.set_num_threads(threads) (process-wide). modes: RCN decoder level modes.
    """
    if threads is not None:
        torch.set_num_threads(int(threads))
    net = RCNInference(model, modes) if isinstance(model, RCN) else copy.deepcopy(model)
    net = net.eval().to(memory_format=torch.channels_last)
    for p in net.parameters():
        p.requires_grad_(False)
    compiled: Callable | None = None
    if compile:
        compiled = _compile(net, batch_size, strict=compile != "auto")

    def infer(x: torch.Tensor) -> list[torch.Tensor]:
        with torch.inference_mode():
            x = x.contiguous(memory_format=torch.channels_last)
            return compiled(x) if compiled is not None and x.shape[0] == batch_size else net(x)

    infer.module = net  # type: ignore[attr-defined]
    return infer
