"""Foreground-weighted heatmap MSE (Adaptive Wing's weight map on the L2 baseline) and the all-zero map's loss."""
import math

import pytest
import torch

from lab.heatmaps import encode_gaussian
from lab.losses import build_loss, get_loss_spec
from lab.losses.heatmap_mse import HeatmapMSE, heatmap_mse, zero_map_loss

D = torch.float64


def test_weighted_mse_by_hand_on_a_1x5_map():
    # G = [0, 0, 0.5, 0.1, 0]: its 3x3 dilation (one row, so a 3-wide running max) is [0, 0.5, 0.5, 0.5, 0.1];
    # >= 0.2 at pixels 1..3, so W = [1, 11, 11, 11, 1].
    g = torch.tensor([[[[0.0, 0.0, 0.5, 0.1, 0.0]]]], dtype=D)
    h = torch.tensor([[[[0.1, 0.2, 0.3, 0.2, 0.4]]]], dtype=D)
    # (H - G)^2 = [0.01, 0.04, 0.04, 0.01, 0.16]; weighted [0.01, 0.44, 0.44, 0.11, 0.16], sum 1.16, / 5 pixels
    assert heatmap_mse(h, g).item() == pytest.approx(0.232, rel=1e-12)
    assert heatmap_mse(h, g, fg_weight=0.0).item() == pytest.approx(0.26 / 5, rel=1e-12)
    assert heatmap_mse(h, g, fg_weight=1.0).item() == pytest.approx((0.01 + 0.08 + 0.08 + 0.02 + 0.16) / 5)
    # a threshold above every dilated value: no foreground
    assert heatmap_mse(h, g, threshold=0.6).item() == pytest.approx(0.26 / 5, rel=1e-12)


def test_weighted_mse_by_hand_on_a_3x3_map():
    # G has a single 0.5 at the top-left corner: its 3x3 dilation reaches the 2x2 block (rows 0-1, cols 0-1) only.
    g = torch.zeros(3, 3, dtype=D)
    g[0, 0] = 0.5
    h = torch.full((3, 3), 0.1, dtype=D)
    # (H - G)^2: 0.16 at (0, 0), 0.01 elsewhere; W = 11 on the 2x2 block: (11 * 0.16 + 3 * 11 * 0.01 + 5 * 0.01) / 9
    assert heatmap_mse(h, g).item() == pytest.approx((1.76 + 0.33 + 0.05) / 9, rel=1e-12)


def test_fg_weight_zero_is_the_plain_mse_exactly():
    g = torch.Generator().manual_seed(0)
    points = torch.rand(2, 3, 2, generator=g, dtype=D) * 15
    maps = torch.rand(2, 3, 16, 16, generator=g, dtype=D)
    target_maps = encode_gaussian(points, (16, 16), 1.5)
    plain = (maps - target_maps).square().mean(dim=(-2, -1))
    assert torch.equal(heatmap_mse(maps, target_maps, fg_weight=0.0), plain)
    assert torch.equal(build_loss("heatmap_mse", fg_weight=0.0)(maps, points), plain.mean())
    assert build_loss("heatmap_mse")(maps, points) > plain.mean()  # the default weights the foreground


def test_zero_map_loss_is_pi_sigma2_over_hw_unweighted():
    for size, sigma in [(64, 1.5), (32, 1.0), ((48, 40), 2.0)]:
        h, w = (size, size) if isinstance(size, int) else size
        # the integral of exp(-|q|^2 / sigma^2) is pi sigma^2 (grid sum within ~exp(-pi^2 sigma^2) of it)
        assert zero_map_loss(size, sigma, fg_weight=0.0) == pytest.approx(math.pi * sigma**2 / (h * w), rel=0.02)
    assert zero_map_loss(64, 1.5, fg_weight=0.0) == pytest.approx(1.7257e-3, rel=1e-4)


@pytest.mark.parametrize("fg_weight", [0.0, 10.0])
def test_zero_map_loss_equals_the_loss_on_zeros(fg_weight):
    h, w, sigma = 24, 20, 1.5
    centre = torch.tensor([[[(w - 1) / 2, (h - 1) / 2]]], dtype=D)
    got = HeatmapMSE(sigma=sigma, fg_weight=fg_weight)(torch.zeros(1, 1, h, w, dtype=D), centre).item()
    assert zero_map_loss((h, w), sigma, fg_weight=fg_weight) == pytest.approx(got, rel=1e-12)


def test_weighting_makes_the_empty_map_about_eleven_times_as_costly():
    # nearly all of G^2's mass lies where dilate(G) >= 0.2, so the weighted empty-map loss is ~ (1 + 10) times
    ratio = zero_map_loss(64, 1.5) / zero_map_loss(64, 1.5, fg_weight=0.0)
    assert 10.9 < ratio < 11.0


def test_perfect_map_still_scores_zero_and_gradient_points_to_the_target():
    g = torch.tensor([[[7.3, 8.6]]], dtype=D)
    perfect = encode_gaussian(g, (16, 16), 1.5)
    assert build_loss("heatmap_mse")(perfect, g).item() == 0.0
    zeros = torch.zeros(1, 1, 16, 16, dtype=D, requires_grad=True)
    build_loss("heatmap_mse")(zeros, g).backward()
    # descent direction -grad = 2 W G / (h w) >= 0: increases the map on the foreground, 11x on the weighted pixels
    expected = -2 * (1 + 10 * (torch.nn.functional.max_pool2d(perfect, 3, 1, 1) >= 0.2)) * perfect / 256
    torch.testing.assert_close(zeros.grad, expected, rtol=1e-12, atol=0)


def test_spec_defaults_and_validation():
    spec = get_loss_spec("heatmap_mse")
    assert spec.defaults == {"sigma": 1.5, "fg_weight": 10.0, "threshold": 0.2}
    assert "fg_weight" in spec.equation and "dilate3x3" in spec.equation
    with pytest.raises(ValueError, match="fg_weight"):
        HeatmapMSE(fg_weight=-1.0)
