"""2D Wasserstein losses (Yan et al., "2D Wasserstein Loss for Robust Facial Landmark Detection", 2020).

The pages we have do not settle which form the paper trains with, so the lab offers both:

"w2" -- closed form on moments. P = relu(H) / sum relu(H); mu, S = mean and (biased) covariance of P; the target
is N(g, sigma^2 I). For Gaussians with an isotropic target (Bures metric, sqrt(S) by its trace identity)

    W2^2 = |mu - g|^2 + tr S + 2 sigma^2 - 2 sigma tr(S^1/2),   tr(S^1/2) = sqrt(tr S + 2 sqrt(det S)).

It is also the Gelbrich lower bound of the exact W2^2 between *any* two distributions with these moments.
Units: heatmap pixels squared. The square roots are floored (det at eps^2, the outer argument at eps, eps = 1e-6
px^2) so one-hot or line-shaped maps (det S = 0) have finite gradients.

"w2_sinkhorn" -- entropic optimal transport on the grid, solved by POT (`ot.solve_batch`, log-domain Sinkhorn,
torch backend, batched over landmarks) between a = relu(H) / sum relu(H) over all h*w pixels and b = the
Gaussian target map N(g, sigma^2 I) sampled on the grid and normalised, kept on the (2r+1)^2 window around g,
r = ceil(truncate * sigma) (truncate = 4 as in scipy.ndimage: the dropped mass is < 2e-4 of the target);
cost |q - t|^2 in px^2; `reg` (epsilon) in px^2. The value is the KL-regularised OT cost

    OT_eps(a, b) = min_{T in U(a,b)} <T, M> + eps KL(T | a x b) = eps (<a, u - log a> + <b, v - log b>)

(the dual value at POT's log-scalings u, v; >= 0 and -> exact W2^2 as eps -> 0). Its gradient with respect to
the predicted map is the envelope-theorem one: u, v are the solver's converged potentials, held fixed, so no
backward pass runs through the Sinkhorn iterations. Entropic bias: 0 <= OT_eps - W2^2 <= eps min(H(a), H(b))
(about 2.5 px^2 at eps = 1 px^2 on the tests' 12x12 case, shrinking ~linearly with eps; iterations grow ~1/eps).
The self-transport terms of the debiased Sinkhorn divergence are not included (OT(a, a) would be a dense
h*w x h*w problem), so the minimiser over a of OT_eps(., b) is a slightly sharpened b for eps > 0.

Cost: O(iterations * N * h*w * (2r+1)^2) time, O(chunk * h*w * (2r+1)^2) memory for N visible landmarks; with
64x64 maps and sigma = 1.5 that is 4096 x 169 entries per landmark per half-iteration, and a mid-training map
needs ~560 iterations at eps = 1 px^2: ~5 s per landmark on one CPU core (hours for a 32 x 68 batch, ~1e5 x
heatmap MSE; see benchmarks/losses.py). A reference for small experiments or a GPU, not a CPU training loss. POT
has no separable (convolutional) OT distance for images and geomloss's grid solver needs KeOps; a separable,
epsilon-scaled Sinkhorn would cost h*w*(h+w) per step and far fewer steps, but would be our own solver.

Both are evaluated with the barycenter decoder (local window around the argmax), as the paper proposes.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from lab.moments import coordinate_grid, normalize, relu_moments
from lab.losses._reduce import check_heatmaps, masked_mean
from lab.losses.registry import LossSpec, register

Tensor = torch.Tensor


def w2_isotropic(mean: Tensor, cov: Tensor, target: Tensor, sigma: float, eps: float = 1e-6) -> Tensor:
    """Closed-form W2^2 between N(mean, cov) and N(target, sigma^2 I), in the unit of the coordinates squared.

    mean: (..., 2), cov: (..., 2, 2), target: (..., 2). Returns (...).
    """
    shift = (mean - target).square().sum(-1)
    a, b, c = cov[..., 0, 0], cov[..., 0, 1], cov[..., 1, 1]
    trace = a + c
    sqrt_det = torch.sqrt((a * c - b * b).clamp_min(eps * eps))
    trace_sqrt = torch.sqrt((trace + 2.0 * sqrt_det).clamp_min(eps))
    return shift + trace + 2.0 * sigma * sigma - 2.0 * sigma * trace_sqrt


def w2_per_landmark(heatmaps: Tensor, target: Tensor, sigma: float, eps: float = 1e-6) -> Tensor:
    """Closed-form W2^2 between relu-normalised maps and N(g, sigma^2 I). (B, K, h, w), (B, K, 2) -> (B, K)."""
    mean, cov = relu_moments(heatmaps, target)
    return w2_isotropic(mean, cov, target.to(heatmaps.dtype), sigma, eps)


def gaussian_window_target(target: Tensor, size: tuple[int, int], sigma: float, radius: int
                           ) -> tuple[Tensor, Tensor, Tensor]:
    """The normalised Gaussian target map restricted to the (2r+1)^2 pixel window around each point.

    target: (N, 2) heatmap-pixel (x, y); size: (h, w). Returns xs (N, 2r+1) and ys (N, 2r+1), the window's pixel
    columns and rows (the window's pixels are their outer product), and weights (N, 2r+1, 2r+1) [row, column]
    summing to 1 over the pixels that lie on the grid (0 elsewhere). Normalised in the log domain, so a point far
    off the map still gets a valid distribution (its window is clamped to touch the map).
    """
    h, w = size
    offsets = torch.arange(-radius, radius + 1, device=target.device, dtype=target.dtype)
    cx = target[:, 0].detach().round().clamp(0, w - 1)
    cy = target[:, 1].detach().round().clamp(0, h - 1)
    xs, ys = cx[:, None] + offsets, cy[:, None] + offsets
    lx = -(xs - target[:, :1]).square() / (2 * sigma * sigma)
    ly = -(ys - target[:, 1:]).square() / (2 * sigma * sigma)
    lx = lx.masked_fill((xs < 0) | (xs > w - 1), -math.inf)
    ly = ly.masked_fill((ys < 0) | (ys > h - 1), -math.inf)
    logits = ly[:, :, None] + lx[:, None, :]
    weights = torch.softmax(logits.flatten(1), dim=-1).view_as(logits)
    return xs, ys, weights


def grid_cost(size: tuple[int, int], xs: Tensor, ys: Tensor) -> Tensor:
    """Squared-Euclidean cost from every grid pixel to every window pixel: (N, h*w, (2r+1)^2) in px^2.

    xs, ys: (N, 2r+1) window columns and rows. Separable: |q - t|^2 = (qx - tx)^2 + (qy - ty)^2.
    """
    h, w = size
    gx, gy = coordinate_grid(h, w, xs.device, xs.dtype)
    cx = (gx[None, :, None] - xs[:, None, :]).square()  # (N, w, 2r+1)
    cy = (gy[None, :, None] - ys[:, None, :]).square()  # (N, h, 2r+1)
    cost = cy[:, :, None, :, None] + cx[:, None, :, None, :]  # (N, h, w, 2r+1, 2r+1)
    n = xs.shape[0]
    return cost.reshape(n, h * w, -1)


def _dual_term(mass: Tensor, log_scaling: Tensor) -> Tensor:
    """sum_i m_i (s_i - log m_i) over the last dim, 0 where m_i = 0 (there s_i - log m_i is finite but -inf - -inf)."""
    pos = mass > 0
    gap = torch.where(pos, log_scaling - torch.log(torch.where(pos, mass, torch.ones_like(mass))), 0.0)
    return (mass * gap).sum(-1)


def sinkhorn_cost(a: Tensor, b: Tensor, cost: Tensor, reg: float, max_iter: int = 1000,
                  tol: float = 1e-5) -> Tensor:
    """KL-regularised OT cost eps (<a, u - log a> + <b, v - log b>) with POT's batched log-domain Sinkhorn.

    a: (N, n) source weights (differentiable), b: (N, m) target weights, cost: (N, n, m), reg = eps in the unit of
    `cost`. Returns (N,). The gradient w.r.t. a is the envelope one (potentials held fixed at convergence).
    """
    from ot import solve_batch  # POT; imported here so the closed-form losses do not need it

    res = solve_batch(cost.detach(), reg=reg, a=a.detach(), b=b.detach(), max_iter=max_iter, tol=tol,
                      method="log_sinkhorn", reg_type="kl", grad="detach")
    u, v = (p.detach() for p in res.potentials)
    return reg * (_dual_term(a, u) + _dual_term(b, v))


def w2_sinkhorn_values(p: Tensor, target: Tensor, sigma: float, reg: float, truncate: float = 4.0,
                       max_iter: int = 1000, tol: float = 1e-5, chunk_elements: int = 1 << 24) -> Tensor:
    """Entropic OT cost between distributions p (N, h, w) and their Gaussian window targets. target (N, 2) -> (N,).

    Landmarks are solved in chunks of at most `chunk_elements` cost-matrix entries.
    """
    n, h, w = p.shape
    radius = max(1, math.ceil(truncate * sigma))
    xs, ys, weights = gaussian_window_target(target.to(p.dtype), (h, w), sigma, radius)
    per = max(1, chunk_elements // (h * w * (2 * radius + 1) ** 2))
    out = []
    for s in range(0, n, per):
        cost = grid_cost((h, w), xs[s:s + per], ys[s:s + per])
        out.append(sinkhorn_cost(p[s:s + per].flatten(1), weights[s:s + per].flatten(1), cost, reg, max_iter, tol))
    return torch.cat(out) if out else p.new_zeros(0)


class W2Loss(nn.Module):
    """Closed-form 2D Wasserstein loss W2^2(N(mu, S), N(g, sigma^2 I)) in heatmap px^2, mean over visible landmarks.

    sigma: target std in heatmap pixels. eps: sqrt floor (px^2).
    forward(heatmaps (B,K,h,w), target (B,K,2) heatmap px, visible (B,K) bool | None) -> scalar.
    """

    def __init__(self, sigma: float = 1.5, eps: float = 1e-6):
        super().__init__()
        if sigma <= 0 or eps <= 0:
            raise ValueError(f"w2: sigma and eps must be > 0 (heatmap px, px^2); got sigma={sigma}, eps={eps}")
        self.sigma, self.eps = float(sigma), float(eps)

    def forward(self, heatmaps: Tensor, target: Tensor, visible: Tensor | None = None) -> Tensor:
        check_heatmaps(heatmaps, target)
        return masked_mean(w2_per_landmark(heatmaps, target, self.sigma, self.eps), visible)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}, eps={self.eps}"


class W2SinkhornLoss(nn.Module):
    """Entropic-OT 2D Wasserstein loss on the grid (POT log-domain Sinkhorn), mean over visible landmarks.

    sigma: target std (heatmap px); reg: entropic regularisation eps (px^2); truncate: target window radius in
    sigmas; max_iter, tol: Sinkhorn stopping (tol on the L2 marginal error); chunk_elements: memory cap.
    Only visible landmarks are solved. forward(heatmaps (B,K,h,w), target (B,K,2), visible (B,K) | None) -> scalar.
    """

    def __init__(self, sigma: float = 1.5, reg: float = 1.0, truncate: float = 4.0, max_iter: int = 1000,
                 tol: float = 1e-5, chunk_elements: int = 1 << 24):
        super().__init__()
        if sigma <= 0 or reg <= 0 or truncate <= 0 or max_iter < 1 or tol <= 0 or chunk_elements < 1:
            raise ValueError(f"w2_sinkhorn: sigma, reg, truncate, tol must be > 0 and max_iter, chunk_elements "
                             f">= 1; got sigma={sigma}, reg={reg}, truncate={truncate}, max_iter={max_iter}, "
                             f"tol={tol}, chunk_elements={chunk_elements}")
        self.sigma, self.reg, self.truncate, self.tol = float(sigma), float(reg), float(truncate), float(tol)
        self.max_iter, self.chunk_elements = int(max_iter), int(chunk_elements)

    def forward(self, heatmaps: Tensor, target: Tensor, visible: Tensor | None = None) -> Tensor:
        check_heatmaps(heatmaps, target)
        bsz, k, h, w = heatmaps.shape
        keep = torch.ones(bsz * k, dtype=torch.bool, device=heatmaps.device) if visible is None \
            else visible.to(device=heatmaps.device, dtype=torch.bool).reshape(-1)
        if not bool(keep.any()):
            return heatmaps.sum() * 0.0  # nothing visible: zero with a grad_fn
        p = normalize(heatmaps.reshape(bsz * k, h, w)[keep], "relu")  # only the visible maps are solved
        g = target.to(heatmaps.dtype).reshape(bsz * k, 2)[keep]
        solved = w2_sinkhorn_values(p, g, self.sigma, self.reg, self.truncate, self.max_iter, self.tol,
                                    self.chunk_elements)
        values = heatmaps.new_zeros(bsz * k).masked_scatter(keep, solved)
        return masked_mean(values.view(bsz, k), visible)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}, reg={self.reg}, truncate={self.truncate}, max_iter={self.max_iter}, tol={self.tol}"


register(LossSpec(
    name="w2",
    build=W2Loss,
    input="heatmap",
    decoder="barycenter",
    paper="Yan et al., 2D Wasserstein Loss for Robust Facial Landmark Detection, 2020 (closed form on moments)",
    equation="|mu-g|^2 + tr S + 2 sigma^2 - 2 sigma sqrt(tr S + 2 sqrt(det S)), P = relu(H)/sum relu(H)",
    defaults={"sigma": 1.5, "eps": 1e-6},
    map_activation="in+relu",
))

register(LossSpec(
    name="w2_sinkhorn",
    build=W2SinkhornLoss,
    input="heatmap",
    decoder="barycenter",
    paper="Yan et al., 2D Wasserstein Loss for Robust Facial Landmark Detection, 2020 (grid entropic OT, POT)",
    equation="min_T <T,|q-t|^2> + reg KL(T | a x b), a = relu(H)/sum, b = normalised N(g, sigma^2 I) on the grid",
    defaults={"sigma": 1.5, "reg": 1.0, "truncate": 4.0, "max_iter": 1000, "tol": 1e-5, "chunk_elements": 1 << 24},
    map_activation="in+relu",
))
