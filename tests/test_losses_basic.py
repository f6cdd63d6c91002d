"""Heatmap MSE, coordinate L1 / L2 / smooth-L1 and the visibility-masked mean, on hand-computed cases."""
import math

import pytest
import torch

from lab.heatmaps import encode_gaussian
from lab.losses import build_loss
from lab.losses._reduce import masked_mean
from lab.losses.coord import l1, l2, smooth_l1
from lab.losses.heatmap_mse import heatmap_mse

D = torch.float64


def test_masked_mean_averages_visible_only():
    values = torch.tensor([[1.0, 2.0, 100.0], [3.0, float("nan"), 4.0]], dtype=D)
    visible = torch.tensor([[True, True, False], [True, False, True]])
    assert masked_mean(values, visible).item() == pytest.approx((1 + 2 + 3 + 4) / 4)
    assert masked_mean(values[:, :2].nan_to_num(), None).item() == pytest.approx((1 + 2 + 3 + 0) / 4)


def test_masked_mean_empty_batch_is_zero_with_grad():
    values = torch.rand(2, 3, dtype=D, requires_grad=True)
    out = masked_mean(values, torch.zeros(2, 3, dtype=torch.bool))
    assert out.item() == 0.0 and out.grad_fn is not None
    out.backward()
    assert torch.equal(values.grad, torch.zeros_like(values))


def test_masked_mean_rejects_wrong_visible_shape():
    with pytest.raises(ValueError, match="visible"):
        masked_mean(torch.zeros(2, 3), torch.ones(3, 2, dtype=torch.bool))


def test_heatmap_mse_perfect_prediction_is_zero():
    g = torch.tensor([[[10.3, 7.6], [3.0, 12.2]]], dtype=D)
    maps = encode_gaussian(g, (16, 16), 1.5)
    assert build_loss("heatmap_mse")(maps, g).item() == 0.0


def test_heatmap_mse_shifted_gaussian_closed_form():
    # Sum over the plane of (G(q - a) - G(q - a - d))^2 = 2 pi sigma^2 (1 - exp(-|d|^2 / (4 sigma^2))); on an integer
    # grid the Riemann sum equals the integral up to ~exp(-2 pi^2 sigma^2 / 2) (Poisson summation).
    sigma, size = 1.5, 40
    g = torch.tensor([[[19.3, 20.1]]], dtype=D)
    d = torch.tensor([1.2, -0.5], dtype=D)
    pred_maps = encode_gaussian(g + d, (size, size), sigma)
    expected = 2 * math.pi * sigma**2 * (1 - math.exp(-float(d.square().sum()) / (4 * sigma**2))) / size**2
    got = build_loss("heatmap_mse", sigma=sigma, fg_weight=0.0)(pred_maps, g)  # the plain (unweighted) MSE
    assert got.item() == pytest.approx(expected, rel=1e-7)


def test_heatmap_mse_elementwise_value():
    h = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=D)
    assert heatmap_mse(h, torch.zeros_like(h)).item() == pytest.approx(30 / 4)  # zero target: no foreground, W = 1


def test_heatmap_mse_rejects_bad_shapes():
    with pytest.raises(ValueError, match="target"):
        build_loss("heatmap_mse")(torch.zeros(1, 2, 8, 8), torch.zeros(1, 3, 2))
    with pytest.raises(ValueError, match="heatmaps"):
        build_loss("heatmap_mse")(torch.zeros(2, 8, 8), torch.zeros(2, 2))


def test_coordinate_functions_hand_values():
    x = torch.tensor([-3.0, -0.5, 0.0, 0.25, 2.0], dtype=D)
    assert torch.allclose(l1(x), torch.tensor([3.0, 0.5, 0.0, 0.25, 2.0], dtype=D))
    assert torch.allclose(l2(x), torch.tensor([4.5, 0.125, 0.0, 0.03125, 2.0], dtype=D))
    assert torch.allclose(smooth_l1(x), torch.tensor([2.5, 0.125, 0.0, 0.03125, 1.5], dtype=D))
    assert torch.allclose(smooth_l1(x, beta=0.5), torch.tensor([2.75, 0.25, 0.0, 0.0625, 1.75], dtype=D))


@pytest.mark.parametrize("name, expected", [
    ("l1", (3 + 4 + 1 + 0) / 2),            # per landmark |dx| + |dy|, mean over landmarks
    ("l2", ((9 + 16) / 2 + 1 / 2) / 2),
    ("smooth_l1", ((2.5 + 3.5) + 0.5) / 2),
])
def test_coordinate_losses_sum_axes_and_average_landmarks(name, expected):
    target = torch.zeros(1, 2, 2, dtype=D)
    pred = torch.tensor([[[3.0, -4.0], [1.0, 0.0]]], dtype=D)
    loss = build_loss(name)
    assert loss(pred, target).item() == pytest.approx(expected)
    assert loss(target.clone(), target).item() == 0.0


def test_coordinate_loss_ignores_invisible_landmarks():
    target = torch.zeros(2, 3, 2, dtype=D)
    pred = torch.rand(2, 3, 2, dtype=D)
    visible = torch.tensor([[True, False, True], [False, True, True]])
    moved = pred.clone()
    moved[0, 1] += 50.0
    moved[1, 0] -= 7.0
    for name in ("l1", "l2", "smooth_l1"):
        loss = build_loss(name)
        assert loss(moved, target, visible).item() == pytest.approx(loss(pred, target, visible).item())
