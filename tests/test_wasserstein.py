"""2D Wasserstein losses: closed form vs hand values, POT's Bures distance and exact OT (ot.emd2); the Sinkhorn
grid variant vs emd2 as reg -> 0, vs POT's unrolled gradients; guards and gradchecks."""
import math

import ot
import pytest
import torch

from lab.heatmaps import encode_gaussian
from lab.moments import coordinate_grid, moments, normalize
from lab.losses import build_loss, get_loss_spec
from lab.losses.wasserstein import (W2Loss, W2SinkhornLoss, gaussian_window_target, grid_cost, sinkhorn_cost,
                                    w2_isotropic, w2_sinkhorn_values)

D = torch.float64


@pytest.fixture(autouse=True)
def one_thread():
    """These are tiny problems (<= 576 pixels) with thousands of small Sinkhorn steps: threads only add overhead
    (10x slower with 2 threads on a busy 2-core machine). Restored after each test."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def t(x):
    return torch.tensor(x, dtype=D)


def gaussian_map(center, sx, sy, angle, size):
    """Sampled anisotropic Gaussian (h, w), axes rotated by `angle`, normalised to sum 1."""
    h, w = size
    xs, ys = coordinate_grid(h, w, dtype=D)
    dx, dy = xs[None, :] - center[0], ys[:, None] - center[1]
    c, s = math.cos(angle), math.sin(angle)
    u, v = c * dx + s * dy, -s * dx + c * dy
    m = torch.exp(-u.square() / (2 * sx * sx) - v.square() / (2 * sy * sy))
    return m / m.sum()


def grid_sq_cost(h, w):
    """Dense |q_i - q_j|^2 over all pixel pairs, (h*w, h*w)."""
    xs, ys = coordinate_grid(h, w, dtype=D)
    q = torch.stack([xs[None, :].expand(h, w), ys[:, None].expand(h, w)], -1).reshape(-1, 2)
    return (q[:, None] - q[None]).square().sum(-1)


def window_target_on_grid(g, size, sigma, truncate):
    """The Sinkhorn loss's target (window around g) scattered back onto the full (h, w) grid."""
    h, w = size
    r = math.ceil(truncate * sigma)
    xs, ys, wts = gaussian_window_target(g[None], size, sigma, r)
    full = torch.zeros(h, w, dtype=D)
    for i, y in enumerate(ys[0].long().tolist()):
        for j, x in enumerate(xs[0].long().tolist()):
            if 0 <= x < w and 0 <= y < h:
                full[y, x] += wts[0, i, j]
    return full


# ---------------------------------------------------------------------------------------------- closed form


def test_closed_form_is_the_squared_shift_when_s_equals_sigma2_identity():
    sigma = 1.7
    cov = sigma ** 2 * torch.eye(2, dtype=D)
    value = w2_isotropic(t([3.0, -1.0]), cov, t([0.5, 1.0]), sigma).item()
    assert value == pytest.approx(2.5 ** 2 + 2.0 ** 2, abs=1e-9)


def test_closed_form_hand_value_shifted_anisotropic():
    # S = diag(4, 1), sigma = 1.5, shift (1, 2): 5 + (2 - 1.5)^2 + (1 - 1.5)^2 = 5.5; the same for S rotated.
    sigma = 1.5
    rot = t([[math.cos(0.7), -math.sin(0.7)], [math.sin(0.7), math.cos(0.7)]])
    for cov in (t([[4.0, 0.0], [0.0, 1.0]]), rot @ t([[4.0, 0.0], [0.0, 1.0]]) @ rot.T):
        assert w2_isotropic(t([1.0, 2.0]), cov, t([0.0, 0.0]), sigma).item() == pytest.approx(5.5, abs=1e-9)


def test_closed_form_matches_pot_bures_wasserstein():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(50, 2, 2, generator=g, dtype=D)
    cov = a @ a.transpose(-1, -2)
    mean, target = torch.randn(50, 2, generator=g, dtype=D), torch.randn(50, 2, generator=g, dtype=D)
    sigma = 1.3
    ours = w2_isotropic(mean, cov, target, sigma)
    iso = (sigma ** 2 * torch.eye(2, dtype=D)).expand(50, 2, 2)
    ref = torch.stack([ot.gaussian.bures_wasserstein_distance(mean[i], target[i], cov[i], iso[i]) ** 2
                       for i in range(50)]).reshape(50)
    torch.testing.assert_close(ours, ref, rtol=1e-9, atol=1e-9)


def test_perfect_prediction_map_is_zero():
    sigma = 1.5
    g = t([[[14.3, 17.6]]])
    hm = encode_gaussian(g, (32, 32), sigma)
    assert W2Loss(sigma)(hm, g).item() == pytest.approx(0.0, abs=1e-6)


def test_closed_form_vs_exact_ot_integer_translation():
    """Identical shapes translated by a whole number of pixels: translation is an optimal plan on the lattice too,
    so emd2 = |shift|^2 = closed form. Tolerance 1e-4 px^2: the target is cut by the 24 px border at ~5 sigma."""
    size, sigma = (24, 24), 2.0
    p = gaussian_map((11.0, 12.0), sigma, sigma, 0.0, size)
    gt = t([14.0, 10.0])
    q = encode_gaussian(gt, size, sigma)
    exact = ot.emd2(p.flatten(), (q / q.sum()).flatten(), grid_sq_cost(*size))
    mean, cov, _ = moments(p)
    assert float(exact) == pytest.approx(13.0, abs=1e-4)
    assert w2_isotropic(mean, cov, gt, sigma).item() == pytest.approx(float(exact), abs=1e-4)


@pytest.mark.parametrize("center,sx,sy,angle,g", [
    ((11.3, 12.1), 2.0, 2.0, 0.0, (12.0, 11.4)),   # sub-pixel translation only
    ((10.5, 12.5), 2.0, 2.0, 0.0, (13.0, 12.0)),   # half-pixel shifts: the worst case, +1/4 px^2 per axis
    ((11.3, 12.1), 3.0, 1.5, 0.4, (12.0, 11.4)),   # anisotropic, rotated, shifted
    ((10.0, 12.0), 3.5, 1.2, 0.0, (13.0, 12.0)),
    ((11.0, 12.0), 2.5, 2.5, 0.0, (11.0, 12.0)),   # scale only
])
def test_closed_form_vs_exact_ot_on_a_24px_grid(center, sx, sy, angle, g):
    """Closed form (moments of the discrete P, target N(g, sigma^2 I)) against POT's exact OT between the two
    discrete maps. Two facts bound the gap:
    - Gelbrich: W2^2 between any two distributions >= the Gaussian formula on their moments -> closed <= emd2
      (+1e-4 for the target's border truncation, its covariance is sigma^2 I to 1e-5).
    - Lattice: mass can only move by whole pixels. For a translation by delta the exact lattice cost is
      |delta|^2 + sum_axes frac(delta)(1 - frac(delta)) (checked exactly below), at most 1/4 px^2 per axis; scale
      changes round the quantile map the same way. So 0 <= emd2 - closed <= 0.5 px^2.
    """
    size, sigma = (24, 24), 2.0
    p = gaussian_map(center, sx, sy, angle, size)
    gt = t(g)
    q = encode_gaussian(gt, size, sigma)
    exact = float(ot.emd2(p.flatten(), (q / q.sum()).flatten(), grid_sq_cost(*size)))
    mean, cov, _ = moments(p)
    closed = w2_isotropic(mean, cov, gt, sigma).item()
    assert -1e-4 <= exact - closed <= 0.5
    if sx == sy == sigma:  # pure translation: the lattice excess is known exactly
        frac = (gt - t(center)).abs().frac()
        assert exact == pytest.approx(closed + float((frac * (1 - frac)).sum()), abs=1e-4)


@pytest.mark.parametrize("kind", ["zero", "one_hot", "line", "constant", "negative"])
def test_closed_form_degenerate_maps_finite(kind):
    hm = torch.zeros(2, 3, 9, 9, dtype=D)
    if kind == "one_hot":
        hm[..., 4, 4] = 1.0
    elif kind == "line":
        hm[..., 4, 2:7] = 1.0
    elif kind == "constant":
        hm += 0.3
    elif kind == "negative":
        hm -= 1.0
    for dtype in (D, torch.float32):
        h = hm.detach().to(dtype).requires_grad_(True)
        loss = W2Loss()(h, torch.full((2, 3, 2), 3.3, dtype=dtype))
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(h.grad).all(), (kind, dtype)


def test_closed_form_gradcheck():
    g = torch.Generator().manual_seed(1)
    hm = (torch.rand(1, 2, 6, 7, generator=g, dtype=D) + 0.05).requires_grad_(True)
    target = t([[[2.2, 3.1], [4.6, 1.3]]])
    assert torch.autograd.gradcheck(lambda x: W2Loss(1.2)(x, target), (hm,), eps=1e-6, atol=1e-6)


# ---------------------------------------------------------------------------------------------- sinkhorn


def test_sinkhorn_approaches_exact_ot_as_reg_shrinks():
    """0 <= OT_eps - W2^2 <= eps * min(H(a), H(b)): the exact plan T* is feasible, and KL(T* | a x b) is the mutual
    information of T*, at most the smaller marginal entropy; <T_eps, M> >= W2^2 gives the lower side."""
    size, sigma, truncate = (12, 12), 1.5, 4.0
    p = gaussian_map((4.3, 6.6), 2.2, 1.6, 0.3, size)
    g = t([6.2, 5.1])
    b = window_target_on_grid(g, size, sigma, truncate)
    exact = float(ot.emd2(p.flatten(), b.flatten(), grid_sq_cost(*size)))
    entropy = min(float(-(m[m > 0] * m[m > 0].log()).sum()) for m in (p, b))
    gaps = []
    for reg in (1.0, 0.4, 0.2):
        value = w2_sinkhorn_values(p[None], g[None], sigma, reg, truncate, max_iter=20000, tol=1e-8).item()
        gaps.append(value - exact)
        assert -1e-6 <= value - exact <= reg * entropy + 1e-6
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 0.3 * gaps[0]  # ~linear in reg (2.5 px^2 at reg = 1)


def test_sinkhorn_value_and_gradient_match_pot_unrolled():
    """Our dual value equals POT's KL-regularised primal value; the envelope gradient (potentials held fixed)
    equals the gradient POT's autodiff gets by differentiating through all the Sinkhorn iterations."""
    size, sigma, reg = (5, 6), 1.0, 0.7
    g = torch.Generator().manual_seed(2)
    a = (torch.rand(size, generator=g, dtype=D) + 0.1)
    a = (a / a.sum()).flatten().requires_grad_(True)
    xs, ys, b = gaussian_window_target(t([[2.4, 1.7]]), size, sigma, 4)
    cost = grid_cost(size, xs, ys)
    ours = sinkhorn_cost(a[None], b.flatten(1), cost, reg, max_iter=10000, tol=1e-12)[0]
    (ours_grad,) = torch.autograd.grad(ours, a)
    a2 = a.detach().clone().requires_grad_(True)
    bf = b.flatten()
    keep = bf > 0  # POT's KL term needs b > 0: drop the window pixels off the grid (zero mass) for the reference
    res = ot.solve(cost[0][:, keep], a2, bf[keep], reg=reg, reg_type="kl", grad="autodiff", max_iter=10000, tol=1e-12)
    (ref_grad,) = torch.autograd.grad(res.value, a2)
    assert ours.item() == pytest.approx(res.value.item(), abs=1e-8)
    # gradients w.r.t. a on the simplex: compare up to an additive constant
    torch.testing.assert_close(ours_grad - ours_grad.mean(), ref_grad - ref_grad.mean(), rtol=1e-5, atol=1e-7)


def test_sinkhorn_gradcheck():
    g = torch.Generator().manual_seed(3)
    hm = (torch.rand(1, 1, 4, 5, generator=g, dtype=D) + 0.1).requires_grad_(True)
    target = t([[[2.2, 3.1]]])
    loss = W2SinkhornLoss(sigma=1.0, reg=0.8, max_iter=20000, tol=1e-11)
    assert torch.autograd.gradcheck(lambda x: loss(x, target), (hm,), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("kind", ["zero", "one_hot", "negative"])
def test_sinkhorn_degenerate_maps_finite(kind):
    hm = torch.zeros(1, 2, 8, 8)
    if kind == "one_hot":
        hm[..., 1, 6] = 1.0
    elif kind == "negative":
        hm -= 1.0
    hm.requires_grad_(True)
    loss = W2SinkhornLoss(reg=1.0)(hm, torch.tensor([[[2.0, 3.0], [40.0, -9.0]]]))  # second point off the map
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(hm.grad).all()


def test_sinkhorn_visibility_only_solves_visible_points():
    g = torch.Generator().manual_seed(4)
    hm = torch.rand(2, 3, 8, 8, generator=g, dtype=D)
    target = torch.rand(2, 3, 2, generator=g, dtype=D) * 7
    visible = torch.tensor([[True, False, False], [False, True, False]])
    loss = W2SinkhornLoss(reg=1.0, tol=1e-9)
    p = normalize(hm, "relu")
    expected = w2_sinkhorn_values(p[visible], target[visible], 1.5, 1.0, tol=1e-9).mean()
    torch.testing.assert_close(loss(hm, target, visible), expected, rtol=1e-7, atol=1e-9)
    none = loss(hm.requires_grad_(True), target, torch.zeros(2, 3, dtype=torch.bool))
    assert none.item() == 0.0 and none.requires_grad


def test_registry_entries():
    for name, defaults in (("w2", {"sigma": 1.5, "eps": 1e-6}),
                           ("w2_sinkhorn", {"sigma": 1.5, "reg": 1.0, "truncate": 4.0, "max_iter": 1000,
                                            "tol": 1e-5, "chunk_elements": 1 << 24})):
        spec = get_loss_spec(name)
        assert spec.input == "heatmap" and spec.decoder == "barycenter" and spec.defaults == defaults
    assert isinstance(build_loss("w2", sigma=2.0), W2Loss)
    with pytest.raises(ValueError):
        W2SinkhornLoss(reg=0)
    with pytest.raises(ValueError):
        build_loss("w2")(torch.zeros(1, 2, 4, 4), torch.zeros(1, 3, 2))
