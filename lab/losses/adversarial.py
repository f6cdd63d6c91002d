"""Adversarial objectives of the unlabeled branch (Robinson et al., ICCV 2019, Sec. 3.2-3.3, Eqs. 4-7).

The discriminator D sees [image, K heatmaps] (K + 3 channels). Real samples are normalised heatmaps rendered from
the labels (the paper's omega(s)); fake samples are the generator's normalised heatmaps on unlabeled faces. The
paper writes the standard GAN min-max objective min_G max_D E[log D(real)] + E[log(1 - D(fake))] (Eq. 4-5),
solved with alternating updates, and adds lambda * L_adv to the supervised loss (Eqs. 6-7). Here D is trained
with binary cross-entropy on logits (= the max over D) and G with the non-saturating form -log D(fake)
(Goodfellow et al. 2014), which has the same fixed point and usable gradients when D wins early. The functions
are not in LOSSES: the trainer's adversarial mode calls them directly.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from lab.heatmaps import encode_gaussian, encode_laplace
from lab.moments import normalize

Tensor = torch.Tensor

HEATMAP_KINDS = ("laplace", "gaussian")


def discriminator_loss(d_real_logits: Tensor, d_fake_logits: Tensor) -> Tensor:
    """-E[log D(real)] - E[log(1 - D(fake))], D = sigmoid(logits) (Robinson et al. 2019, Eqs. 4-5, for D).

    d_real_logits, d_fake_logits: any shape (e.g. PatchGAN maps (B, 1, h', w')); each term is a mean over its
    elements. Returns a scalar: 2 ln 2 at logits 0, -> 0 when D separates perfectly. Detach the fake maps first.
    """
    real = F.binary_cross_entropy_with_logits(d_real_logits, torch.ones_like(d_real_logits))
    fake = F.binary_cross_entropy_with_logits(d_fake_logits, torch.zeros_like(d_fake_logits))
    return real + fake


def generator_adversarial_loss(d_fake_logits: Tensor) -> Tensor:
    """Non-saturating generator loss -E[log D(fake)] (Goodfellow et al. 2014): L_adv for G in Eqs. 6-7.

    d_fake_logits: any shape. Returns a scalar (ln 2 at logits 0).
    """
    return F.binary_cross_entropy_with_logits(d_fake_logits, torch.ones_like(d_fake_logits))


def real_heatmaps(points: Tensor, size: tuple[int, int], scale: float = 1.0, kind: str = "laplace") -> Tensor:
    """The paper's omega(s): normalised maps rendered from labels, each summing to 1 (Robinson et al., Sec. 3.2).

    points: (B, K, 2) heatmap px. size: (h, w). scale: Laplace scale b or Gaussian sigma (heatmap px); the default
    matches LaplaceKL's target b* = 1. kind: "laplace" | "gaussian". Returns (B, K, h, w). For a point away from
    the border the mean of a Gaussian map is the label to < 1e-9 px; a sampled Laplace map's mean is the label at
    integer and half-integer positions and within ~0.02 px at other sub-pixel offsets (b = 1).
    """
    if kind not in HEATMAP_KINDS:
        raise ValueError(f"real_heatmaps: kind must be one of {HEATMAP_KINDS}, got {kind!r}")
    if scale <= 0:
        raise ValueError(f"real_heatmaps: scale must be > 0 heatmap pixels, got {scale}")
    encode = encode_laplace if kind == "laplace" else encode_gaussian
    return normalize(encode(points, size, scale), "sum")


def fake_heatmaps(heatmaps: Tensor, temperature: float = 1.0) -> Tensor:
    """The generator's normalised maps softmax(H / T) per landmark, as the LaplaceKL loss sees them.

    heatmaps: (B, K, h, w) raw network output. Returns (B, K, h, w), each map summing to 1.
    """
    return normalize(heatmaps, "softmax", temperature)
