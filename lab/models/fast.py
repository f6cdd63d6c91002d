"""Fast inference: `optimize_for_inference(model) -> callable`, same outputs as `model.eval()` (to ~1e-6 relative).

What it does, and why (measured on the lab's 2-core AMD EPYC with benchmarks/inference.py and micro-timings):
- eval-only copy: dropout removed, BN kept in eval; runs under `torch.inference_mode`.
- convs pick their kernel by size: >= ONEDNN_MIN_MACS multiply-adds run oneDNN directly with the LeakyReLU fused as
  a post-op (`torch.ops.mkldnn._convolution_pointwise`, the kernel inductor's freezing pass emits) on channels_last
  tensors; smaller ones run F.conv2d on NCHW tensors, because oneDNN costs 25-35 us per call before any arithmetic
  (4->4 channels, 3x3 on 10x10: 38 us vs 9 us). Plain F.conv2d decides by input size alone, so batch-1 mid-size
  convs fell to the slow im2col path and tiny ones to oneDNN's set-up cost.
- glibc is told to keep freed memory (`keep_freed_memory`): without it eager calls page-faulted their activations
  back in every time (800 minor faults and ~1 ms of kernel time per RCN-1/8 image).
- the RCN is rewritten exactly (`RCNInference`) with identities that remove the nearest x2 upsampling:
  * polyphase: a KxK conv (K <= 5) on `upsample2x(a)` equals `pixel_shuffle(conv3x3(a, W'))`, W' (4*O, I, 3, 3)
    gathering for each of the 4 output phases the taps that land on each low-res pixel. The decoder's 5x5 conv on
    cat(up(a), skip) becomes conv5x5(skip) + pixel_shuffle(conv3x3(a)): 68 C^2 instead of 100 C^2 multiply-adds per
    output pixel (-32 %); at full width, batch 8, one thread: 384 ms vs 546 ms for the plain model.
  * space-to-depth (`s2d`): a whole level at half resolution, `pixel_shuffle(conv3x3(cat(a, pixel_unshuffle(skip)),
    W''))`, W'' (8C, 5C, 3, 3): 90 C^2 per pixel but 4x the channels, which vectorises far better when C is 4..8.
    With the 80 px level in s2d, encoder stage 1 becomes one stride-2 4x4 conv that emits the 4 phases of its output
    (no pixel_unshuffle), and its 2x2 max-pool a max over the 4 phase blocks.
  `default_modes` picks per level by channel count; `direct` keeps the original form.
- what did not help here, kept optional or dropped: torch.compile (`compile=True`; inductor, freezing + C++
  wrapper, 5-40 s to build) measured 1.0-1.5 ms vs 1.2 ms eager at width 1/16 depending on the run, i.e. no clear
  gain, since its oneDNN calls for the tiny convs keep the per-call set-up; TorchScript cannot trace the fused op;
  channels_last end to end (pixel_shuffle and the 68-channel head are faster NCHW); a second thread for one image
  (on a busy 2-core machine each OpenMP region waits for a descheduled thread: 2 ms became 20-400 ms).
- threads are left alone unless `threads` is given (torch.set_num_threads is process-wide); one image through a
  small model wants 1 thread, batches want all free cores.
- eager Python/dispatcher overhead is ~400 us per RCN call on this CPU (a 16x16 input costs that much), a third of
  the width-1/16 time; fewer, larger ops (s2d) is what reduces it.
"""
from __future__ import annotations

import copy
import ctypes
import ctypes.util
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


def strided_stem_weight(w: torch.Tensor) -> torch.Tensor:
    """3x3 kernel (O, I, 3, 3) at full resolution -> (4*O, I, 4, 4) kernel for a stride-2, padding-1 conv whose output
    channel ph*O + o (ph = 2p + q, phase-major) is the full-resolution output of channel o at pixel (2i+p, 2j+q)."""
    O, I, k, _ = w.shape
    if k != 3:
        raise ValueError(f"strided stem needs a 3x3 kernel, got {k}x{k}")
    out = w.new_zeros(2, 2, O, I, 4, 4)
    for p in range(2):
        for q in range(2):
            out[p, q, :, :, p:p + 3, q:q + 3] = w
    return out.reshape(4 * O, I, 4, 4)


def phase_major(w: torch.Tensor, groups: int = 4) -> torch.Tensor:
    """Reorder input channels of a kernel (O, C*4, ...) from c*4 + ph (pixel_unshuffle order) to ph*C + c."""
    return w.unflatten(1, (-1, groups)).transpose(1, 2).flatten(1, 2)


def _mkldnn_pointwise() -> Callable | None:
    """oneDNN conv with a fused post-op (the kernel inductor's freezing emits), when this torch build has it."""
    try:
        return torch.ops.mkldnn._convolution_pointwise.default if torch.backends.mkldnn.is_available() else None
    except (AttributeError, RuntimeError):
        return None


_POINTWISE = _mkldnn_pointwise()


def keep_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 1 << 30) -> bool:
    """Make glibc's malloc keep freed blocks (up to 32 MB each, 1 GB in all) instead of handing them back to the OS.

    Eager PyTorch frees and re-allocates every activation on each call; once glibc has returned that memory (it
    does so for blocks above its adaptive mmap threshold and when the heap top exceeds the trim threshold), every
    call page-faults it back in: measured 800 minor faults and ~1 ms of kernel time per RCN-1/8 call here, more than
    the arithmetic. Process-wide, like jemalloc/tcmalloc preloading; True if applied (glibc only)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
        return bool(libc.mallopt(m_mmap_threshold, mmap_threshold)) and bool(libc.mallopt(m_trim_threshold,
                                                                                           trim_threshold))
    except (OSError, AttributeError):
        return False


def _param(t: torch.Tensor, channels_last: bool = True) -> nn.Parameter:
    t = t.detach().clone()
    return nn.Parameter(t.contiguous(memory_format=torch.channels_last) if channels_last and t.dim() == 4
                        else t.contiguous(), requires_grad=False)


ONEDNN_MIN_MACS = 3_000_000  # below this many multiply-adds per call oneDNN's ~30 us set-up costs more than it saves


class _Conv(nn.Module):
    """conv2d with fixed weights (+ LeakyReLU when `act`), `stride`, `padding` on each side.

    fused (eager, CPU, float32): convs of >= ONEDNN_MIN_MACS multiply-adds run oneDNN with the LeakyReLU fused as a
    post-op, on channels_last tensors; smaller ones run F.conv2d on NCHW tensors (PyTorch's direct/im2col kernel),
    which costs 6-30 us where oneDNN's fixed per-call cost alone is 25-35 us (measured: 4->4 channels 3x3 on 10x10:
    9 vs 38 us; 20->32 on 40x40: 318 vs 203 us). Plain F.conv2d picks oneDNN only by input size, so batch-1 mid-size
    convs took the slow path. Under torch.compile the large convs go through F.conv2d with channels_last weights so
    that inductor's freezing turns them into the same fused oneDNN call with prepacked weights.
    fused=False (the head): always F.conv2d on NCHW weights, the fastest for the memory-bound 1x1 head.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, padding: int, act: bool = True,
                 fused: bool = True, stride: int = 1):
        super().__init__()
        self.stride = stride
        self.weight = _param(weight, channels_last=fused)
        self.bias = None if bias is None else _param(bias)
        self.register_buffer("weight_nchw", weight.detach().clone().contiguous() if fused else None, persistent=False)
        self.padding, self.act, self.fused = padding, act, fused
        self.macs_per_pixel = weight[0].numel() * weight.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight
        if self.fused and x.device.type == "cpu" and x.dtype == torch.float32:
            if x.shape[0] * x.shape[2] * x.shape[3] * self.macs_per_pixel // self.stride ** 2 < ONEDNN_MIN_MACS:
                x, weight = x.contiguous(), self.weight_nchw
            elif _POINTWISE is not None and not torch.compiler.is_compiling():
                act = "leaky_relu" if self.act else "none"
                return _POINTWISE(x.contiguous(memory_format=torch.channels_last), weight, self.bias,
                                  [self.padding] * 2, [self.stride] * 2, [1, 1], 1, act, [LEAK] if self.act else [], "")
        x = F.conv2d(x, weight, self.bias, stride=self.stride, padding=self.padding)
        return F.leaky_relu(x, LEAK, inplace=True) if self.act else x


def _from(conv: nn.Conv2d, act: bool = True, fused: bool = True) -> _Conv:
    return _Conv(conv.weight, conv.bias, conv.padding[0], act, fused)


class _Fuse(nn.Module):
    """One RCN decoder level: LReLU(conv_kxk(cat(up2x(a), skip))) in mode direct | polyphase | s2d; (B, 2C, h, w)."""

    def __init__(self, conv: nn.Conv2d, c_up: int, mode: str, skip_phase_major: bool = False):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"unknown level mode {mode!r}; valid: {', '.join(MODES)}")
        self.mode, self.skip_phase_major = mode, skip_phase_major
        w, b = conv.weight, conv.bias
        if mode == "direct":
            self.conv = _from(conv)
        elif mode == "polyphase":
            self.up = _Conv(polyphase_weight(w[:, :c_up]), None, 1, act=False)
            self.skip = _Conv(w[:, c_up:], b, conv.padding[0], act=False)
        else:
            skip_w = space_to_depth_weight(w[:, c_up:])
            weight = torch.cat([polyphase_weight(w[:, :c_up]), phase_major(skip_w) if skip_phase_major else skip_w], 1)
            self.conv = _Conv(weight, b.repeat_interleave(4), 1)

    def forward(self, a: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        if self.mode == "direct":
            return self.conv(torch.cat([F.interpolate(a, scale_factor=2.0, mode="nearest"), skip], dim=1))
        if self.mode == "polyphase":
            y = self.skip(skip).add_(F.pixel_shuffle(self.up(a), 2))
            return F.leaky_relu(y, LEAK, inplace=True)
        skip = skip if self.skip_phase_major else F.pixel_unshuffle(skip, 2)
        return F.pixel_shuffle(self.conv(torch.cat([a, skip], dim=1)), 2)


def default_modes(channels: int) -> tuple[str, ...]:
    """Decoder level modes (10, 20, 40, 80 px) for base width C, the fastest measured here at batch 1 and 8:
    all s2d for C <= 8 (widths 1/16, 1/8), s2d at 10 and 20 px and polyphase at 40 and 80 px for C <= 16, else
    polyphase (full width, batch 8, one thread: 384 ms polyphase vs 508 s2d vs 542 direct)."""
    if channels <= 8:
        return ("s2d",) * 4
    return ("s2d", "s2d", "polyphase", "polyphase") if channels <= 16 else ("polyphase",) * 4


class RCNInference(nn.Module):
    """Eval-only RCN with the same outputs as `rcn.eval()`; forward(x (B, 3, S, S)) -> [(B, K, S, S)].

    modes: per decoder level (10, 20, 40, 80 px at S = 80), one of "direct", "polyphase", "s2d" (module docstring).
    When the last level is "s2d", encoder stage 1 runs space-to-depth too, as one stride-2 4x4 conv whose 4C output
    channels are the 4 phases of its full-resolution output (what that level consumes, no pixel_unshuffle), and its
    2x2 max-pool is a max over the 4 phase blocks.
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
        self.s2d_stem = modes[3] == "s2d"
        first = rcn.encoder[0][0]
        self.encoder = nn.ModuleList(
            [_Conv(strided_stem_weight(first.weight), first.bias.repeat(4), 1, stride=2) if self.s2d_stem
             else _from(first)] + [_from(stage[0]) for stage in rcn.encoder[1:]])
        self.bottom = nn.Sequential(*(_from(m) for m in rcn.bottom if isinstance(m, nn.Conv2d)))
        self.fuse = nn.ModuleList(_Fuse(f[0], c, mode, skip_phase_major=self.s2d_stem and i == 3)
                                  for i, (f, mode) in enumerate(zip(rcn.fuse, modes)))
        self.reduce = nn.ModuleList(_from(r[0]) for r in rcn.reduce)
        # the linear head is rewritten like the other convs; an "mlp" head (lab/models/heads.py) runs as it is
        self.head = _from(rcn.head, act=False, fused=False) if isinstance(rcn.head, nn.Conv2d) \
            else copy.deepcopy(rcn.head).eval()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        skips = []
        for i, conv in enumerate(self.encoder):
            if i == 0 and self.s2d_stem:  # (B, 4C, S/2, S/2), channel phase*C + c; pool = max over the phases
                x = conv(x)
                skips.append(x)
                x = x.unflatten(1, (4, -1)).amax(1)
                continue
            x = conv(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottom(x)
        for i, skip in enumerate(reversed(skips)):
            x = self.fuse[i](x, skip)
            x = self.reduce[i](x) if i < 3 else self.head(x.contiguous())  # NCHW heatmaps out
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


def optimize_for_inference(model: nn.Module, batch_size: int = 1, compile: bool | str = False,
                           threads: int | None = None, modes: Sequence[str] | None = None,
                           malloc: bool = True) -> Callable[[torch.Tensor], list[torch.Tensor]]:
    """A fast eval-only callable `f(x (B, 3, S, S)) -> list[tensor]` equal to `model.eval()(x)` up to float rounding.

    model: any lab model (RCN gets the exact rewrite, others a channels_last eval copy); `model` is not modified.
    batch_size: the batch the compiled graph is specialised and warmed up for (other batch sizes run eager).
    compile: False (default), True, or "auto" (try torch.compile with inductor freezing + C++ wrapper and fall back
        to eager with a warning); compiling takes 5-40 s per model and batch size.
    threads: if given, calls torch.set_num_threads(threads) (process-wide). modes: RCN decoder level modes.
    malloc: call `keep_freed_memory()` (process-wide glibc setting; avoids per-call page faults).
    """
    if threads is not None:
        torch.set_num_threads(int(threads))
    if malloc:
        keep_freed_memory()
    if isinstance(model, RCN):
        net = RCNInference(model, modes).eval()  # lays out its own weights (the head's stay NCHW)
    else:
        net = copy.deepcopy(model).eval().to(memory_format=torch.channels_last)
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
