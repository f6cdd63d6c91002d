"""RCN: the Recombinator network used as generator in Robinson et al., "Laplace Landmark Localization" (ICCV 2019).

Follows the paper's Table 1 and Sec. 3.4 (a 4-branch RCN after Honari et al., CVPR 2016). With C = 64 * width:

    input (B, 3, 80, 80)
    encoder, 4 stages:  conv3x3 (-> C), LReLU(0.2), [dropout], -> skip_s, maxpool 2x2    80 -> 40 -> 20 -> 10 -> 5
    bottom:             [bottom_convs x (conv3x3 C -> C, LReLU, dropout)], conv1x1 (C -> C), LReLU, dropout,
                        nearest-upsample x2                                               5 -> 10
    decoder, 4 levels at 10, 20, 40, 80 px:
        concat(upsampled C, skip_s C) = 2C -> conv5x5 (2C -> 2C), LReLU, [dropout]
        levels 10, 20, 40: conv1x1 (2C -> C), LReLU, dropout, nearest-upsample x2
        level 80:          head: "linear" conv1x1 (2C -> K) as in Table 1, or (default) "mlp" conv1x1 (2C -> 128),
                           LReLU, conv1x1 (128 -> K) (lab/models/heads.py); no activation on the maps
    output [(B, K, 80, 80)]  (stride 1: one heatmap pixel per input pixel)

Choices where the text is ambiguous (documented here, tested in tests/test_models.py):
- Table 1's tensor-size column is shifted for the middle 5x5 rows (it lists 20x20x128 for the 5x5 conv that runs on
  the 10x10x128 concat); the row *order* (1x1 64 + UP, then 5x5 128, four times) and the UP rows' sizes are
  consistent, so the 5x5 convs run at 10, 20, 40 and 80 px and output 128 (= 2C) channels, and the 1x1 convs output
  64 (= C) channels that are upsampled and concatenated with the 64-channel skip ("64 from below + 64 skipped").
- The skip of each encoder stage is its activation (after dropout) *before* the max-pool, at 80, 40, 20, 10 px.
- Activations: LeakyReLU(0.2) after every conv but the head (the text: "on all but the last convolution layer";
  Table 1 lists LReLU on the 68-channel conv too, which we read as a typo). Dropout after every activation but the
  first (encoder stage 1) and the last (the 5x5 conv at 80 px), as the text says; Table 1 differs slightly.
  Dropout rate is not given: `dropout=0.2` by default, plain element-wise `nn.Dropout`.
- Upsampling is nearest-neighbour x2 (RCN's up-sampling; no learned deconvolution appears in Table 1).
- Width multiplier: C = max(1, round(64 * width)) and the 5x5 convs use 2C, so concat widths stay consistent; the
  head always has K outputs (K is not scaled). Powers of two (1 .. 1/16) give exact channel counts 64 .. 4.

Size versus the paper (Table 3 "Storage (MB)", K = 68; fp32 MB = 4 * params / 1e6; `python benchmarks/inference.py
--sizes` prints this table with the torch.save file sizes too):

    width   C   params (Table 1)  fp32 MB   params (bottom_convs=2)  fp32 MB   paper MB
    1/16    4          7,728       0.031              8,024          0.032     0.076
    1/8     8         29,276       0.117             30,444          0.122     0.162
    1/4    16        114,036       0.456            118,676          0.475     0.507
    1/2    32        450,212       1.801            468,708          1.875     1.919
    1      64      1,789,188       7.157          1,863,044          7.452     7.496

Table 1 as printed is 4.5 % smaller than the paper at full width, and the gap (0.339, 0.118, 0.051, 0.045, 0.045 MB)
is a constant ~0.044 MB plus ~0.295 MB * width^2, i.e. 73.7 K * width^2 weights = exactly 18 C^2: two more 3x3 C -> C
convs. With `bottom_convs=2` (two 3x3 convs on the coarsest, 5x5 px branch before the bottom 1x1; where they sat in
the authors' model is a guess) the gap is a flat 0.03-0.045 MB at every width, which looks like a per-file storage
overhead (our own torch.save adds ~10 KB). So the paper's model most likely had those two convs (or another 18 C^2
weights), but Table 1 does not show them: the default stays Table 1 as printed (`bottom_convs=0`); pass
`bottom_convs=2` for the storage-matching variant (it adds < 0.1 % FLOPs). The paper's text also quotes contradicting
parameter counts ("0.040M", "0.174M (0.076 MB)"), so only the MB row is compared.
"""
from __future__ import annotations

import torch
from torch import nn

from lab.models.heads import heatmap_head
from lab.models.registry import register_model

LEAK = 0.2


def scale_channels(base: int, width: float, multiple: int = 1) -> int:
    """Channel count `base * width` rounded to the nearest multiple of `multiple` (at least `multiple`)."""
    if not (isinstance(width, (int, float)) and width > 0):
        raise ValueError(f"width must be a positive number (e.g. 1, 0.5, 0.0625), got {width!r}")
    return max(multiple, multiple * round(base * width / multiple))


def check_input_size(name: str, input_size: int, divisor: int) -> int:
    """`input_size` as int, or ValueError naming the model when it is not a positive multiple of `divisor`."""
    if int(input_size) != input_size or input_size <= 0 or input_size % divisor:
        raise ValueError(f"{name}: input_size must be a positive multiple of {divisor}, got {input_size!r}")
    return int(input_size)


def _act(dropout: float | None) -> list[nn.Module]:
    """LeakyReLU(0.2), followed by dropout when `dropout` is not None."""
    layers: list[nn.Module] = [nn.LeakyReLU(LEAK, inplace=True)]
    if dropout is not None:
        layers.append(nn.Dropout(dropout))
    return layers


@register_model("rcn")
class RCN(nn.Module):
    """Recombinator network; forward(x (B, 3, S, S)) -> [heatmaps (B, K, S, S)], S = input_size (80 in the paper).

    num_points: K output heatmaps. width: channel multiplier (1, 1/2, 1/4, 1/8, 1/16 in the paper).
    dropout: rate after every activation but the first and the last. channels: base width C at width 1 (64).
    bottom_convs: extra 3x3 (C -> C) conv + LReLU + dropout layers at 5x5 px before the bottom 1x1 (0 = Table 1
    as printed; 2 matches the paper's storage row, see the module docstring).
    head, head_channels: the heatmap head (lab/models/heads.py); "linear" is Table 1's. head_act: the map activation
    ("none" or "in+relu", lab/models/heads.py; the runner picks it from the loss, LossSpec.map_activation).
    The skip tensors and the decoder are as in the module docstring; raw outputs have no activation.
    """

    output = "heatmap"
    stride = 1

    def __init__(self, num_points: int = 68, width: float = 1.0, dropout: float = 0.2, input_size: int = 80,
                 channels: int = 64, bottom_convs: int = 0, head: str = "mlp", head_channels: int = 128,
                 head_act: str = "none"):
        super().__init__()
        if int(num_points) != num_points or num_points < 1:
            raise ValueError(f"rcn: num_points must be a positive integer, got {num_points!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"rcn: dropout must be in [0, 1), got {dropout!r}")
        self.input_size = check_input_size("rcn", input_size, 16)
        self.num_points = int(num_points)
        self.config = dict(name="rcn", num_points=self.num_points, width=width, dropout=dropout,
                           input_size=self.input_size, channels=channels, bottom_convs=bottom_convs,
                           head=head, head_channels=head_channels, head_act=head_act)
        c = scale_channels(channels, width)
        self.channels = c
        self.encoder = nn.ModuleList(
            nn.Sequential(nn.Conv2d(3 if i == 0 else c, c, 3, padding=1), *_act(None if i == 0 else dropout))
            for i in range(4))
        self.pool = nn.MaxPool2d(2)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        extra = [m for _ in range(bottom_convs) for m in (nn.Conv2d(c, c, 3, padding=1), *_act(dropout))]
        self.bottom = nn.Sequential(*extra, nn.Conv2d(c, c, 1), *_act(dropout))
        # decoder level i (10, 20, 40, 80 px): 5x5 on the 2C concat; levels 0-2 then reduce to C with a 1x1.
        self.fuse = nn.ModuleList(
            nn.Sequential(nn.Conv2d(2 * c, 2 * c, 5, padding=2), *_act(dropout if i < 3 else None))
            for i in range(4))
        self.reduce = nn.ModuleList(nn.Sequential(nn.Conv2d(2 * c, c, 1), *_act(dropout)) for _ in range(3))
        self.head = heatmap_head(2 * c, self.num_points, head, head_channels, norm=False, leak=LEAK,
                                 act=head_act)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        skips = []
        for stage in self.encoder:
            x = stage(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottom(x)
        for i, skip in enumerate(reversed(skips)):
            x = self.fuse[i](torch.cat([self.up(x), skip], dim=1))
            x = self.reduce[i](x) if i < 3 else self.head(x)
        return [x]
