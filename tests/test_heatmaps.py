"""lab.heatmaps: encoders, normalisation, moments and decoders against closed forms and hand-computed values."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lab.heatmaps import (
    DECODERS, coordinate_grid, decode, decode_argmax, decode_barycenter, encode_gaussian, encode_laplace, expectation,
    from_heatmap_coords, moments, normalize, soft_argmax, to_heatmap_coords, window_mask,
)

D64 = torch.float64


def _pts(*xy: tuple[float, float]) -> torch.Tensor:
    """(1, K, 2) float64 points."""
    return torch.tensor([list(xy)], dtype=D64)


def _unit(h: torch.Tensor) -> torch.Tensor:
    """h / its sum per map (exactly; `normalize` mixes in an eps-sized uniform floor)."""
    return h / h.sum((-2, -1), keepdim=True)


def _random_interior(n: int, lo: float, hi: float, seed: int = 0) -> torch.Tensor:
    """(1, n, 2) float64 sub-pixel points uniform in [lo, hi]^2."""
    g = torch.Generator().manual_seed(seed)
    return lo + (hi - lo) * torch.rand(1, n, 2, generator=g, dtype=D64)


# ------------------------------------------------------------------------------------------------ coordinates

def test_stride_formula_by_hand():
    # Heatmap pixel 0 at stride 4 covers crop pixels 0..3, i.e. crop x in [-0.5, 3.5], centre 1.5.
    np.testing.assert_allclose(to_heatmap_coords(np.array([1.5, -0.5, 0.0, 127.5]), 4), [0.0, -0.5, -0.375, 31.5])
    np.testing.assert_allclose(to_heatmap_coords(np.array([10.0, 0.5]), 2), [4.75, 0.0])
    np.testing.assert_allclose(from_heatmap_coords(np.array([0.0, 4.75, -0.5]), 2), [0.5, 10.0, -0.5])
    np.testing.assert_allclose(to_heatmap_coords(np.array([7.25]), 1), [7.25])  # stride 1 is the identity


@pytest.mark.parametrize("stride", [1, 2, 4, 3.5])
def test_coordinate_round_trip(stride):
    x = np.random.default_rng(0).uniform(-0.5, 255.5, size=(3, 68, 2))
    np.testing.assert_allclose(from_heatmap_coords(to_heatmap_coords(x, stride), stride), x, atol=1e-12)
    t = torch.from_numpy(x)
    back = from_heatmap_coords(to_heatmap_coords(t, stride), stride)
    assert isinstance(back, torch.Tensor)
    np.testing.assert_allclose(back.numpy(), x, atol=1e-12)


def test_coordinate_grid():
    xs, ys = coordinate_grid(3, 5, dtype=D64)
    assert xs.tolist() == [0, 1, 2, 3, 4] and ys.tolist() == [0, 1, 2] and xs.dtype == D64


# --------------------------------------------------------------------------------------------------- encoders

def test_gaussian_peak_at_sub_pixel_point():
    sigma = 1.3
    h = encode_gaussian(_pts((10.3, 20.8)), (32, 40), sigma)  # h != w catches an x/y swap
    assert h.shape == (1, 1, 32, 40)
    iy, ix = divmod(int(h.flatten().argmax()), 40)
    assert (ix, iy) == (10, 21)
    for x, y in [(10, 21), (11, 20), (0, 0), (39, 31)]:
        want = math.exp(-((x - 10.3) ** 2 + (y - 20.8) ** 2) / (2 * sigma ** 2))
        assert h[0, 0, y, x].item() == pytest.approx(want, rel=1e-12)
    assert encode_gaussian(_pts((7.0, 3.0)), (8, 9), 2.0)[0, 0, 3, 7].item() == 1.0


def test_laplace_values_by_hand():
    b = 1.7
    h = encode_laplace(_pts((4.25, 6.5)), (10, 12), b)
    for x, y in [(4, 6), (4, 7), (0, 9), (11, 0)]:
        assert h[0, 0, y, x].item() == pytest.approx(math.exp(-(abs(x - 4.25) + abs(y - 6.5)) / b), rel=1e-12)
    assert encode_laplace(_pts((5.0, 2.0)), (6, 8), b)[0, 0, 2, 5].item() == 1.0


@pytest.mark.parametrize("sigma", [1.0, 1.5, 2.5])
def test_gaussian_moments_closed_form(sigma):
    pts = _pts((31.3, 30.7), (20.0, 25.0))
    mean, cov, _ = moments(_unit(encode_gaussian(pts, (64, 60), sigma)))
    torch.testing.assert_close(mean, pts, atol=1e-6, rtol=0)
    want = sigma ** 2 * torch.eye(2, dtype=D64).expand(1, 2, 2, 2)
    torch.testing.assert_close(cov, want, atol=1e-5, rtol=0)  # sampled Gaussians: error ~ exp(-2 pi^2 sigma^2)


@pytest.mark.parametrize("b", [0.5, 1.0, 2.0, 3.0])
def test_laplace_moments_on_pixel_exact_discrete_form(b):
    # Sampled on the lattice with the centre on a pixel, each axis is a two-sided geometric law, q = exp(-1/b):
    # E|k| = 2q / (1 - q^2) = 1 / sinh(1/b) and Var k = 2q / (1 - q)^2 = 1 / (2 sinh^2(1/(2b))), which tend to
    # the continuous b and 2 b^2 as b grows. The 161 x 161 map keeps the truncated tail below exp(-80/b).
    pts = _pts((80.0, 80.0))
    mean, cov, scale = moments(_unit(encode_laplace(pts, (161, 161), b)))
    torch.testing.assert_close(mean, pts, atol=1e-9, rtol=0)
    torch.testing.assert_close(scale, torch.full((1, 1, 2), 1 / math.sinh(1 / b), dtype=D64), atol=1e-9, rtol=0)
    var = 1 / (2 * math.sinh(1 / (2 * b)) ** 2)
    torch.testing.assert_close(cov, torch.tensor([[[[var, 0.0], [0.0, var]]]], dtype=D64), atol=1e-8, rtol=1e-9)


@pytest.mark.parametrize("b", [2.0, 3.0, 4.0])
def test_laplace_moments_sub_pixel_close_to_b(b):
    # Off-pixel centres: the kink makes the sampled law deviate from the continuous one by O(1/b^2); the largest
    # scale deviation is the on-pixel one, 1 - 1 / (b sinh(1/b)) ~ 1 / (6 b^2) (measured over offsets 0..1).
    f = torch.linspace(0.0, 1.0, 21, dtype=D64)
    pts = torch.stack([64 + f, 64 + f.flip(0)], -1)[None]
    mean, cov, scale = moments(_unit(encode_laplace(pts, (128, 128), b)))
    torch.testing.assert_close(mean, pts, atol=0.02 / b ** 2, rtol=0)
    torch.testing.assert_close(scale, torch.full_like(scale, b), rtol=1 / (6 * b ** 2) + 1e-4, atol=0)
    torch.testing.assert_close(cov[..., 0, 0], torch.full_like(scale[..., 0], 2 * b * b), rtol=0.1 / b ** 2, atol=0)


def test_unbiased_covariance_against_float64_direct():
    g = torch.Generator().manual_seed(3)
    raw = torch.rand(2, 3, 7, 9, generator=g)
    p = raw / raw.sum((-2, -1), keepdim=True)  # float32
    mean, cov_b, _ = moments(p)
    _, cov_u, _ = moments(p, unbiased=True)
    ys, xs = np.mgrid[0:7, 0:9]
    for i in range(2):
        for k in range(3):
            w = p[i, k].double().numpy().ravel()
            pos = np.stack([xs.ravel(), ys.ravel()]).astype(np.float64)
            mu = pos @ w
            c = (pos - mu[:, None]) * w @ (pos - mu[:, None]).T
            np.testing.assert_allclose(mean[i, k].numpy(), mu, rtol=1e-5)
            np.testing.assert_allclose(cov_b[i, k].numpy(), c, rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(cov_u[i, k].numpy(), c / (1 - np.sum(w * w)), rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(cov_u[i, k].numpy(), np.cov(pos, aweights=w, ddof=1), rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------------------------ normalisation

@pytest.mark.parametrize("mode", ["softmax", "relu", "sum"])
def test_normalize_sums_to_one(mode):
    h = torch.rand(2, 5, 6, 7, generator=torch.Generator().manual_seed(0), dtype=D64)
    p = normalize(h, mode)
    torch.testing.assert_close(p.sum((-2, -1)), torch.ones(2, 5, dtype=D64))
    if mode != "softmax":
        torch.testing.assert_close(p, h / h.sum((-2, -1), keepdim=True), atol=1e-9, rtol=0)
    else:
        torch.testing.assert_close(p.flatten(-2), torch.softmax(h.flatten(-2), -1))


def test_normalize_relu_drops_negatives_and_temperature():
    h = torch.tensor([[[[-3.0, 1.0], [3.0, -1.0]]]], dtype=D64)
    torch.testing.assert_close(normalize(h, "relu"), torch.tensor([[[[0.0, 0.25], [0.75, 0.0]]]], dtype=D64),
                               atol=1e-8, rtol=0)
    torch.testing.assert_close(normalize(h, "softmax", temperature=0.5).flatten(), torch.softmax(2 * h.flatten(), 0))
    with pytest.raises(ValueError, match="unknown normalisation 'l1'"):
        normalize(h, "l1")


@pytest.mark.parametrize("mode", ["softmax", "relu", "sum"])
def test_all_zero_maps_give_finite_outputs_and_grads(mode):
    h = torch.zeros(1, 2, 4, 5, requires_grad=True)
    p = normalize(h, mode)
    torch.testing.assert_close(p, torch.full_like(p, 1 / 20))
    mean, cov, scale = moments(p)
    (mean.sum() + cov.sum() + scale.sum() + expectation(p).sum()).backward()
    assert torch.isfinite(h.grad).all()
    torch.testing.assert_close(mean, torch.tensor([2.0, 1.5]).expand(1, 2, 2))


@pytest.mark.parametrize("mode", ["relu", "sum"])
def test_all_zero_maps_finite_in_float16(mode):
    """BUG (lab/heatmaps.py normalize): the eps floor eps / (h*w) = 1e-8 / n underflows to 0 in float16 (what
    AMP produces on CUDA), so an all-zero map gives 0 / 0 = NaN instead of the documented uniform map."""
    p = normalize(torch.zeros(1, 1, 8, 8, dtype=torch.float16), mode)
    assert torch.isfinite(p).all(), f"normalize(zeros fp16, {mode!r}) = {p.flatten()[:3].tolist()}..."


def test_barycenter_empty_window_finite_in_float16():
    """BUG (lab/heatmaps.py decode_barycenter): the 1e-12 floor is 0 in float16, so a map with no positive mass
    in its window decodes to NaN instead of the window centre."""
    out = decode_barycenter(torch.zeros(1, 1, 8, 8, dtype=torch.float16), window=3)
    assert torch.isfinite(out).all(), f"decode_barycenter(zeros fp16) = {out.tolist()}"


# --------------------------------------------------------------------------------------------------- decoders

def test_soft_argmax_low_temperature_is_argmax():
    g = torch.Generator().manual_seed(1)
    h = 0.5 * torch.rand(3, 4, 16, 12, generator=g)
    ix = torch.randint(0, 12, (3, 4), generator=g)
    iy = torch.randint(0, 16, (3, 4), generator=g)
    h.view(3, 4, -1).scatter_(-1, (iy * 12 + ix)[..., None], 1.0)  # a clear maximum, 0.5 above the rest
    want = torch.stack([ix, iy], -1).float()
    torch.testing.assert_close(soft_argmax(h, temperature=0.01), want, atol=1e-4, rtol=0)
    torch.testing.assert_close(decode_argmax(h, quarter_shift=False), want)
    assert (soft_argmax(h, temperature=1.0) - want).abs().max() > 1.0  # a warm softmax is pulled to the centre


def test_quarter_shift_direction_by_hand():
    h = encode_gaussian(_pts((10.3, 20.8), (3.0, 4.0)), (32, 40), 1.0)
    # (10.3, 20.8): argmax (10, 21); x neighbour 11 is nearer -> +0.25, y neighbour 20 is nearer -> -0.25.
    torch.testing.assert_close(decode_argmax(h), torch.tensor([[[10.25, 20.75], [3.0, 4.0]]], dtype=D64))
    torch.testing.assert_close(decode_argmax(h, quarter_shift=False), torch.tensor([[[10.0, 21.0], [3.0, 4.0]]],
                                                                                   dtype=D64))
    border = encode_gaussian(_pts((0.2, 31.9)), (32, 40), 1.0)  # maxima on the border: that axis is not shifted
    torch.testing.assert_close(decode_argmax(border), torch.tensor([[[0.0, 31.0]]], dtype=D64))


def test_argmax_error_bounds_on_sub_pixel_points():
    pts = _random_interior(200, 3.0, 28.0, seed=5)
    h = encode_gaussian(pts, (32, 32), 1.5)
    assert (decode_argmax(h) - pts).abs().max() <= 0.25 + 1e-9  # quarter shift: |f -+ 1/4| <= 1/4
    assert (decode_argmax(h, quarter_shift=False) - pts).abs().max() <= 0.5 + 1e-9


def test_barycenter_recovers_points():
    on_pixel = _pts((12.0, 9.0), (5.0, 20.0))  # symmetric map in a symmetric window: exact for any sigma
    torch.testing.assert_close(decode_barycenter(encode_gaussian(on_pixel, (32, 30), 2.0), 5), on_pixel,
                               atol=1e-9, rtol=0)
    pts = _random_interior(100, 6.0, 24.0, seed=2)
    assert (decode_barycenter(encode_gaussian(pts, (32, 30), 1.0), window=9) - pts).abs().max() < 0.05
    assert (decode_barycenter(encode_gaussian(pts, (32, 30), 0.7), window=5) - pts).abs().max() < 0.005
    # A window too small for sigma truncates the tail on the far side: biased towards the argmax pixel.
    assert (decode_barycenter(encode_gaussian(pts, (32, 30), 2.0), window=3) - pts).abs().max() > 0.2


def test_barycenter_window_hand_case_and_validation():
    h = torch.zeros(1, 1, 5, 6, dtype=D64)
    h[0, 0, 2, 2], h[0, 0, 2, 3], h[0, 0, 0, 5] = 3.0, 1.0, 2.9  # (5, 0) is outside the 3x3 window at (2, 2)
    torch.testing.assert_close(decode_barycenter(h, 3), torch.tensor([[[2.25, 2.0]]], dtype=D64))
    m = window_mask(h, 3)
    assert m.sum().item() == 9 and m[0, 0, 1:4, 1:4].sum().item() == 9
    for bad in (0, -1, 4):
        with pytest.raises(ValueError, match="window"):
            decode_barycenter(h, bad)


def test_decode_dispatch():
    h = encode_gaussian(_random_interior(5, 4.0, 12.0), (16, 16), 1.0)
    assert set(DECODERS) == {"argmax", "dark", "soft_argmax", "barycenter", "relu_mean"}
    torch.testing.assert_close(decode(h), decode_argmax(h))
    torch.testing.assert_close(decode(h, "argmax", quarter_shift=False), decode_argmax(h, False))
    torch.testing.assert_close(decode(h, "soft_argmax", temperature=0.1), soft_argmax(h, 0.1))
    torch.testing.assert_close(decode(h, "barycenter", window=3), decode_barycenter(h, 3))
    with pytest.raises(ValueError, match="unknown decoder 'median'.*argmax"):
        decode(h, "median")


def test_dark_recovers_gaussian_peaks_exactly_and_falls_back_on_flat_maps():
    """log of a Gaussian map is quadratic, so the Taylor step lands on the centre; the quarter-shift argmax does not."""
    from lab.heatmaps import decode_dark

    pts = _random_interior(200, 3.0, 28.0)
    maps = encode_gaussian(pts, (32, 32), 1.5)
    assert (decode_dark(maps) - pts).abs().max() < 1e-4
    assert (decode_argmax(maps) - pts).norm(dim=-1).mean() > 0.1
    flat = torch.zeros(3, 2, 8, 8)
    assert torch.equal(decode_dark(flat), decode_argmax(flat))  # no curvature: the argmax's answer
    border = encode_gaussian(torch.tensor([[0.2, 5.0]]), (10, 10), 1.0)
    assert torch.equal(decode_dark(border), decode_argmax(border))  # border maxima: no 3x3 neighbourhood


def test_barycenter_window_bias_shrinks_with_the_window():
    """The window truncates the map around the argmax pixel: window 5 errs by ~0.14 px, the default 9 by ~0.01."""
    from lab.heatmaps import BARYCENTER_WINDOW, decode_barycenter

    pts = _random_interior(500, 5.0, 26.0)
    maps = encode_gaussian(pts, (32, 32), 1.5)
    err = {w: float((decode_barycenter(maps, w) - pts).norm(dim=-1).mean()) for w in (5, BARYCENTER_WINDOW)}
    assert BARYCENTER_WINDOW == 9 and 0.1 < err[5] < 0.2 and err[9] < 0.02
