"""Direct coordinate regression CNN, after the "CNN-6" of Feng et al., "Wing Loss" (CVPR 2018), Sec. 5.

    input (B, 3, S, S), S = 64 by default (the Wing paper's CNN-6 input)
    5 x [conv3x3 -> C_i, BN, ReLU, maxpool 2]    C_i = (32, 64, 128, 256, 512) * width
    adaptive average pool to 2x2, flatten, FC (4 C_5 -> 1024 * width), ReLU, FC (-> 2K)
    output [(B, K, 2)]: (x, y) in heatmap pixels of an equivalent `stride`: x_h = (x + 0.5) / stride - 0.5

The coordinates use the lab's one convention, so every coordinate loss in `lab.losses` (input "coords") applies.
With the default stride 1 they are crop pixels of the 64 px input, the unit the Wing paper's w=10, eps=2 were set in.
The last layer predicts an offset from the map centre in units of half the map size and starts near zero, so the
untrained model outputs the centre of the crop. The Wing paper's CNN-6 flattens the final 2x2 map and uses PReLU; the
adaptive pool (so any input size works) and ReLU are our choices.
"""
from __future__ import annotations

import torch
from torch import nn

from lab.models.rcn import check_input_size, scale_channels
from lab.models.registry import register_model

BASE_CHANNELS = (32, 64, 128, 256, 512)


@register_model("regressor")
class CoordRegressor(nn.Module):
    """forward(x (B, 3, S, S)) -> [coords (B, K, 2)] in heatmap pixels of `stride` (a map of S / stride px)."""

    output = "coords"

    def __init__(self, num_points: int = 68, width: float = 1.0, input_size: int = 64, stride: int = 1,
                 hidden: int = 1024):
        super().__init__()
        if int(num_points) != num_points or num_points < 1:
            raise ValueError(f"regressor: num_points must be a positive integer, got {num_points!r}")
        self.input_size = check_input_size("regressor", input_size, 32)
        if int(stride) != stride or stride < 1 or self.input_size % stride:
            raise ValueError(f"regressor: stride must be a positive integer dividing input_size, got {stride!r}")
        self.stride = int(stride)
        self.num_points = int(num_points)
        self.config = dict(name="regressor", num_points=self.num_points, width=width, input_size=self.input_size,
                           stride=self.stride, hidden=hidden)
        layers: list[nn.Module] = []
        cin = 3
        for base in BASE_CHANNELS:
            cout = scale_channels(base, width)
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
            cin = cout
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(2), nn.Flatten())
        h = scale_channels(hidden, width)
        self.fc = nn.Sequential(nn.Linear(4 * cin, h), nn.ReLU(inplace=True), nn.Linear(h, 2 * self.num_points))
        nn.init.normal_(self.fc[-1].weight, std=1e-3)
        nn.init.zeros_(self.fc[-1].bias)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        size = self.input_size / self.stride  # heatmap-pixel extent: centre (size - 1) / 2, half-width size / 2
        offsets = self.fc(self.features(x)).view(x.shape[0], self.num_points, 2)
        return [(size - 1) / 2 + offsets * (size / 2)]
