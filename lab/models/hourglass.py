"""Stacked hourglass network (Newell, Yang & Deng, ECCV 2016): the backbone of the STAR and 2D-Wasserstein papers.

    input (B, 3, S, S), S = 128 or 256 (any multiple of 4 * 2^depth)
    stem:   conv7x7 stride 2 (3 -> C/4), BN, ReLU, Residual(C/4 -> C/2), maxpool 2, Residual(C/2 -> C/2),
            Residual(C/2 -> C)                                           -> (B, C, S/4, S/4)
    stack s = 1..stacks:
            Hourglass(depth)  -> Residual x blocks -> conv1x1 + BN + ReLU -> feature f_s
            head (lab/models/heads.py; default "mlp": conv1x1 C -> 128, BN, ReLU, conv1x1 -> K; "linear":
            conv1x1 C -> K as in Newell et al.) -> heatmaps H_s (B, K, S/4, S/4)   (intermediate supervision)
            if s < stacks: x = x + conv1x1(f_s) + conv1x1(H_s)        (re-injection of the prediction)
    output [H_1, ..., H_stacks]; the last is the final prediction. stride = 4 (128 -> 32, 256 -> 64).

Residual = pre-activation bottleneck (BN, ReLU, conv1x1 -> C'/2, BN, ReLU, conv3x3, BN, ReLU, conv1x1 -> C'), with a
1x1 projection on the skip when the channel count changes. Hourglass(n) = Residual branch at this resolution plus
maxpool -> Residual -> Hourglass(n-1) (a Residual at n = 0) -> Residual -> nearest x2 upsample, summed.
Newell et al. use C = 256, 8 stacks at 256 px; STAR uses 4 stacks. The defaults here (C = 128 * width, 2 stacks,
depth 4, 128 px input -> 32 px heatmaps) are a CPU-trainable configuration; `channels=256, stacks=4,
input_size=256` gives the papers' size. C is rounded to a multiple of 4 (the stem uses C/4).
"""
from __future__ import annotations

import torch
from torch import nn

from lab.models.heads import heatmap_head
from lab.models.rcn import check_input_size, scale_channels
from lab.models.registry import register_model


def _bn_relu_conv(cin: int, cout: int, k: int) -> list[nn.Module]:
    return [nn.BatchNorm2d(cin), nn.ReLU(inplace=True), nn.Conv2d(cin, cout, k, padding=k // 2)]


class Residual(nn.Module):
    """Pre-activation bottleneck residual block; (B, cin, h, w) -> (B, cout, h, w)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        mid = max(1, cout // 2)
        self.body = nn.Sequential(*_bn_relu_conv(cin, mid, 1), *_bn_relu_conv(mid, mid, 3),
                                  *_bn_relu_conv(mid, cout, 1))
        self.skip = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.skip(x)


def _residuals(c: int, n: int) -> nn.Sequential:
    return nn.Sequential(*(Residual(c, c) for _ in range(n)))


class Hourglass(nn.Module):
    """One hourglass of `depth` halvings; (B, C, h, w) -> (B, C, h, w), h divisible by 2^depth."""

    def __init__(self, channels: int, depth: int, blocks: int = 1):
        super().__init__()
        self.skip = _residuals(channels, blocks)
        self.down = nn.Sequential(nn.MaxPool2d(2), _residuals(channels, blocks))
        self.inner = Hourglass(channels, depth - 1, blocks) if depth > 1 else _residuals(channels, blocks)
        self.up = nn.Sequential(_residuals(channels, blocks), nn.Upsample(scale_factor=2, mode="nearest"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.up(self.inner(self.down(x)))


@register_model("hourglass")
class StackedHourglass(nn.Module):
    """Stacked hourglass; forward(x (B, 3, S, S)) -> [heatmaps (B, K, S/4, S/4)] * stacks (intermediate supervision).

    num_points: K. width: multiplier on `channels` (C = channels * width, rounded to a multiple of 4).
    stacks: number of hourglasses. depth: halvings inside each hourglass. blocks: residuals per hourglass node.
    input_size: S, a multiple of 4 * 2^depth. head, head_channels: the heatmap head (lab/models/heads.py).
    head_act: the map activation ("none" or "in+relu", lab/models/heads.py; the runner picks it from the loss).
    """

    output = "heatmap"
    stride = 4

    def __init__(self, num_points: int = 68, width: float = 1.0, stacks: int = 2, channels: int = 128,
                 depth: int = 4, blocks: int = 1, input_size: int = 128, head: str = "mlp",
                 head_channels: int = 128, head_act: str = "none"):
        super().__init__()
        for arg, value in (("num_points", num_points), ("stacks", stacks), ("depth", depth), ("blocks", blocks)):
            if int(value) != value or value < 1:
                raise ValueError(f"hourglass: {arg} must be a positive integer, got {value!r}")
        self.input_size = check_input_size("hourglass", input_size, 4 * 2 ** depth)
        self.num_points = int(num_points)
        self.config = dict(name="hourglass", num_points=self.num_points, width=width, stacks=stacks,
                           channels=channels, depth=depth, blocks=blocks, input_size=self.input_size,
                           head=head, head_channels=head_channels, head_act=head_act)
        c = scale_channels(channels, width, multiple=4)
        self.channels = c
        self.stem = nn.Sequential(
            nn.Conv2d(3, c // 4, 7, stride=2, padding=3), nn.BatchNorm2d(c // 4), nn.ReLU(inplace=True),
            Residual(c // 4, c // 2), nn.MaxPool2d(2), Residual(c // 2, c // 2), Residual(c // 2, c))
        self.hourglasses = nn.ModuleList(Hourglass(c, depth, blocks) for _ in range(stacks))
        self.features = nn.ModuleList(
            nn.Sequential(_residuals(c, blocks), nn.Conv2d(c, c, 1), nn.BatchNorm2d(c), nn.ReLU(inplace=True))
            for _ in range(stacks))
        self.heads = nn.ModuleList(heatmap_head(c, self.num_points, head, head_channels, act=head_act)
                                   for _ in range(stacks))
        self.merge_features = nn.ModuleList(nn.Conv2d(c, c, 1) for _ in range(stacks - 1))
        self.merge_heatmaps = nn.ModuleList(nn.Conv2d(self.num_points, c, 1) for _ in range(stacks - 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        outputs = []
        for s, (hourglass, features, head) in enumerate(zip(self.hourglasses, self.features, self.heads)):
            f = features(hourglass(x))
            h = head(f)
            outputs.append(h)
            if s < len(self.merge_features):
                x = x + self.merge_features[s](f) + self.merge_heatmaps[s](h)
        return outputs
