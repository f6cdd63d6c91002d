"""STAR v2 loss: closed-form 2x2 eigen-decomposition, an independent re-implementation of the official STARLoss_v2
algorithm (value and gradient to 1e-5 relative), hand values, guards, gradients."""
import math

import pytest
import torch
import torch.nn.functional as F

from lab.moments import moments, normalize
from lab.losses import build_loss, get_loss_spec
from lab.losses.star import STARLoss, eig2x2, star_per_landmark
from lab.moments import relu_moments

D = torch.float64
S = 0.01  # smooth-L1 threshold in [-1, 1] units
EPS = 1e-5


def smooth_l1(x: float) -> float:
    return x * x / (2 * S) if abs(x) < S else abs(x) - S / 2


def official_smooth_l1(x, scale=S):
    """The official SmoothL1Loss applied to one projected error per landmark, re-derived: its squared length x^2
    decides the branch (quadratic 0.5 x^2 / scale below scale^2); the linear branch uses sqrt(max(x^2, 1e-6))."""
    sq = x * x
    return torch.where(sq < scale * scale, 0.5 / scale * sq, sq.clamp(min=1e-6).sqrt() - 0.5 * scale)


def official_star_v2(heatmaps, target_px, w=1.0, eps=EPS, scale=S, cov_eps=1e-5):
    """The official STARLoss_v2 algorithm, written independently of the lab from its description.

    H / clamp(sum H, 1e-6); grid arange(n) / (n - 1) * 2 - 1 per axis; weighted mean; weighted covariance about it
    divided by V1 - V2/V1 (V1 = sum P + 1e-5, V2 = sum P^2 + 1e-5); torch.linalg.eigh on the CPU; the "normal" and
    "tangent" vectors taken as the official code takes them, evectors[:, :, 0] and [:, :, 1] of the (B, K, 2, 2)
    output, i.e. ROWS 0 and 1; smooth-L1 of each projection / sqrt(eigenvalue + eps), plus w (|l1| + |l2|); mean.
    The ground truth arrives in heatmap pixels and is mapped onto the same grid: x_n = 2 x / (w - 1) - 1.
    """
    _, _, h, wd = heatmaps.shape
    mass = heatmaps.sum(dim=(2, 3)).clamp(min=1e-6)
    p = heatmaps / mass[:, :, None, None]
    gx = torch.arange(wd, dtype=heatmaps.dtype) / (wd - 1) * 2 - 1
    gy = torch.arange(h, dtype=heatmaps.dtype) / (h - 1) * 2 - 1
    mx = torch.einsum("bkyx,x->bk", p, gx)
    my = torch.einsum("bkyx,y->bk", p, gy)
    dx = gx - mx[..., None]  # (B, K, w)
    dy = gy - my[..., None]  # (B, K, h)
    sxx = torch.einsum("bkyx,bkx->bk", p, dx * dx)
    syy = torch.einsum("bkyx,bky->bk", p, dy * dy)
    sxy = torch.einsum("bkyx,bkx,bky->bk", p, dx, dy)
    v1 = p.sum(dim=(2, 3)) + cov_eps
    v2 = (p * p).sum(dim=(2, 3)) + cov_eps
    cov = torch.stack([torch.stack([sxx, sxy], -1), torch.stack([sxy, syy], -1)], -2) / (v1 - v2 / v1)[..., None, None]
    evals, evecs = torch.linalg.eigh(cov.cpu())
    normal, tangent = evecs[:, :, 0], evecs[:, :, 1]  # rows, exactly as the official indexing
    gt = torch.stack([target_px[..., 0] * 2 / (wd - 1) - 1, target_px[..., 1] * 2 / (h - 1) - 1], -1)
    err = gt - torch.stack([mx, my], -1)
    pn, pt = (normal * err).sum(-1), (tangent * err).sum(-1)
    trans = (official_smooth_l1(pn, scale) / torch.sqrt(evals[..., 0] + eps)
             + official_smooth_l1(pt, scale) / torch.sqrt(evals[..., 1] + eps))
    return (trans + w * evals.abs().sum(-1)).mean()


def blob_maps(shape, g):
    """Random anisotropic, rotated Gaussian blobs (std 0.8..2.8 px, correlation -0.8..0.8, peak 0..3) plus uniform
    noise in [0, 0.05); and their centres (B, K, 2)."""
    b, k, h, w = shape
    c = torch.rand(b, k, 2, generator=g, dtype=D) * torch.tensor([w - 1, h - 1], dtype=D)
    sx, sy = (0.8 + 2 * torch.rand(2, b, k, 1, 1, generator=g, dtype=D)).unbind(0)
    rho = torch.rand(b, k, 1, 1, generator=g, dtype=D) * 1.6 - 0.8
    dx = (torch.arange(w, dtype=D) - c[..., 0, None])[:, :, None, :] / sx
    dy = (torch.arange(h, dtype=D) - c[..., 1, None])[:, :, :, None] / sy
    blob = torch.exp(-(dx * dx - 2 * rho * dx * dy + dy * dy) / (2 * (1 - rho * rho)))
    peak = 3 * torch.rand(b, k, 1, 1, generator=g, dtype=D)
    return blob * peak + 0.05 * torch.rand(b, k, h, w, generator=g, dtype=D), c


def point_map(h, w, points, masses):
    """(1, 1, h, w) map with the given masses at integer (x, y) pixels."""
    m = torch.zeros(1, 1, h, w, dtype=D)
    for (x, y), v in zip(points, masses):
        m[0, 0, y, x] += v
    return m


# The official unbiased denominator V1 - V2/V1 for four equal masses (sum P = 1, sum P^2 = 1/4):
# 1.00001 - 0.25001 / 1.00001 = 0.7500025 (vs 3/4 for the textbook 1 - sum P^2), so the factor is 1.3333289.
BESSEL4 = 1 / (1.00001 - 0.25001 / 1.00001)


def cross_map(size, cx, cy, a, b):
    """Mass 1/4 at (cx +- a, cy +- a) (the diagonal) and (cx +- b, cy -+ b) (the anti-diagonal).

    Mean (cx, cy); biased variance a^2 along u = (1, 1)/sqrt2, b^2 along v = (1, -1)/sqrt2; sum P^2 = 1/4, so the
    unbiased covariance is BESSEL4 (~4/3) times that: eigenvalues BESSEL4 a^2 and BESSEL4 b^2 px^2 with
    eigenvectors u and v.
    """
    pts = [(cx + a, cy + a), (cx - a, cy - a), (cx + b, cy - b), (cx - b, cy + b)]
    return point_map(size, size, pts, [1.0] * 4)


def iso_map():
    """Exactly isotropic 31x31 map (odd size, so even the uniform eps floor is centred): mass at (15 +- 3, 15),
    (15, 15 +- 3); biased variance 4.5 px^2 per axis, no correlation; sum P^2 = 1/4."""
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


OFFICIAL_SHAPES = [(2, 5, 16, 16), (1, 3, 32, 24), (3, 4, 9, 13)]


def relative_differences(heatmaps, target):
    """(value, gradient) max relative differences between STARLoss and the official algorithm; the gradient's
    relative to its largest entry."""
    h1 = heatmaps.clone().requires_grad_(True)
    h2 = heatmaps.clone().requires_grad_(True)
    ours, ref = STARLoss()(h1, target), official_star_v2(h2, target)
    ours.backward()
    ref.backward()
    assert torch.isfinite(ref) and torch.isfinite(h2.grad).all()
    return (abs(ours.item() - ref.item()) / abs(ref.item()),
            ((h1.grad - h2.grad).abs().max() / h2.grad.abs().max()).item())


@pytest.mark.parametrize("shape", OFFICIAL_SHAPES)
@pytest.mark.parametrize("kind", ["blobs", "uniform", "peaked"])
def test_star_equals_the_official_algorithm(shape, kind):
    # measured (20 seeds, these shapes and 64 x 64): value <= 4e-14, gradient <= 2e-12 relative. Asserted: 1e-5.
    b, k, h, w = shape
    worst = [0.0, 0.0]
    for seed in range(4):
        g = torch.Generator().manual_seed(seed)
        if kind == "blobs":
            heatmaps, centre = blob_maps(shape, g)
            # errors from inside the smooth-L1 quadratic zone (0.02 px) to well into the L1 zone (2 px)
            spread = torch.tensor([0.02, 0.3, 2.0], dtype=D)[torch.randint(0, 3, (b, k, 1), generator=g)]
            target = centre + torch.randn(b, k, 2, generator=g, dtype=D) * spread
        else:
            heatmaps = torch.rand(*shape, generator=g, dtype=D)
            if kind == "peaked":  # sum P^2 far from 0: the denominator form matters here
                heatmaps = heatmaps ** 12
            target = torch.rand(b, k, 2, generator=g, dtype=D) * torch.tensor([w - 1, h - 1], dtype=D)
        worst = [max(x, y) for x, y in zip(worst, relative_differences(heatmaps, target))]
    assert worst[0] < 1e-5 and worst[1] < 1e-5, worst


def sharp_map():
    """(1, 1, 16, 16): a near one-hot map (masses 1, 0.5, 0.02, 0.01 on four pixels over a 1e-4 background):
    sum P^2 ~ 0.5 and a nearly rank-1 covariance (small l1), where the denominator form and the floor matter."""
    hm = torch.full((1, 1, 16, 16), 1e-4, dtype=D)
    hm[0, 0, 7, 7], hm[0, 0, 9, 9], hm[0, 0, 7, 8], hm[0, 0, 8, 7] = 1.0, 0.5, 0.02, 0.01
    return hm


def test_sharp_map_needs_the_official_denominator_and_a_small_floor():
    """On a sharp map the official V1 - V2/V1 and the textbook 1 - sum P^2 differ by more than 1e-5 relative, so
    only the former meets the 1e-5 agreement; and a floor of mass 1e-8 (the W2 default) would not either."""
    hm, target = sharp_map(), torch.tensor([[[7.4, 7.7]]], dtype=D)
    value, grad = relative_differences(hm, target)
    assert value < 1e-8 and grad < 1e-8
    mass = 1.53 + 252 * 1e-4
    sum_p2 = (1 + 0.25 + 4e-4 + 1e-4 + 252 * 1e-8) / mass ** 2  # = 0.5239
    mean, biased = relu_moments(hm, target)
    _, official = relu_moments(hm, target, unbiased=True, bessel_eps=1e-5)
    _, textbook = relu_moments(hm, target, unbiased=True)
    torch.testing.assert_close(official, biased / (1.00001 - (sum_p2 + 1e-5) / 1.00001), rtol=1e-7, atol=0)
    torch.testing.assert_close(textbook, biased / (1 - sum_p2), rtol=1e-7, atol=0)
    assert ((textbook - official) / official).abs().max() > 1e-5
    one_hot = torch.zeros(1, 1, 16, 16, dtype=D)
    one_hot[0, 0, 7, 7], one_hot[0, 0, 7, 8] = 1.0, 1e-3
    ours, ref = star_per_landmark(one_hot, target).mean(), official_star_v2(one_hot, target)
    assert abs(ours.item() - ref.item()) / ref.item() < 1e-6
    _, cov_w2_floor = relu_moments(one_hot, target, unbiased=True, eps=1e-8, bessel_eps=1e-5)
    _, cov_star_floor = relu_moments(one_hot, target, unbiased=True, eps=1e-14, bessel_eps=1e-5)
    assert ((cov_w2_floor - cov_star_floor) / cov_star_floor).abs().max() > 0.01


def test_zero_pixels_get_no_gradient_as_under_relu():
    """Where H == 0 exactly our gradient is relu'(0) = 0; the official H / sum H passes one through (its own network
    feeds it in+relu maps, so the composed gradient is the same). Everywhere else they agree."""
    hm, target = sharp_map(), torch.tensor([[[7.4, 7.7]]], dtype=D)
    hm[0, 0, :3] = 0.0
    h1, h2 = hm.clone().requires_grad_(True), hm.clone().requires_grad_(True)
    STARLoss()(h1, target).backward()
    official_star_v2(h2, target).backward()
    zero = hm == 0
    assert (h1.grad[zero] == 0).all() and (h2.grad[zero] != 0).all()
    torch.testing.assert_close(h1.grad[~zero], h2.grad[~zero], rtol=1e-6, atol=1e-9 * h2.grad.abs().max().item())


def test_cpu_eigh_returns_symmetric_eigenvector_matrices_so_rows_are_columns():
    """What the official row indexing relies on (module docstring): for 2x2 input, torch's CPU eigh returns U with
    U == U^T bit for bit (a reflection for generic matrices), so evectors[..., 0, :] == evectors[..., :, 0]."""
    g = torch.Generator().manual_seed(7)
    for dtype in (torch.float32, D):
        a = torch.randn(5000, 2, 2, generator=g, dtype=dtype)
        cov = torch.cat([a @ a.transpose(-1, -2), torch.diag_embed(torch.rand(50, 2, generator=g, dtype=dtype))])
        _, evecs = torch.linalg.eigh(cov)
        assert torch.equal(evecs, evecs.transpose(-1, -2))


def test_unit_is_two_over_n_minus_one():
    from lab.losses.star import normalised_unit
    like = torch.zeros((), dtype=D)
    torch.testing.assert_close(normalised_unit(24, 32, like), torch.tensor([2 / 31, 2 / 23], dtype=D))
    with pytest.raises(ValueError, match="h, w >= 2"):
        normalised_unit(1, 8, like)


# ---------------------------------------------------------------------------------------------- hand values


def test_error_along_one_eigenvector_moves_only_that_term():
    size, cx, cy, a, b = 32, 15, 15, 4, 2
    hm = cross_map(size, cx, cy, a, b)
    unit = 2.0 / (size - 1)  # one pixel in the official [-1, 1] units: 2/31
    l_major = BESSEL4 * a * a * unit ** 2  # along u = (1, 1)/sqrt2: 1.3333289 * 16 * 4 / 961 = 0.0887961
    l_minor = BESSEL4 * b * b * unit ** 2  # along v = (1, -1)/sqrt2: 1.3333289 * 4 * 4 / 961 = 0.0221990
    base = l_major + l_minor  # e = 0: only the eigenvalue restriction, w = 1
    assert loss_at(hm, (cx, cy)) == pytest.approx(base, rel=1e-6)
    base = loss_at(hm, (cx, cy))  # the computed one: the uniform floor's ~1e-8 relative shift of l1, l2 cancels
    for t in (0.05, 0.1, 2.0, 5.0):  # px: quadratic zone (t*unit < 0.01) and L1 zone
        along_u = loss_at(hm, (cx + t / math.sqrt(2), cy + t / math.sqrt(2)))
        along_v = loss_at(hm, (cx + t / math.sqrt(2), cy - t / math.sqrt(2)))
        assert along_u - base == pytest.approx(smooth_l1(t * unit) / math.sqrt(l_major + EPS), rel=1e-6)
        assert along_v - base == pytest.approx(smooth_l1(t * unit) / math.sqrt(l_minor + EPS), rel=1e-6)
    # the numbers by hand for t = 2 px = 4/31 = 0.1290323: smooth-L1 = 0.1290323 - 0.005 = 0.1240323;
    # 0.1240323 / sqrt(0.0887961 + 1e-5) = 0.416211; plus the eigenvalue penalty 0.0887961 + 0.0221990 = 0.1109951
    assert loss_at(hm, (cx + 2 / math.sqrt(2), cy + 2 / math.sqrt(2))) == pytest.approx(0.1109951 + 0.416211, rel=1e-5)


def test_perfect_isotropic_prediction_is_the_eigenvalue_penalty():
    hm = iso_map()
    # biased variance a^2/2 = 4.5 px^2 per axis, unbiased (x BESSEL4 = 1.3333289) 5.99998 px^2
    # = 5.99998 * (2/30)^2 = 0.0266666 in [-1, 1] units^2 (31 px: one pixel is 2/30)
    assert loss_at(hm, (15, 15)) == pytest.approx(2 * 0.0266666, rel=1e-5)


def test_isotropic_sum_invariant_to_the_error_direction_in_the_quadratic_zone():
    hm, c, lam = iso_map(), 15, BESSEL4 * 4.5 * (2 / 30) ** 2
    r = 0.1  # px -> 0.00667 in [-1, 1] units, inside s = 0.01 for every direction
    values = [loss_at(hm, (c + r * math.cos(t), c + r * math.sin(t))) for t in torch.linspace(0, 3, 7).tolist()]
    assert max(values) - min(values) < 1e-14
    expected = 2 * lam + (r * 2 / 30) ** 2 / (2 * S) / math.sqrt(lam + EPS)
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
    assert spec.input == "heatmap" and spec.decoder == "relu_mean"  # the official decoder_default
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
