"""Adversarial objectives and the real / fake heatmaps of the Laplace paper's unlabeled branch."""
import math

import pytest
import torch

from lab.moments import expectation, moments
from lab.losses import LOSSES
from lab.losses.adversarial import (discriminator_loss, fake_heatmaps, generator_adversarial_loss,
                                    real_heatmaps)

D = torch.float64


def test_discriminator_loss_values():
    zeros = torch.zeros(4, 1, 5, 5, dtype=D)
    assert discriminator_loss(zeros, zeros).item() == pytest.approx(2 * math.log(2))
    separated = discriminator_loss(torch.full_like(zeros, 40.0), torch.full_like(zeros, -40.0))
    assert 0.0 <= separated.item() < 1e-15
    fooled = discriminator_loss(torch.full_like(zeros, -3.0), torch.full_like(zeros, 3.0))
    assert fooled.item() == pytest.approx(2 * math.log1p(math.exp(3.0)))


def test_generator_loss_is_non_saturating():
    assert generator_adversarial_loss(torch.zeros(3, 1, 4, 4)).item() == pytest.approx(math.log(2))
    logits = torch.tensor([-30.0, 0.0, 30.0], dtype=D, requires_grad=True)
    generator_adversarial_loss(logits).backward()
    # -log sigmoid(z): slope -(1 - sigmoid(z)) / n stays ~ -1/3 where D confidently rejects the fakes.
    assert logits.grad[0].item() == pytest.approx(-1 / 3, rel=1e-9)
    assert logits.grad[1].item() == pytest.approx(-1 / 6)
    assert abs(logits.grad[2].item()) < 1e-13


@pytest.mark.parametrize("kind, scale", [("laplace", 1.0), ("gaussian", 1.5), ("laplace", 2.0)])
def test_real_heatmaps_sum_to_one_with_mean_at_label(kind, scale):
    points = torch.tensor([[[50.0, 47.0], [49.5, 48.5], [49.3, 47.8]]], dtype=D)  # >= 40 px from every border
    maps = real_heatmaps(points, (96, 100), scale, kind)
    assert maps.shape == (1, 3, 96, 100)
    assert torch.allclose(maps.sum(dim=(-2, -1)), torch.ones(1, 3, dtype=D), atol=1e-12)
    err = (expectation(maps) - points).abs()
    assert err[0, :2].max().item() < 1e-6  # integer and half-integer positions: exact by symmetry
    # other sub-pixel offsets: exact for the Gaussian, within the sampled Laplace's documented bias
    assert err[0, 2].max().item() < (1e-6 if kind == "gaussian" else 0.02)


def test_real_laplace_heatmap_has_the_target_scale():
    # At an integer position the sampled Laplace map's E|q - mu| per axis is 2 r / (1 - r^2), r = exp(-1 / b)
    # (a geometric series; 0.851 for b = 1, the continuous law's b = 1 less the sampling); tails cut at ~e^-15.
    points = torch.tensor([[[15.0, 16.0]]], dtype=D)
    maps = real_heatmaps(points, (32, 32), 1.0, "laplace")
    _, _, scale = moments(maps)
    r = math.exp(-1.0)
    assert scale[0, 0].tolist() == pytest.approx([2 * r / (1 - r * r)] * 2, rel=1e-5)
    assert maps[0, 0, 16, 15] == maps.max()


def test_real_heatmaps_rejects_unknown_kind():
    with pytest.raises(ValueError, match="kind"):
        real_heatmaps(torch.zeros(1, 1, 2), (8, 8), 1.0, "box")


def test_fake_heatmaps_are_softmax_over_each_map():
    h = torch.randn(2, 3, 6, 7, dtype=D)
    p = fake_heatmaps(h, temperature=0.5)
    assert torch.allclose(p.sum(dim=(-2, -1)), torch.ones(2, 3, dtype=D))
    ref = torch.softmax(h.flatten(-2) / 0.5, dim=-1).view_as(h)
    assert torch.allclose(p, ref)


def test_adversarial_functions_are_not_registered_losses():
    assert not {"adversarial", "discriminator", "generator"} & set(LOSSES)
