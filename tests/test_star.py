"""STAR v2 loss: closed-form 2x2 eigen-decomposition, an eigh-based reference, hand values, guards, gradients."""
import math

import pytest
import torch
import torch.nn.functional as F

from lab.heatmaps import moments, normalize
from lab.losses import build_loss, get_loss_spec
from lab.losses.star import STARLoss, eig2x2, relu_moments, star_per_landmark

D = torch.float64
S = 0.01  # smooth-L1 threshold in [-1, 1] units
EPS = 1e-5


def smooth_l1(x: float) -> float:
    return x * x / (2 * S) if abs(x) < S else abs(x) - S / 2


def reference_star(heatmaps, target, w=1.0, eps=EPS, beta=S):
    """STAR v2 the way the official code computes it: materialised [-1, 1] grid, explicit weighted sums, eigh
    (on the CPU), eigenvector *columns*, per-axis smooth-L1 / sqrt(l + eps), + w (|l1| + |l2|), plain mean."""
    bsz, k, h, wd = heatmaps.shape
    p = normalize(heatmaps, "relu")
    xs = (2 * torch.arange(wd, dtype=D) + 1) / wd - 1
    ys = (2 * torch.arange(h, dtype=D) + 1) / h - 1
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    mx, my = (p * xx).sum((-2, -1)), (p * yy).sum((-2, -1))
    diffs = torch.stack([xx - mx[..., None, None], yy - my[..., None, None]], -3).reshape(bsz * k, 2, -1)
    pv = p.reshape(bsz * k, 1, -1)
    cov = torch.bmm(pv * diffs, diffs.transpose(1, 2)).view(bsz, k, 2, 2)
    cov = cov / (1 - p.square().sum((-2, -1)))[..., None, None]
    evals, evecs = torch.linalg.eigh(cov.cpu())
    gn = torch.stack([(2 * target[..., 0] + 1) / wd - 1, (2 * target[..., 1] + 1) / h - 1], -1)
    err = gn - torch.stack([mx, my], -1)
    proj = torch.stack([(evecs[..., :, i] * err).sum(-1) for i in range(2)], -1)
    dist = torch.where(proj.abs() < beta, 0.5 * proj.square() / beta, proj.abs() - 0.5 * beta)
    per = (dist / torch.sqrt(evals + eps)).sum(-1) + w * evals.abs().sum(-1)
    return per.mean()


def point_map(h, w, points, masses):
    """(1, 1, h, w) map with the given masses at integer (x, y) pixels."""
    m = torch.zeros(1, 1, h, w, dtype=D)
    for (x, y), v in zip(points, masses):
        m[0, 0, y, x] += v
    return m


def cross_map(size, cx, cy, a, b):
    """Mass 1/4 at (cx +- a, cy +- a) (the diagonal) and (cx +- b, cy -+ b) (the anti-diagonal).

    Mean (cx, cy); biased variance a^2 along u = (1, 1)/sqrt2, b^2 along v = (1, -1)/sqrt2; sum P^2 = 1/4, so the
    unbiased covariance is 4/3 of that: eigenvalues 4/3 a^2 and 4/3 b^2 px^2 with eigenvectors u and v.
    """
    pts = [(cx + a, cy + a), (cx - a, cy - a), (cx + b, cy - b), (cx - b, cy + b)]
    return point_map(size, size, pts, [1.0] * 4)


def iso_map():
    """Exactly isotropic 31x31 map (odd size, so even the uniform eps floor is centred): mass at (15 +- 3, 15),
    (15, 15 +- 3); biased variance 4.5 px^2 per axis, no correlation."""
    return point_map(31, 31, [(18, 15), (12, 15), (15, 18), (15, 12)], [1.0] * 4)


def loss_at(heatmaps, target_xy):
    return STARLoss()(heatmaps, torch.tensor([[target_xy]], dtype=D)).item()


# ---------------------------------------------------------------------------------------------- eig2x2


def test_eig2x2_matches_eigh_on_random_and_special_matrices():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(2000, 2, 2, generator=g, dtype=D)
    cov = a @ a.transpose(-1, -2)
    special = torch.tensor([[[1.0, 0], [0, 1]], [[1, 0], [0, 2]], [[2, 0], [0, 1]], [[1, 0.5], [0.5, 1]],
                            [[1, -0.5], [-0.5, 1]], [[0, 0], [0, 0]], [[3, 1e-9], [1e-9, 3]]], dtype=D)
    cov = torch.cat([cov, special])
    evals, evecs = eig2x2(cov)
    ref_vals, ref_vecs = torch.linalg.eigh(cov)
    torch.testing.assert_close(evals, ref_vals, rtol=0, atol=1e-12)
    # columns are orthonormal eigenvectors: U diag(l) U^T == cov, U^T U == I
    torch.testing.assert_close(evecs @ torch.diag_embed(evals) @ evecs.transpose(-1, -2), cov, rtol=0, atol=1e-12)
    torch.testing.assert_close(evecs.transpose(-1, -2) @ evecs, torch.eye(2, dtype=D).expand_as(cov),
                               rtol=0, atol=1e-12)
    # same columns as eigh up to sign where the eigenvalues are distinct
    distinct = (ref_vals[:, 1] - ref_vals[:, 0]) > 1e-6
    torch.testing.assert_close(evecs[distinct].abs(), ref_vecs[distinct].abs(), rtol=0, atol=1e-9)
    # exact isotropy falls back to the axes (x for l1, y for l2)
    torch.testing.assert_close(evecs[-7].abs(), torch.eye(2, dtype=D))


def test_eig2x2_gradient_finite_at_isotropy():
    cov = torch.tensor([[[2.0, 0.0], [0.0, 2.0]], [[0.0, 0.0], [0.0, 0.0]]], dtype=D, requires_grad=True)
    evals, evecs = eig2x2(cov)
    (evals.sum() + evecs.sum()).backward()
    assert torch.isfinite(cov.grad).all()


# ---------------------------------------------------------------------------------------------- moments


@pytest.mark.parametrize("unbiased", [False, True])
def test_fused_relu_moments_equal_normalize_then_moments(unbiased):
    g = torch.Generator().manual_seed(6)
    hm = torch.randn(3, 4, 9, 13, generator=g, dtype=D)  # negatives: relu'd away
    hm[0, 0] = 0.0  # empty map: uniform
    hm[0, 1] = -1.0
    origin = torch.rand(3, 4, 2, generator=g, dtype=D) * 30 - 10  # anywhere, also off the map
    mean, cov = relu_moments(hm, origin, unbiased=unbiased)
    ref_mean, ref_cov, _ = moments(normalize(hm, "relu"), unbiased=unbiased)
    torch.testing.assert_close(mean, ref_mean, rtol=0, atol=1e-10)
    torch.testing.assert_close(cov, ref_cov, rtol=0, atol=1e-9)


# ---------------------------------------------------------------------------------------------- reference


def test_star_equals_eigh_reference_on_random_maps():
    g = torch.Generator().manual_seed(1)
    heatmaps = torch.rand(3, 5, 12, 16, generator=g, dtype=D) ** 4  # positive, non-square, anisotropic-ish
    target = torch.rand(3, 5, 2, generator=g, dtype=D) * torch.tensor([15.0, 11.0], dtype=D)
    h1 = heatmaps.clone().requires_grad_(True)
    h2 = heatmaps.clone().requires_grad_(True)
    ours = STARLoss()(h1, target)
    ref = reference_star(h2, target)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    ours.backward()
    ref.backward()
    torch.testing.assert_close(h1.grad, h2.grad, rtol=1e-8, atol=1e-10)


# ---------------------------------------------------------------------------------------------- hand values


def test_error_along_one_eigenvector_moves_only_that_term():
    size, cx, cy, a, b = 32, 15, 15, 4, 2
    hm = cross_map(size, cx, cy, a, b)
    unit = 2.0 / size  # one pixel in [-1, 1] units
    l_major = 4 / 3 * a * a * unit ** 2  # along u = (1, 1)/sqrt2: 4/3 * 16 / 256 = 0.0833333
    l_minor = 4 / 3 * b * b * unit ** 2  # along v = (1, -1)/sqrt2: 4/3 * 4 / 256 = 0.0208333
    base = l_major + l_minor  # e = 0: only the eigenvalue restriction, w = 1
    assert loss_at(hm, (cx, cy)) == pytest.approx(base, rel=1e-6)
    for t in (0.05, 0.1, 2.0, 5.0):  # px: quadratic zone (t*unit < 0.01) and L1 zone
        along_u = loss_at(hm, (cx + t / math.sqrt(2), cy + t / math.sqrt(2)))
        along_v = loss_at(hm, (cx + t / math.sqrt(2), cy - t / math.sqrt(2)))
        assert along_u - base == pytest.approx(smooth_l1(t * unit) / math.sqrt(l_major + EPS), rel=1e-6)
        assert along_v - base == pytest.approx(smooth_l1(t * unit) / math.sqrt(l_minor + EPS), rel=1e-6)
    # the numbers by hand for t = 2 px: smooth-L1(0.125) = 0.12; 0.12 / sqrt(0.0833333 + 1e-5) = 0.415667;
    # plus the eigenvalue penalty 0.0833333 + 0.0208333 = 0.1041667
    assert loss_at(hm, (cx + 2 / math.sqrt(2), cy + 2 / math.sqrt(2))) == pytest.approx(0.1041667 + 0.415667, rel=1e-5)


def test_perfect_isotropic_prediction_is_the_eigenvalue_penalty():
    hm = iso_map()
    # biased variance a^2/2 per axis, unbiased (x 4/3) 2 a^2 / 3 = 6 px^2 = 6 * (2/31)^2 = 0.0249740 in [-1, 1] units^2
    assert loss_at(hm, (15, 15)) == pytest.approx(2 * 0.0249740, rel=1e-5)


def test_isotropic_sum_invariant_to_the_error_direction_in_the_quadratic_zone():
    hm, c, lam = iso_map(), 15, 6 * (2 / 31) ** 2
    r = 0.1  # px -> 0.00645 in [-1, 1] units, inside s = 0.01 for every direction
    values = [loss_at(hm, (c + r * math.cos(t), c + r * math.sin(t))) for t in torch.linspace(0, 3, 7).tolist()]
    assert max(values) - min(values) < 1e-14
    expected = 2 * lam + (r * 2 / 31) ** 2 / (2 * S) / math.sqrt(lam + EPS)
    assert values[0] == pytest.approx(expected, rel=1e-6)
    # in the L1 zone the two terms are |p1| + |p2|, which depends on the (arbitrary) basis: finite, not invariant
    far = [loss_at(hm, (c + 3 * math.cos(t), c + 3 * math.sin(t))) for t in (0.0, 0.4, 0.8, 1.2)]
    assert all(math.isfinite(v) for v in far) and max(far) - min(far) > 0.01


# ---------------------------------------------------------------------------------------------- guards, grads


@pytest.mark.parametrize("kind", ["zero", "one_hot", "constant", "negative", "isotropic"])
def test_degenerate_maps_give_finite_loss_and_gradients(kind):
    hm = torch.zeros(2, 3, 8, 8, dtype=D)
    if kind == "one_hot":
        hm[..., 3, 4] = 1.0
    elif kind == "constant":
        hm += 0.7
    elif kind == "negative":
        hm -= 1.0
    elif kind == "isotropic":
        hm[..., 3, 4] = hm[..., 5, 4] = hm[..., 4, 3] = hm[..., 4, 5] = 1.0
    hm.requires_grad_(True)
    target = torch.full((2, 3, 2), 2.5, dtype=D)
    for dtype in (D, torch.float32):
        h = hm.detach().to(dtype).requires_grad_(True)
        loss = STARLoss()(h, target.to(dtype))
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(h.grad).all(), (kind, dtype)


def test_gradcheck_float64():
    g = torch.Generator().manual_seed(3)
    hm = (torch.rand(1, 2, 6, 7, generator=g, dtype=D) + 0.05).requires_grad_(True)
    target = torch.tensor([[[2.2, 3.1], [4.6, 1.3]]], dtype=D)
    assert torch.autograd.gradcheck(lambda x: STARLoss()(x, target), (hm,), eps=1e-6, atol=1e-6)


# ---------------------------------------------------------------------------------------------- API


def test_registry_visibility_and_shapes():
    spec = get_loss_spec("star")
    assert spec.input == "heatmap" and spec.decoder == "barycenter"
    assert spec.defaults == {"w": 1.0, "eps": 1e-5, "beta": 0.01}
    loss = build_loss("star")
    g = torch.Generator().manual_seed(4)
    hm = torch.rand(2, 3, 10, 10, generator=g, dtype=D)
    target = torch.rand(2, 3, 2, generator=g, dtype=D) * 9
    visible = torch.tensor([[True, False, True], [False, False, True]])
    per = star_per_landmark(hm, target)
    torch.testing.assert_close(loss(hm, target, visible), per[visible].mean())
    none = loss(hm.requires_grad_(True), target, torch.zeros(2, 3, dtype=torch.bool))
    assert none.item() == 0.0 and none.requires_grad
    with pytest.raises(ValueError):
        loss(hm, target[:, :2])
    with pytest.raises(ValueError):
        STARLoss(beta=0)


def test_smooth_l1_matches_torch_definition():
    x = torch.tensor([0.003, -0.02, 0.5], dtype=D)
    expected = torch.tensor([smooth_l1(v) for v in x.tolist()], dtype=D)
    torch.testing.assert_close(F.smooth_l1_loss(x, torch.zeros_like(x), reduction="none", beta=S), expected)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    g = torch.Generator().manual_seed(5)
    hm = torch.rand(2, 4, 16, 16, generator=g)
    target = torch.rand(2, 4, 2, generator=g) * 15
    cpu = STARLoss()(hm, target)
    gpu = STARLoss()(hm.cuda(), target.cuda())
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-4, atol=1e-5)
