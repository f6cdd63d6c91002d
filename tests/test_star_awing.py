"""STAR + Adaptive Wing (the official STAR recipe's two losses, here on the same maps)."""
import pytest
import torch

from lab.losses import LOSSES, build_loss, get_loss_spec
from lab.losses.star import STARLoss
from lab.losses.star_awing import StarAWing
from lab.losses.wing import AdaptiveWing

D = torch.float64


def _inputs(seed=0, b=2, k=4, h=16, w=12):
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(b, k, 2, generator=g, dtype=D) * torch.tensor([w - 1, h - 1], dtype=D)
    maps = torch.rand(b, k, h, w, generator=g, dtype=D)
    visible = torch.rand(b, k, generator=g) > 0.3
    visible[0, 0] = True
    return maps, target, visible


def test_registered_with_the_local_barycenter_and_star_with_the_official_mean():
    assert "star_awing" in LOSSES
    spec = get_loss_spec("star_awing")
    assert spec.input == "heatmap" and spec.decoder == "barycenter" and get_loss_spec("star").decoder == "relu_mean"
    assert spec.defaults["awing_weight"] == 10.0
    assert isinstance(build_loss("star_awing"), StarAWing)


def test_value_is_star_plus_ten_awing_computed_separately():
    maps, target, visible = _inputs()
    total = build_loss("star_awing")(maps, target, visible)
    star = STARLoss()(maps, target, visible)
    awing = AdaptiveWing()(maps, target, visible)
    torch.testing.assert_close(total, star + 10.0 * awing, rtol=1e-14, atol=0)
    assert star > 0 and awing > 0


def test_every_hyper_parameter_reaches_its_part():
    maps, target, visible = _inputs(seed=1)
    kw = {"awing_weight": 3.0, "star_w": 0.5, "star_eps": 2e-5, "star_beta": 0.02, "awing_alpha": 2.2,
          "awing_omega": 12.0, "awing_eps": 0.8, "awing_theta": 0.4, "awing_fg_weight": 5.0,
          "awing_threshold": 0.3, "awing_sigma": 2.0}
    total = build_loss("star_awing", **kw)(maps, target, visible)
    star = STARLoss(w=0.5, eps=2e-5, beta=0.02)(maps, target, visible)
    awing = AdaptiveWing(alpha=2.2, omega=12.0, eps=0.8, theta=0.4, weight=5.0, threshold=0.3, sigma=2.0)(
        maps, target, visible)
    torch.testing.assert_close(total, star + 3.0 * awing, rtol=1e-14, atol=0)
    assert set(kw) == set(get_loss_spec("star_awing").defaults)


def test_gradient_is_finite_and_the_sum_of_the_parts():
    maps, target, visible = _inputs(seed=2)
    m1, m2 = maps.clone().requires_grad_(True), maps.clone().requires_grad_(True)
    build_loss("star_awing")(m1, target, visible).backward()
    (STARLoss()(m2, target, visible) + 10.0 * AdaptiveWing()(m2, target, visible)).backward()
    assert torch.isfinite(m1.grad).all() and m1.grad.abs().sum() > 0
    torch.testing.assert_close(m1.grad, m2.grad, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("fill", [0.0, -1.0])
def test_degenerate_maps_stay_finite(fill):
    maps = torch.full((1, 2, 8, 8), fill, dtype=D, requires_grad=True)
    out = build_loss("star_awing")(maps, torch.full((1, 2, 2), 3.5, dtype=D))
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(maps.grad).all()


def test_parts_and_validation():
    maps, target, visible = _inputs(seed=3)
    loss = StarAWing(awing_weight=0.0)
    star, awing = loss.parts(maps, target, visible)
    torch.testing.assert_close(loss(maps, target, visible), star)
    with pytest.raises(ValueError):
        StarAWing(awing_weight=-1.0)
