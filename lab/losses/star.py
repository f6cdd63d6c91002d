"""STAR loss (Zhou et al., "STAR Loss: Reducing Semantic Ambiguity in Facial Landmark Detection", CVPR 2023).

The form the official code trains with (`STARLoss_v2`, lib/loss/starLoss_v2.py of ZhenglinZhou/STAR, with its
lib/loss/smoothL1Loss.py; in the paper's terms: the ambiguity-guided decomposition of the error along the
eigenvectors of the predicted covariance, plus the eigenvalue restriction):

    P = H / sum H                          (here relu(H) + a uniform floor of total mass 1e-14, so negative/empty maps
                                            stay finite)
    mu = sum_q P(q) q
    Sigma = sum_q P(q) (q - mu)(q - mu)^T / (V1 - V2 / V1),  V1 = sum P + 1e-5,  V2 = sum P^2 + 1e-5
                                           (unbiased weighted covariance with reliability weights, the official
                                            denominator and epsilons; V1 - V2/V1 >= 1e-5 > 0 for any distribution)
    Sigma = U diag(l1, l2) U^T,  l1 <= l2,  u1, u2 = columns of U        (closed-form 2x2, no eigh, no CPU copy)
    e = g - mu
    L = d(u1 . e) / sqrt(l1 + eps) + d(u2 . e) / sqrt(l2 + eps) + w (|l1| + |l2|)
    d(x) = smooth-L1 with threshold s: x^2 / (2 s) if |x| < s else |x| - s / 2;  s = 0.01, eps = 1e-5, w = 1
    loss = mean of L over the visible landmarks

Units, as the official code has them: e, mu, Sigma and therefore l1, l2 are in the official *normalised*
coordinates, whose grid is arange(n) / (n - 1) * 2 - 1: the first and last pixel *centres* map to -1 and +1,
x_n = 2 x / (w - 1) - 1, y_n = 2 y / (h - 1) - 1 (x, y in our pixel-centre heatmap pixels). One heatmap pixel is
therefore 2 / (w - 1) horizontally and 2 / (h - 1) vertically (`normalised_unit`; the two differ on non-square
maps), not 2 / w. At w = 64: s = 0.01 is 0.315 heatmap px, sqrt(eps) = 0.0032 is 0.1 px, and the eigenvalue
penalty w (|l1| + |l2|) is in normalised units squared: a sigma = 1.5 px blob has l = (1.5 * 2 / 63)^2 = 2.3e-3.
Maps need h, w >= 2 (the official grid divides by n - 1).

Measured agreement (tests/test_star.py, an independent float64 re-implementation of the official algorithm:
clamp(sum H, 1e-6) normalisation, materialised [-1, 1] grid, V1 - V2/V1 denominator, torch.linalg.eigh on the
CPU with the official row indexing, the official SmoothL1Loss), 20 seeds each of random Gaussian blobs plus
uniform noise, pure uniform maps and peaked (uniform^12) maps, shapes (2, 5, 16, 16), (1, 3, 32, 24),
(3, 4, 9, 13), (2, 3, 64, 64): max relative difference of the value 4e-14, of the gradient w.r.t. H 2e-12 (relative
to its largest entry); a near one-hot map 9e-14 / 5e-13. The tests assert 1e-5. In float32 our value is within
1.1e-6 of the float64 official one (the official's own float32 run: 2.5e-7). What had to change for this: the unit
(2/w -> 2/(w-1): 9 % on the value), the denominator (the textbook 1 - sum P^2 differs from V1 - V2/V1 by
~1e-5 sum P^2 / (1 - sum P^2) relative: > 1e-5 on sharp maps) and the floor (mass 1e-8 moves a near one-hot map's
loss by 8 %; STAR uses STAR_FLOOR = 1e-14).

Eigenvector indexing (checked): the official code takes `evectors[:, :, 0]` of the (B, K, 2, 2) eigh output as
the "normal" vector, i.e. *row* 0 of each matrix (and row 1 as the "tangent"), while torch.linalg.eigh returns
eigenvectors as *columns*. For 2x2 input, CPU LAPACK (torch 2.x here) returns U bit-exactly symmetric: a
reflection [[c, s], [s, -c]] (det -1) for every generic matrix we tried (2e5 random ones, float32 and float64),
and I or the swap [[0, 1], [1, 0]] for matrices that are already diagonal. So row i == column i and the official
code does pair u1 with the smaller eigenvalue l1 and u2 with l2, as the paper says; we index columns explicitly.
The gradients agree too, because a small perturbation keeps U a reflection (still symmetric). The one exception is
an exactly diagonal covariance with l1 < l2, where LAPACK returns U = I (a rotation): there the official row
indexing gives the off-diagonal gradient of Sigma with the opposite sign to the column (true eigenvector)
derivative that eig2x2 gives -- measure zero, e.g. exactly axis-symmetric synthetic maps.

Pairing (as in the official code): the eigenvalues are ascending; u1 (the eigenvector of the *smaller*
eigenvalue, the official "normal" direction) is divided by sqrt(l1 + eps), u2 ("tangent", larger variance) by
sqrt(l2 + eps). The official SmoothL1Loss computes sqrt(clamp(x^2, 1e-6)) for the L1 branch; with s^2 = 1e-4 >
1e-6 that clamp is never selected, so it equals torch's smooth_l1_loss(beta=s) (value and gradient).

Deviations (guards only; none is active on positive maps with distinct eigenvalues): P = relu(H) + floor
instead of H / clamp(sum H, 1e-6) (negative or all-zero maps stay finite; the floor moves the loss by
~5e4 * 1e-14 / sum relu(H) relative, so maps of total mass below ~5e-5 differ by more than 1e-5 -- the official clamp
at 1e-6 behaves differently there anyway); at pixels where H == 0 exactly our gradient is relu'(0) = 0 while the
official H / sum H passes one through (the official network feeds the loss "in+relu" maps, so the gradient w.r.t.
its pre-activation is the same as ours); l1, l2 are clamped at 0 before `+ eps`
(Sigma is PSD up to rounding); near isotropy (l1 == l2) the eigenvectors are arbitrary: the closed form falls
back to the axes when the eigenvalue gap is exactly zero, so value and gradient stay finite. While both
projections are inside the quadratic zone (|u . e| < s) the sum of the two terms is invariant to the choice of
basis, so the value there is well defined; in the L1 zone it is not (|p1| + |p2| depends on the basis), and -- as
with the official eigh -- the gradient through the eigenvectors grows like 1 / (l2 - l1) near isotropy. That is a
property of the loss, kept as published.

Decoder: the official code evaluates with `decoder_default`, the *global* weighted mean of H / sum H (the same
mu the loss trains) -- a soft decoder, not argmax: "relu_mean" (lab.heatmaps), registered here. Measured on the
reference runs (hourglass x0.25, in+relu maps, 24 / 45 epochs): STAR alone keeps its maps wide (spread ~19 px on
LFPW), so a window around the argmax reads its noisiest pixel: NME_io 15.0 % on the LFPW validation split and
32.5 % on synthetic full with "barycenter" (window 9) against 5.7 % and 14.9 % with the full-map mean it trained.
(Version-1 runs keep "barycenter", window 5: their configs say so.)
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lab.moments import relu_moments
from lab.losses._reduce import check_heatmaps, masked_mean
from lab.losses.registry import LossSpec, register

Tensor = torch.Tensor


COV_EPS = 1e-5  # the official unbiased_weighted_covariance's EPSILON (fixed there, independent of the loss's eps)
# Total mass of the uniform floor STAR mixes into relu(H) (module docstring). Its variance competes with l + eps
# (eps = 1e-5 normalised units^2), moving the loss by up to ~5e4 * STAR_FLOOR / sum relu(H) relative: 1e-14 keeps that
# under 1e-5 down to a map mass of ~5e-5 (the W2 default, 1e-8, would cost 8 % on a near one-hot map).
STAR_FLOOR = 1e-14


def normalised_unit(h: int, w: int, like: Tensor) -> Tensor:
    """Size of one heatmap pixel in the official [-1, 1] coordinates per axis: (2 / (w - 1), 2 / (h - 1)), a (2,)
    tensor like `like`.

    The official grid is arange(n) / (n - 1) * 2 - 1: pixel centres 0 and n - 1 map to -1 and +1,
    x_n = 2 x / (w - 1) - 1, y_n = 2 y / (h - 1) - 1. Needs h, w >= 2.
    """
    if h < 2 or w < 2:
        raise ValueError(f"star: maps need h, w >= 2 (the [-1, 1] grid divides by n - 1), got {h} x {w}")
    return torch.tensor([2.0 / (w - 1), 2.0 / (h - 1)], dtype=like.dtype, device=like.device)


def _where_sqrt(x: Tensor, ok: Tensor) -> Tensor:
    """sqrt(x) where `ok`, else 0, with a finite gradient everywhere (the double-where trick)."""
    return torch.where(ok, torch.sqrt(torch.where(ok, x, torch.ones_like(x))), torch.zeros_like(x))


def eig2x2(cov: Tensor) -> tuple[Tensor, Tensor]:
    """Closed-form eigen-decomposition of symmetric 2x2 matrices, vectorised, differentiable, on any device.

    cov: (..., 2, 2). Returns eigenvalues (..., 2) ascending (l1 <= l2, like torch.linalg.eigh) and
    eigenvectors (..., 2, 2) whose *columns* are the unit eigenvectors: [..., :, 0] for l1, [..., :, 1] for l2.
    For an exactly isotropic matrix (l1 == l2) the columns are the axes (x for l1, y for l2).
    Eigenvector signs are arbitrary (they do not matter for STAR: d is even).
    """
    a, b, c = cov[..., 0, 0], cov[..., 0, 1], cov[..., 1, 1]
    mean = 0.5 * (a + c)
    half = 0.5 * (a - c)
    r2 = half.square() + b.square()
    ok = r2 > 0
    r = _where_sqrt(r2, ok)
    evals = torch.stack([mean - r, mean + r], dim=-1)
    # The major direction (cos t, sin t), t = atan2(b, half) / 2, as the bisector of (half, b) and the x axis;
    # of the two parallel forms (r + half, b) and (b, r - half) take the one that cannot cancel, |.|^2 = 2r(r+|half|).
    pos = half >= 0
    vx = torch.where(pos, r + half, b)
    vy = torch.where(pos, b, r - half)
    norm = _where_sqrt(2.0 * r * (r + half.abs()), ok)
    inv = torch.where(ok, 1.0 / torch.where(ok, norm, torch.ones_like(norm)), torch.zeros_like(norm))
    major_x = torch.where(ok, vx * inv, torch.zeros_like(vx))
    major_y = torch.where(ok, vy * inv, torch.ones_like(vy))
    minor = torch.stack([-major_y, major_x], dim=-1)  # l1's eigenvector: the major one rotated by +90 degrees
    major = torch.stack([major_x, major_y], dim=-1)
    return evals, torch.stack([minor, major], dim=-1)


def star_per_landmark(heatmaps: Tensor, target: Tensor, w: float = 1.0, eps: float = 1e-5,
                      beta: float = 0.01, cov_eps: float = COV_EPS) -> Tensor:
    """Per-landmark STAR v2 loss (Zhou et al. CVPR 2023, official STARLoss_v2; equations in the module docstring).

    heatmaps: (B, K, h, w) raw maps, h, w >= 2. target: (B, K, 2) heatmap-pixel (x, y). cov_eps: the epsilon of
    the unbiased denominator V1 - V2/V1 (official 1e-5). Returns (B, K).
    """
    h, wd = heatmaps.shape[-2:]
    unit = normalised_unit(h, wd, heatmaps)
    mu, cov = relu_moments(heatmaps, target, unbiased=True, eps=STAR_FLOOR, bessel_eps=cov_eps)
    err = (target.to(heatmaps.dtype) - mu) * unit  # (B, K, 2) in [-1, 1] units (the -1 offsets cancel)
    cov = cov * (unit[:, None] * unit[None, :])
    evals, evecs = eig2x2(cov)
    evals = evals.clamp_min(0.0)
    proj = (evecs * err[..., :, None]).sum(dim=-2)  # (B, K, 2): u1 . e, u2 . e
    dist = F.smooth_l1_loss(proj, torch.zeros_like(proj), reduction="none", beta=beta)
    return (dist / torch.sqrt(evals + eps)).sum(-1) + w * evals.abs().sum(-1)


class STARLoss(nn.Module):
    """STAR v2 loss (Zhou et al. CVPR 2023, official STARLoss_v2; module docstring), averaged over visible landmarks.

    w: eigenvalue-restriction weight (official 1). eps: added to the eigenvalues under the sqrt (official 1e-5,
    normalised units^2). beta: smooth-L1 threshold s in [-1, 1] units (official 0.01), one heatmap pixel being
    2 / (map width - 1) of them horizontally, 2 / (map height - 1) vertically.
    forward(heatmaps (B,K,h,w), target (B,K,2) heatmap px, visible (B,K) bool | None) -> scalar.
    """

    def __init__(self, w: float = 1.0, eps: float = 1e-5, beta: float = 0.01):
        super().__init__()
        if w < 0 or eps <= 0 or beta <= 0:
            raise ValueError(f"star: need w >= 0, eps > 0, beta > 0; got w={w}, eps={eps}, beta={beta}")
        self.w, self.eps, self.beta = float(w), float(eps), float(beta)

    def forward(self, heatmaps: Tensor, target: Tensor, visible: Tensor | None = None) -> Tensor:
        check_heatmaps(heatmaps, target)
        return masked_mean(star_per_landmark(heatmaps, target, self.w, self.eps, self.beta), visible)

    def extra_repr(self) -> str:
        return f"w={self.w}, eps={self.eps}, beta={self.beta}"


register(LossSpec(
    name="star",
    build=STARLoss,
    input="heatmap",
    decoder="relu_mean",
    paper="Zhou et al., STAR Loss, CVPR 2023 (official STARLoss_v2)",
    equation="d(u1.e)/sqrt(l1+eps) + d(u2.e)/sqrt(l2+eps) + w(|l1|+|l2|), Sigma=U diag(l1,l2) U^T unbiased, "
             "e=g-mu in [-1,1] units (pixel centres 0, n-1 -> -1, 1), d=smooth-L1(s)",
    defaults={"w": 1.0, "eps": 1e-5, "beta": 0.01},
    map_activation="in+relu",
))
