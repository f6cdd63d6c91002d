"""PatchGAN discriminator of the adversarial branch in Robinson et al., "Laplace Landmark Localization" (Sec. 3.4).

"D was a 4-layered PatchGAN. Before each convolution layer Gaussian noise was added, and then batch-normalization
(all but the top and bottom layers) and Leaky-ReLU with a negative slope of 0.2 (all but the top layer). The original
RGB image was stacked on top of the heatmaps ... D takes in (K + 3) channels."

    input  cat(image (B, 3, h, w), heatmaps (B, K, h, w)) = (B, K+3, h, w)
    layer 1: +noise, conv4x4 stride 2 (K+3 -> C),          LReLU(0.2)
    layer 2: +noise, conv4x4 stride 2 (C -> 2C),   BN,     LReLU(0.2)
    layer 3: +noise, conv4x4 stride 2 (2C -> 4C),  BN,     LReLU(0.2)
    layer 4: +noise, conv4x4 stride 1 (4C -> 1)                          -> patch logits (B, 1, p, p)
    80 px maps (RCN): p = 9; 32 px maps (hourglass at 128): p = 3.

Choices (the paper gives none of these numbers): C = 64 * width, 4x4 kernels with padding 1 and strides 2, 2, 2, 1
as in pix2pix's PatchGAN; noise std `noise_std` (default 0.1) added only in training mode (`model.train()`), never
in eval. When the heatmaps are smaller than the image (stride > 1 models) the image is resized to the heatmap size
with antialiased bilinear interpolation, so the two are stacked pixel for pixel. The heatmaps are used as given:
pass the same normalisation (e.g. softmax probability maps) for real and fake samples. Output: raw logits, for
BCE-with-logits or hinge losses.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from lab.models.rcn import LEAK, scale_channels


class PatchDiscriminator(nn.Module):
    """forward(image (B, 3, H, W), heatmaps (B, K, h, w)) -> logits (B, 1, p, p); noise only in training mode."""

    def __init__(self, num_points: int = 68, width: float = 1.0, noise_std: float = 0.1, channels: int = 64):
        super().__init__()
        if int(num_points) != num_points or num_points < 1:
            raise ValueError(f"discriminator: num_points must be a positive integer, got {num_points!r}")
        if not noise_std >= 0:
            raise ValueError(f"discriminator: noise_std must be >= 0, got {noise_std!r}")
        self.num_points = int(num_points)
        self.noise_std = float(noise_std)
        self.config = dict(name="patchgan", num_points=self.num_points, width=width, noise_std=noise_std,
                           channels=channels)
        c = scale_channels(channels, width)
        widths = [self.num_points + 3, c, 2 * c, 4 * c]
        self.convs = nn.ModuleList(nn.Conv2d(cin, cout, 4, stride=2, padding=1)
                                   for cin, cout in zip(widths, widths[1:]))
        self.convs.append(nn.Conv2d(4 * c, 1, 4, stride=1, padding=1))
        self.norms = nn.ModuleList([nn.Identity(), nn.BatchNorm2d(2 * c), nn.BatchNorm2d(4 * c)])

    def forward(self, image: torch.Tensor, heatmaps: torch.Tensor) -> torch.Tensor:
        if image.dim() != 4 or image.shape[1] != 3:
            raise ValueError(f"discriminator: image must be (B, 3, H, W), got {tuple(image.shape)}")
        if heatmaps.dim() != 4 or heatmaps.shape[1] != self.num_points or heatmaps.shape[0] != image.shape[0]:
            raise ValueError(f"discriminator: heatmaps must be (B={image.shape[0]}, K={self.num_points}, h, w), "
                             f"got {tuple(heatmaps.shape)}")
        if image.shape[-2:] != heatmaps.shape[-2:]:
            image = F.interpolate(image, size=heatmaps.shape[-2:], mode="bilinear", align_corners=False,
                                  antialias=True)
        x = torch.cat([image, heatmaps.to(image.dtype)], dim=1)
        for i, conv in enumerate(self.convs):
            if self.training and self.noise_std > 0:
                x = x + self.noise_std * torch.randn_like(x)
            x = conv(x)
            if i < len(self.norms):
                x = F.leaky_relu(self.norms[i](x), LEAK)
        return x
