"""Wing (Feng et al. 2018) and Adaptive Wing (Wang et al. 2019) on hand-computed values."""
import math

import pytest
import torch

from lab.heatmaps import encode_gaussian
from lab.losses import build_loss
from lab.losses.wing import Wing, awing, awing_weight_map, wing, wing_scaled_for

D = torch.float64


def grad_at(fn, x: float) -> float:
    t = torch.tensor(x, dtype=D, requires_grad=True)
    fn(t).backward()
    return t.grad.item()


def test_wing_hand_values():
    x = torch.tensor([3.0, -3.0, 12.0, 0.0], dtype=D)
    c = 10 - 10 * math.log(6.0)  # w - w ln(1 + w/eps) = -7.917594692280550
    expected = [10 * math.log(2.5), 10 * math.log(2.5), 12 - c, 0.0]
    assert wing(x, 10.0, 2.0).tolist() == pytest.approx(expected, rel=1e-12)
    assert expected[0] == pytest.approx(9.162907318741551)
    assert expected[2] == pytest.approx(19.917594692280550)


def test_wing_continuous_at_w_with_known_slopes():
    w, eps = 10.0, 2.0
    below = wing(torch.tensor(w * (1 - 1e-12), dtype=D), w, eps).item()
    at = wing(torch.tensor(w, dtype=D), w, eps).item()
    assert below == pytest.approx(at, abs=1e-9) and at == pytest.approx(w * math.log(1 + w / eps))
    assert grad_at(lambda t: wing(t, w, eps), w - 1e-9) == pytest.approx(w / (w + eps))  # 10/12 inside
    assert grad_at(lambda t: wing(t, w, eps), w + 1e-9) == pytest.approx(1.0)  # L1 slope outside
    assert grad_at(lambda t: wing(t, w, eps), -1.0) == pytest.approx(-w / (eps + 1.0))
    assert grad_at(lambda t: wing(t, w, eps), 0.0) == 0.0


def test_wing_stride_converts_input_pixels_to_heatmap_pixels():
    # An error of 0.75 heatmap px at stride 4 is 3 input px: the loss is wing_{10,2}(3) / 4 per coordinate.
    target = torch.zeros(1, 1, 2, dtype=D)
    pred = torch.tensor([[[0.75, 0.0]]], dtype=D)
    got = Wing(w=10, eps=2, stride=4)(pred, target)
    assert got.item() == pytest.approx(10 * math.log(2.5) / 4)
    default = build_loss("wing")
    assert (default.w, default.eps, default.stride) == (10.0, 2.0, 1.0)
    assert default(pred * 4, target).item() == pytest.approx(10 * math.log(2.5))


def test_wing_scaled_for_input_size():
    assert wing_scaled_for(64) == {"w": 10.0, "eps": 2.0, "stride": 1.0}
    assert wing_scaled_for(256, stride=4) == {"w": 40.0, "eps": 8.0, "stride": 4.0}
    with pytest.raises(ValueError):
        wing_scaled_for(0)


def test_wing_rejects_bad_constants():
    with pytest.raises(ValueError, match="wing"):
        Wing(w=0.0)
    with pytest.raises(ValueError, match="wing"):
        build_loss("wing", stride=-1)


def test_wing_ignores_invisible_landmarks():
    target = torch.zeros(1, 3, 2, dtype=D)
    pred = torch.tensor([[[1.0, 2.0], [30.0, 0.0], [0.0, -4.0]]], dtype=D)
    visible = torch.tensor([[True, False, True]])
    loss = build_loss("wing")
    expected = (wing(torch.tensor([1.0, 2.0, 0.0, -4.0], dtype=D)).sum() / 2).item()
    assert loss(pred, target, visible).item() == pytest.approx(expected)
    pred[0, 1, 0] = -500.0
    assert loss(pred, target, visible).item() == pytest.approx(expected)


def test_awing_hand_values_and_continuity():
    y = torch.tensor([0.0, 0.0, 1.0, 0.3], dtype=D)
    pred = torch.tensor([0.25, 0.9, 1.0, 0.3 + 0.5], dtype=D)
    got = awing(pred, y)
    a0 = 14 * 2.1 * 0.5 ** 1.1 / (1 + 0.5 ** 2.1)  # A at y = 0, theta/eps = 0.5
    c0 = 0.5 * a0 - 14 * math.log1p(0.5 ** 2.1)
    assert got[0].item() == pytest.approx(14 * math.log1p(0.25 ** 2.1))
    assert got[1].item() == pytest.approx(a0 * 0.9 - c0)
    assert got[2].item() == 0.0
    # |d| = theta sits on the linear branch; it equals the log branch's limit (continuity, p = alpha - y = 1.8).
    assert got[3].item() == pytest.approx(14 * math.log1p(0.5 ** 1.8), rel=1e-9)


def test_awing_slope_is_continuous_at_theta():
    y = torch.tensor(0.4, dtype=D)
    left = grad_at(lambda t: awing(t, y), 0.4 + 0.5 - 1e-9)
    right = grad_at(lambda t: awing(t, y), 0.4 + 0.5 + 1e-9)
    assert left == pytest.approx(right, rel=1e-6)
    p = 2.1 - 0.4
    assert right == pytest.approx(14 * p * 0.5 ** (p - 1) / (1 + 0.5 ** p))


def test_awing_weight_map_on_hand_built_target():
    g = torch.zeros(1, 1, 5, 6, dtype=D)
    g[0, 0, 1, 1] = 1.0
    g[0, 0, 3, 4] = 0.2   # exactly at the threshold: counts
    g[0, 0, 4, 0] = 0.19  # below: does not count
    w = awing_weight_map(g)
    expected = torch.ones(5, 6, dtype=D)
    expected[0:3, 0:3] = 11.0
    expected[2:5, 3:6] = 11.0
    assert torch.equal(w[0, 0], expected)


def test_awing_loss_perfect_prediction_is_zero_and_weights_apply():
    g = torch.tensor([[[5.2, 6.7]]], dtype=D)
    target_maps = encode_gaussian(g, (12, 12), 1.5)
    loss = build_loss("awing")
    assert loss(target_maps, g).item() == 0.0
    # Raise one far background pixel (weight 1) and one foreground pixel (weight 11) by the same amount.
    bump = 0.1
    far, near = target_maps.clone(), target_maps.clone()
    far[0, 0, 0, 11] += bump
    near[0, 0, 7, 5] += bump
    base_far = awing(far[0, 0, 0, 11], target_maps[0, 0, 0, 11]).item()
    base_near = awing(near[0, 0, 7, 5], target_maps[0, 0, 7, 5]).item()
    assert loss(far, g).item() == pytest.approx(base_far / 144)
    assert loss(near, g).item() == pytest.approx(11 * base_near / 144)
