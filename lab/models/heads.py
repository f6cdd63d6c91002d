"""Heatmap heads: the last layers that turn a backbone's features (B, C, h, w) into K heatmaps (B, K, h, w).

    "linear": conv1x1 (C -> K)                                   (the original Newell / RCN Table 1 head)
    "mlp":    conv1x1 (C -> M), norm, activation, conv1x1 (M -> K), M = max(channels, K)

Why a nonlinear head: a narrow backbone (the hourglass at width 0.25 has C = 32, the RCN at 1/8 has 2C = 16)
must otherwise express 68 maps as linear combinations of C feature maps, a rank-C bottleneck. Measured here on
32 training faces (issue "Models that converge"): the hourglass x0.25 with LaplaceKL could not fit them below
6.6% NME with the linear head and reached 1.3% with a 32 -> 128 -> 68 head (+11 K parameters, ~6% slower per
step). The papers' heads are not a single linear layer on 32 channels either (Newell et al. and STAR apply one
1x1 conv to 256 channels).

Map activation (`act`), applied to the head's K outputs:

    "none":    the maps as the head computes them (softmax losses and heatmap regression read them raw)
    "in+relu": InstanceNorm2d (no affine: each map of each image to zero mean, unit variance over its h*w
               pixels), then ReLU -- the official STAR network's heatmap activation (ZhenglinZhou/STAR,
               lib/backbone/stackedHGNetV1.py, Activation("in+relu")) for losses that read relu(H) / sum relu(H)

Why "in+relu" for the relu-normalised losses (W2, STAR): relu(H) / sum relu(H) gives no gradient to a pixel with
H <= 0, and it is blind to the maps' scale, so nothing stops a whole map from going negative; once it has, the map
is the uniform floor, its gradient is zero, and it never recovers. Measured on 32 faces (issue "Models that
converge"): W2 on the RCN x0.25 (80 x 80 maps) ended at 134 % NME with raw maps, 165 % with the last bias at -1,
146 % at +1; with "in+relu" it falls steadily: 17.0 % after 400 steps, STAR 29.9 %, where LaplaceKL on the same
trunk reaches 6.5 % (`python benchmarks/overfit.py --models rcn:0.25 --losses laplace_kl,w2,star --steps 400`).
After the instance norm every map keeps pixels above its mean, and the norm passes gradient to every pixel. On the
hourglass (16 x 16 maps) it changes little: W2 1.18 % vs 1.09 %, STAR 1.26 % vs 1.25 % on 32 faces; it is not used
for star_awing, whose AWing term regresses a [0, 1] Gaussian that unit-variance maps cannot match (3.12 % with
it, 1.8 % without).

A model config saved before heads existed has no "head" key: `LEGACY_HEAD` ("linear") is what it meant; one
saved before map activations existed has no "head_act" key and meant "none" (the constructors' default).
"""
from __future__ import annotations

from torch import nn

HEADS = ("linear", "mlp")
MAP_ACTIVATIONS = ("none", "in+relu")
LEGACY_HEAD = "linear"  # the head of every model saved before the "head" argument existed


def heatmap_head(cin: int, num_points: int, kind: str = "mlp", channels: int = 128,
                 norm: bool = True, leak: float = 0.0, act: str = "none") -> nn.Module:
    """A head (B, cin, h, w) -> (B, num_points, h, w); see the module docstring.

    kind: "linear" or "mlp". channels: M, the hidden width of "mlp" (at least num_points is used).
    norm: BatchNorm2d after the hidden conv. leak: LeakyReLU slope of the hidden activation (0 = ReLU).
    act: the map activation, one of MAP_ACTIVATIONS.
    """
    if act not in MAP_ACTIVATIONS:
        raise ValueError(f"unknown map activation {act!r}; valid: {', '.join(MAP_ACTIVATIONS)}")
    head = _head(cin, num_points, kind, channels, norm, leak)
    if act == "in+relu":
        return nn.Sequential(head, nn.InstanceNorm2d(num_points, affine=False), nn.ReLU())
    return head


def _head(cin: int, num_points: int, kind: str, channels: int, norm: bool, leak: float) -> nn.Module:
    if kind == "linear":
        return nn.Conv2d(cin, num_points, 1)
    if kind != "mlp":
        raise ValueError(f"unknown head {kind!r}; valid: {', '.join(HEADS)}")
    if int(channels) != channels or channels < 1:
        raise ValueError(f"head_channels must be a positive integer, got {channels!r}")
    hidden = max(int(channels), int(num_points))
    layers: list[nn.Module] = [nn.Conv2d(cin, hidden, 1)]
    if norm:
        layers.append(nn.BatchNorm2d(hidden))
    layers.append(nn.LeakyReLU(leak, inplace=True) if leak else nn.ReLU(inplace=True))
    layers.append(nn.Conv2d(hidden, num_points, 1))
    return nn.Sequential(*layers)
