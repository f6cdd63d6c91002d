"""LaplaceKL and its Gaussian variant: closed forms vs numerical KL, direction, maps with known moments."""
import math

import numpy as np
import pytest
import torch

from lab.losses import build_loss
from lab.moments import moments, normalize
from lab.losses.laplace_kl import gaussian_kl_per_axis, laplace_kl_per_axis
from lab.moments import softmax_axis_moments

D = torch.float64
PARAMS = [(0.0, 1.0, 0.0, 1.0), (0.0, 1.0, 0.0, 2.0), (0.3, 0.5, -1.2, 1.0), (2.0, 2.5, 0.0, 0.7),
          (-1.0, 0.8, 1.5, 3.0), (0.0, 3.0, 0.4, 1.0)]


def numeric_kl(logp, logq, m1: float, m2: float) -> float:
    """integral p ln(p / q) on a fine grid with nodes on both kinks (trapezoid, step 1e-3, range +-80)."""
    x = np.union1d(np.arange(-80.0, 80.0, 1e-3), [m1, m2])
    lp, lq = logp(x), logq(x)
    return float(np.trapezoid(np.exp(lp) * (lp - lq), x))


def laplace_logpdf(m: float, b: float):
    return lambda x: -np.abs(x - m) / b - math.log(2 * b)


def gauss_logpdf(m: float, v: float):
    return lambda x: -0.5 * (x - m) ** 2 / v - 0.5 * math.log(2 * math.pi * v)


def closed(fn, *args) -> float:
    return fn(*(torch.tensor(a, dtype=D) for a in args)).item()


@pytest.mark.parametrize("m1, b1, m2, b2", PARAMS)
def test_laplace_kl_closed_form_matches_numerical(m1, b1, m2, b2):
    num = numeric_kl(laplace_logpdf(m1, b1), laplace_logpdf(m2, b2), m1, m2)
    got = closed(laplace_kl_per_axis, m1, b1, m2, b2)
    assert got == pytest.approx(num, rel=1e-4, abs=1e-9)


@pytest.mark.parametrize("m1, s1, m2, s2", PARAMS)
def test_gaussian_kl_closed_form_matches_numerical(m1, s1, m2, s2):
    num = numeric_kl(gauss_logpdf(m1, s1**2), gauss_logpdf(m2, s2**2), m1, m2)
    got = closed(gaussian_kl_per_axis, m1, s1**2, m2, s2**2)
    assert got == pytest.approx(num, rel=1e-4, abs=1e-9)


def test_kl_zero_iff_equal():
    for fn in (laplace_kl_per_axis, gaussian_kl_per_axis):
        assert closed(fn, 0.7, 1.3, 0.7, 1.3) == pytest.approx(0.0, abs=1e-15)
        for m1, b1, m2, b2 in PARAMS[1:]:
            assert closed(fn, m1, b1, m2, b2) > 1e-3
        assert closed(fn, 0.0, 1.0, 1e-3, 1.0) > 0.0
        assert closed(fn, 0.0, 1.0, 0.0, 1.001) > 0.0


def four_corner_maps(center: tuple[float, float], r: float, size: int = 16) -> torch.Tensor:
    """Logits (1, 1, size, size) whose softmax puts 1/4 at (cx +- r, cy +- r): per axis mean c, b = r, var = r^2."""
    h = torch.full((1, 1, size, size), -1e4, dtype=D)
    cx, cy = center
    for x in (cx - r, cx + r):
        for y in (cy - r, cy + r):
            h[0, 0, int(y), int(x)] = 0.0
    return h


def test_laplace_kl_perfect_prediction_is_zero():
    maps = four_corner_maps((7, 8), 1)
    g = torch.tensor([[[7.0, 8.0]]], dtype=D)
    assert build_loss("laplace_kl")(maps, g).item() == pytest.approx(0.0, abs=1e-12)
    assert build_loss("gaussian_kl")(maps, g).item() == pytest.approx(0.0, abs=1e-12)


def test_laplace_kl_shifted_map_closed_form():
    maps = four_corner_maps((7, 8), 1)
    g = torch.tensor([[[7.5, 7.5]]], dtype=D)  # 0.5 px off on both axes, b = b* = 1
    per_axis = 0.5 + math.exp(-0.5) - 1.0   # ln 1 + 0.5/1 + 1 * exp(-0.5/1) - 1
    assert build_loss("laplace_kl")(maps, g).item() == pytest.approx(2 * per_axis, rel=1e-12)
    assert build_loss("gaussian_kl")(maps, g).item() == pytest.approx(2 * 0.5 * 0.25, rel=1e-12)


def test_direction_is_kl_predicted_to_target():
    # Predicted b = 2, target b* = 1, same mean: KL(pred || target) = ln(1/2) + 2 - 1 = 1 - ln 2 per axis;
    # the other direction would give ln 2 + 1/2 - 1.
    maps = four_corner_maps((7, 8), 2)
    g = torch.tensor([[[7.0, 8.0]]], dtype=D)
    assert build_loss("laplace_kl")(maps, g).item() == pytest.approx(2 * (1 - math.log(2)), rel=1e-12)
    # Gaussian: var 4 vs 1: (ln(1/4) + 4 - 1) / 2 per axis.
    assert build_loss("gaussian_kl")(maps, g).item() == pytest.approx(math.log(0.25) + 3, rel=1e-12)
    # target_scale b* = 2 makes the same map perfect.
    assert build_loss("laplace_kl", target_scale=2.0)(maps, g).item() == pytest.approx(0.0, abs=1e-12)


def test_scale_is_mean_absolute_deviation_not_std():
    # Per axis mass 1/4, 1/2, 1/4 at c - 2, c, c + 2: E|q - c| = 1 but variance 2 (std 1.41).
    p1 = torch.full((11,), 0.0, dtype=D)
    p1[[3, 5, 7]] = torch.tensor([0.25, 0.5, 0.25], dtype=D)
    logits = torch.log(p1[:, None] * p1[None, :]).clamp_min(-1e4)[None, None]
    g = torch.tensor([[[5.0, 5.0]]], dtype=D)
    assert build_loss("laplace_kl")(logits, g).item() == pytest.approx(0.0, abs=1e-12)
    assert build_loss("gaussian_kl")(logits, g).item() == pytest.approx(2 * 0.5 * (math.log(0.5) + 2 - 1), rel=1e-12)


def test_axis_statistics_agree_with_heatmaps_moments():
    h = torch.randn(2, 3, 9, 11, dtype=D) * 3
    mean, var, scale = softmax_axis_moments(h, 0.7)
    ref_mean, ref_cov, ref_scale = moments(normalize(h, "softmax", 0.7))
    assert torch.allclose(mean, ref_mean) and torch.allclose(scale, ref_scale)
    assert torch.allclose(var, torch.diagonal(ref_cov, dim1=-2, dim2=-1))


def test_temperature_divides_logits():
    h = torch.randn(2, 3, 9, 9, dtype=D)
    g = torch.rand(2, 3, 2, dtype=D) * 8
    a = build_loss("laplace_kl", temperature=2.0)(h, g)
    b = build_loss("laplace_kl")(h / 2.0, g)
    assert a.item() == pytest.approx(b.item(), rel=1e-12)


def test_one_hot_map_is_finite_thanks_to_min_scale():
    h = torch.full((1, 1, 8, 8), -1e4, dtype=D)
    h[0, 0, 3, 4] = 0.0
    h.requires_grad_(True)
    g = torch.tensor([[[4.0, 3.0]]], dtype=D)
    loss = build_loss("laplace_kl", min_scale=1e-3)(h, g)
    # b clamps to 1e-3: per axis ln(1 / 1e-3) + 0 + 1e-3 - 1
    assert loss.item() == pytest.approx(2 * (math.log(1e3) + 1e-3 - 1), rel=1e-9)
    loss.backward()
    assert torch.isfinite(h.grad).all()


def test_invisible_landmarks_do_not_count():
    h = torch.randn(2, 4, 10, 10, dtype=D)
    g = torch.rand(2, 4, 2, dtype=D) * 9
    visible = torch.tensor([[True, False, True, True], [False, True, True, False]])
    for name in ("laplace_kl", "gaussian_kl"):
        loss = build_loss(name)
        moved = h.clone()
        moved[0, 1] = torch.randn(10, 10, dtype=D) * 5
        moved[1, 3] = 0.0
        assert loss(moved, g, visible).item() == pytest.approx(loss(h, g, visible).item(), rel=1e-12)
        per = loss.per_landmark(h, g)
        assert loss(h, g, visible).item() == pytest.approx(per[visible].mean().item(), rel=1e-12)


def test_rejects_bad_hyper_parameters():
    with pytest.raises(ValueError, match="target_scale"):
        build_loss("laplace_kl", target_scale=0.0)
