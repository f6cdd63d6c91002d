"""Evaluation metrics for face alignment: normalisers, NME, CED, FR@t, AUC@t, subset tables, heatmap spread, jitter.

Conventions (DESIGN.md, "Metrics"):
- NME of one face = mean over its visible landmarks of |p_k - g_k| / d, d the face's normaliser.
- CED(x) = fraction of faces with NME <= x.  FR@t = fraction with NME > t = 1 - CED(t).
- AUC@t = (1 / t) * integral_0^t CED(x) dx, computed with `scipy.integrate.simpson` on the uniform grid
  x_i = i * t / n, i = 0..n, n = round(t / step) (so the grid ends exactly at t; step 1e-4 and t = 0.1 give
  n = 1000). CED is a step function, so Simpson's rule on it is exact only up to O(step) per jump; the
  closed form for comparison is mean(max(0, t - NME)) / t.

Inputs are numpy arrays (torch tensors are accepted and converted); outputs are numpy arrays, floats or a
pandas DataFrame, except `heatmap_spread`, which returns a tensor for a tensor input (it runs on the maps' device). Points are (x, y) in the pixel-centre convention; normalisers are in the same pixels.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from scipy.integrate import simpson

from lab.moments import expectation, coordinate_grid
from lab.schema import Scheme, get_scheme

NORMALISERS = ("inter_ocular", "inter_pupil", "box", "diagonal")


def _array(x, name: str, ndim: int | None = None) -> np.ndarray:
    """numpy float64 copy of a numpy array / torch tensor / sequence, checking its number of dimensions."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    a = np.asarray(x, dtype=np.float64)
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim} dimensions, got shape {a.shape}")
    return a


def _points(x, name: str) -> np.ndarray:
    """(N, K, 2) float64 landmarks."""
    a = _array(x, name, 3)
    if a.shape[-1] != 2:
        raise ValueError(f"{name}: expected shape (N, K, 2), got {a.shape}")
    return a


def _scheme(scheme: Scheme | int | str) -> Scheme:
    return scheme if isinstance(scheme, Scheme) else get_scheme(scheme)


def _nmes(nmes, name: str = "nmes") -> np.ndarray:
    """(N,) finite float64 per-face NMEs, N >= 1."""
    a = _array(nmes, name).ravel()
    if a.size == 0:
        raise ValueError(f"{name}: empty; need at least one face")
    bad = np.flatnonzero(~np.isfinite(a))
    if bad.size:
        raise ValueError(f"{name}: non-finite NME at face index {int(bad[0])} ({a[bad[0]]})")
    return a


def _tight_boxes(gt: np.ndarray, visible: np.ndarray | None) -> np.ndarray:
    """(N, 4) x_min, y_min, x_max, y_max of each face's (visible) ground-truth points."""
    mask = np.ones(gt.shape[:2], bool) if visible is None else visible
    if not mask.any(axis=1).all():
        i = int(np.flatnonzero(~mask.any(axis=1))[0])
        raise ValueError(f"visible: face index {i} has no visible point to build a tight box from")
    m = mask[..., None]
    lo = np.where(m, gt, np.inf).min(axis=1)
    hi = np.where(m, gt, -np.inf).max(axis=1)
    return np.concatenate([lo, hi], axis=1)


def normaliser(gt, scheme: Scheme | int | str, kind: str = "inter_ocular", boxes=None, visible=None) -> np.ndarray:
    """Per-face normalising distance d (N,) from ground truth gt (N, K, 2).

    kind:
      "inter_ocular": distance between the outer eye corners `scheme.ocular` (68: 36,45; 98: 60,72; 29: 8,9).
      "inter_pupil":  distance between the pupil centres, each the mean of the index group in `scheme.pupils`
                      (68: means of 36-41 and 42-47; 98: 96 and 97; 29: 16 and 17).
      "box":          sqrt(w * h) of the face box.
      "diagonal":     sqrt(w^2 + h^2) of the face box.
    boxes: (N, 4) x_min, y_min, x_max, y_max with w = x_max - x_min, h = y_max - y_min. When None, the tight box
      of the ground-truth points is used (of the visible ones when `visible` (N, K) bool is given), i.e. the
      "ground-truth box" protocol; w and h are then max - min of the point coordinates (no +1).
    """
    gt = _points(gt, "gt")
    sch = _scheme(scheme)
    if gt.shape[1] != sch.num_points:
        raise ValueError(f"gt: {gt.shape[1]} points per face but scheme {sch.name!r} has {sch.num_points}")
    if kind == "inter_ocular":
        if sch.ocular is None:
            raise ValueError(f"scheme {sch.name!r} defines no outer eye corners for kind='inter_ocular'")
        i, j = sch.ocular
        return np.linalg.norm(gt[:, i] - gt[:, j], axis=-1)
    if kind == "inter_pupil":
        if sch.pupils is None:
            raise ValueError(f"scheme {sch.name!r} defines no pupils for kind='inter_pupil'")
        left, right = (gt[:, list(idx)].mean(axis=1) for idx in sch.pupils)
        return np.linalg.norm(left - right, axis=-1)
    if kind not in ("box", "diagonal"):
        raise ValueError(f"kind: unknown normaliser {kind!r}; valid: {', '.join(NORMALISERS)}")
    if boxes is None:
        vis = None if visible is None else _array(visible, "visible", 2).astype(bool)
        b = _tight_boxes(gt, vis)
    else:
        b = _array(boxes, "boxes", 2)
        if b.shape != (gt.shape[0], 4):
            raise ValueError(f"boxes: expected shape ({gt.shape[0]}, 4), got {b.shape}")
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    if np.any(w < 0) or np.any(h < 0):
        i = int(np.flatnonzero((w < 0) | (h < 0))[0])
        raise ValueError(f"boxes: face index {i} has x_max < x_min or y_max < y_min: {b[i].tolist()}")
    return np.sqrt(w * h) if kind == "box" else np.hypot(w, h)


def nme(pred, gt, visible, norm) -> np.ndarray:
    """Per-face NME (N,): mean over visible landmarks of |pred - gt| / norm (a fraction; x100 for percent).

    pred, gt: (N, K, 2). visible: (N, K) bool, or None for all visible. norm: (N,) per-face normaliser
    (see `normaliser`) or a scalar. Invisible points are ignored entirely (their coordinates may be NaN).
    Raises ValueError naming the face index for: a face with no visible point, a zero / negative / NaN
    normaliser, or a non-finite coordinate on a visible point.
    """
    p, g = _points(pred, "pred"), _points(gt, "gt")
    if p.shape != g.shape:
        raise ValueError(f"pred shape {p.shape} != gt shape {g.shape}")
    n, k = g.shape[:2]
    vis = np.ones((n, k), bool) if visible is None else _array(visible, "visible", 2).astype(bool)
    if vis.shape != (n, k):
        raise ValueError(f"visible: expected shape ({n}, {k}), got {vis.shape}")
    d = np.broadcast_to(_array(norm, "norm"), (n,)) if np.ndim(norm) == 0 else _array(norm, "norm", 1)
    if d.shape != (n,):
        raise ValueError(f"norm: expected shape ({n},), got {d.shape}")
    empty = np.flatnonzero(~vis.any(axis=1))
    if empty.size:
        raise ValueError(f"visible: face index {int(empty[0])} has no visible landmark; its NME is undefined")
    bad = np.flatnonzero(~(np.isfinite(d) & (d > 0)))
    if bad.size:
        raise ValueError(f"norm: face index {int(bad[0])} has normaliser {d[bad[0]]}; it must be finite and > 0")
    err = np.linalg.norm(p - g, axis=-1)
    nonfinite = np.argwhere(vis & ~np.isfinite(err))
    if nonfinite.size:
        i, j = nonfinite[0]
        raise ValueError(f"pred/gt: face index {i}, point {j} is visible but has a non-finite coordinate")
    err = np.where(vis, err, 0.0)
    return err.sum(axis=1) / vis.sum(axis=1) / d


def ced(nmes, thresholds) -> np.ndarray:
    """Cumulative error distribution: fraction of faces with NME <= x for each x in thresholds -> same shape."""
    a = np.sort(_nmes(nmes))
    x = _array(thresholds, "thresholds")
    return np.searchsorted(a, x, side="right") / a.size


def failure_rate(nmes, t: float = 0.1) -> float:
    """FR@t: fraction of faces with NME > t (a fraction; x100 for percent)."""
    return float(np.mean(_nmes(nmes) > t))


def auc_grid(t: float = 0.1, step: float = 1e-4) -> np.ndarray:
    """The integration grid of `auc`: n + 1 equally spaced points 0..t, n = max(2, round(t / step))."""
    if not (np.isfinite(t) and t > 0):
        raise ValueError(f"t: AUC threshold must be finite and > 0, got {t}")
    if not (np.isfinite(step) and 0 < step <= t):
        raise ValueError(f"step: must be in (0, t={t}], got {step}")
    return np.linspace(0.0, t, max(2, int(round(t / step))) + 1)


def auc(nmes, t: float = 0.1, step: float = 1e-4) -> float:
    """AUC@t = (1/t) * integral_0^t CED(x) dx by scipy.integrate.simpson on `auc_grid(t, step)`. In [0, 1]."""
    x = auc_grid(t, step)
    return float(simpson(ced(nmes, x), x=x) / t)


def summary(nmes, t: float = 0.1, step: float = 1e-4) -> dict[str, float]:
    """{"n", "nme_mean", "nme_median", "fr", "auc", "t"}: NMEs as fractions (not percent), FR@t, AUC@t."""
    a = _nmes(nmes)
    return {
        "n": int(a.size),
        "nme_mean": float(a.mean()),
        "nme_median": float(np.median(a)),
        "fr": failure_rate(a, t),
        "auc": auc(a, t, step),
        "t": float(t),
    }


def subset_table(
    results: Mapping[str, Mapping[str, Sequence[float] | np.ndarray]],
    thresholds: Sequence[float] = (0.1,),
    step: float = 1e-4,
) -> pd.DataFrame:
    """One row per (method, subset) from results {method: {subset: per-face NMEs (N,) as fractions}}.

    Columns: "method", "subset", "N", "NME (%)" (mean NME x 100), and per threshold t (formatted with :g):
    "FR@t (%)" (failure rate x 100) and "AUC@t" (a fraction in [0, 1]). Rows keep the input order.
    """
    ts = [float(t) for t in thresholds]
    if not ts:
        raise ValueError("thresholds: need at least one threshold")
    rows = []
    for method, subsets in results.items():
        for subset, values in subsets.items():
            a = _nmes(values, f"results[{method!r}][{subset!r}]")
            row = {"method": method, "subset": subset, "N": int(a.size), "NME (%)": 100.0 * a.mean()}
            for t in ts:
                row[f"FR@{t:g} (%)"] = 100.0 * failure_rate(a, t)
                row[f"AUC@{t:g}"] = auc(a, t, step)
            rows.append(row)
    columns = ["method", "subset", "N", "NME (%)"] + [c for t in ts for c in (f"FR@{t:g} (%)", f"AUC@{t:g}")]
    return pd.DataFrame(rows, columns=columns)


def heatmap_spread(p):
    """Spread (...,) of distributions P (..., h, w): E_P |q - E_P[q]|, the mean Euclidean distance of the map's
    mass from its own mean, in heatmap pixels (multiply by the model stride for crop pixels).

    P must be non-negative; it is divided by its sum per map, so an already normalised P is used as is.
    Computed in float64 (on P's device); a torch P gives a float64 tensor on its device, numpy gives numpy.
    An isotropic Gaussian of std s gives s * sqrt(pi / 2) (the Rayleigh mean).
    """
    is_torch = isinstance(p, torch.Tensor)
    t = (p.detach() if is_torch else torch.as_tensor(np.asarray(p))).to(torch.float64)
    if t.ndim < 2:
        raise ValueError(f"P: expected shape (..., h, w), got {tuple(t.shape)}")
    if bool((t < 0).any()) or not bool(torch.isfinite(t).all()):
        raise ValueError("P: heatmap spread needs finite non-negative maps (normalise them first)")
    total = t.flatten(-2).sum(-1)
    if bool((total <= 0).any()):
        raise ValueError("P: a map has zero total mass; its mean and spread are undefined")
    t = t / total[..., None, None]
    mean = expectation(t)  # (..., 2)
    xs, ys = coordinate_grid(t.shape[-2], t.shape[-1], device=t.device, dtype=torch.float64)
    dx = xs - mean[..., 0, None]  # (..., w)
    dy = ys - mean[..., 1, None]  # (..., h)
    dist = torch.sqrt(dy[..., :, None].square() + dx[..., None, :].square())  # (..., h, w)
    out = (t * dist).flatten(-2).sum(-1)
    return out if is_torch else out.numpy()


def temporal_jitter(traj, gt=None) -> float:
    """High-frequency energy of a predicted trajectory: mean squared second difference of its residual.

    traj: (T, K, 2) trajectory over T >= 3 frames, in pixels. With gt (T, K, 2) given, the residual is
    r = traj - gt; with gt None, traj must already be the residual pred - gt (never the raw prediction: the
    curvature of the true motion would count as jitter).
    J = mean over t = 1..T-2 and k of |r_{t+1,k} - 2 r_{t,k} + r_{t-1,k}|^2  (px^2).
    A constant or linearly drifting bias gives J = 0 (it measures jitter, not bias); white noise with std s
    per axis gives E[J] = 12 s^2 (2 axes x (1 + 4 + 1) s^2), so sqrt(J / 12) reads as an equivalent noise std.
    """
    r = _points(traj, "traj")
    if gt is not None:
        g = _points(gt, "gt")
        if g.shape != r.shape:
            raise ValueError(f"traj shape {r.shape} != gt shape {g.shape}")
        r = r - g
    if r.shape[0] < 3:
        raise ValueError(f"traj: need at least 3 frames for a second difference, got {r.shape[0]}")
    if not np.isfinite(r).all():
        raise ValueError("traj: trajectory has non-finite coordinates")
    d2 = r[2:] - 2.0 * r[1:-1] + r[:-2]
    return float(np.mean(np.sum(d2 * d2, axis=-1)))
