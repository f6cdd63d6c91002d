"""lab.metrics: hand-computed normalisers, NME, CED / FR / AUC, tables, heatmap spread and temporal jitter."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lab.heatmaps import encode_gaussian
from lab.metrics import (
    auc, auc_grid, ced, failure_rate, heatmap_spread, nme, normaliser, subset_table, summary,
    temporal_jitter,
)


def _eye_face() -> np.ndarray:
    """(1, 68, 2) face whose outer corners are 60 px apart and pupils (eye means) 40 px apart, shifted off 0."""
    rng = np.random.default_rng(1)
    gt = rng.uniform(0, 100, size=(68, 2))
    right = [(0, 0), (6, -4), (14, -4), (20, 0), (14, 4), (6, 4)]  # 36..41, mean (10, 0)
    left = [(40, 0), (46, -4), (54, -4), (60, 0), (54, 4), (46, 4)]  # 42..47, mean (50, 0), 45 = outer corner
    gt[36:48] = np.array(right + left, dtype=float)
    return (gt + [100.0, 200.0])[None]


def test_nme_single_point_off_by_three_pixels():
    gt = _eye_face()
    pred = gt.copy()
    pred[0, 0] += [3 * 0.6, 3 * 0.8]  # |error| = 3 px on point 0 only
    d = normaliser(gt, 68, "inter_ocular")
    np.testing.assert_allclose(d, [60.0])
    np.testing.assert_allclose(nme(pred, gt, None, d), [3 / 68 / 60], rtol=1e-12)


def test_inter_pupil_is_eye_means_not_corners():
    gt = _eye_face()
    np.testing.assert_allclose(normaliser(gt, "300w", "inter_pupil"), [40.0], rtol=1e-12)
    np.testing.assert_allclose(normaliser(gt, "300w", "inter_ocular"), [60.0], rtol=1e-12)
    pred = gt + [[[0.0, 0.5]]]  # every point 0.5 px off
    np.testing.assert_allclose(nme(pred, gt, None, normaliser(gt, 68, "inter_pupil")), [0.5 / 40])
    np.testing.assert_allclose(nme(pred, gt, None, normaliser(gt, 68, "inter_ocular")), [0.5 / 60])


def test_box_and_diagonal_normalisers():
    gt = _eye_face().repeat(2, axis=0)
    boxes = np.array([[10.0, 20.0, 70.0, 100.0], [0.0, 0.0, 30.0, 40.0]])  # w, h = 60, 80 and 30, 40
    np.testing.assert_allclose(normaliser(gt, 68, "box", boxes), [math.sqrt(4800.0), math.sqrt(1200.0)])
    np.testing.assert_allclose(normaliser(gt, 68, "diagonal", boxes), [100.0, 50.0])


def test_box_defaults_to_tight_box_of_visible_points():
    gt = np.zeros((1, 19, 2))
    gt[0, :, 0] = np.linspace(5, 35, 19)  # x spans 5..35 -> w = 30
    gt[0, :, 1] = np.linspace(0, 40, 19)  # y spans 0..40 -> h = 40
    np.testing.assert_allclose(normaliser(gt, 19, "box"), [math.sqrt(1200.0)])
    np.testing.assert_allclose(normaliser(gt, "aflw", "diagonal"), [50.0])
    gt[0, 18] = [500.0, 500.0]  # an occluded outlier is ignored when visibility is given
    vis = np.ones((1, 19), bool)
    vis[0, 18] = False
    x, y = gt[0, :18, 0], gt[0, :18, 1]
    np.testing.assert_allclose(normaliser(gt, 19, "diagonal", visible=vis), [math.hypot(np.ptp(x), np.ptp(y))])


@pytest.mark.parametrize("key,ocular,pupils", [
    (98, (60, 72), ((96,), (97,))),
    ("cofw", (8, 9), ((16,), (17,))),
    (68, (36, 45), (tuple(range(36, 42)), tuple(range(42, 48)))),
])
def test_scheme_indices(key, ocular, pupils):
    k = {98: 98, "cofw": 29, 68: 68}[key]
    gt = np.random.default_rng(7).normal(0, 50, size=(5, k, 2))
    want_io = np.linalg.norm(gt[:, ocular[0]] - gt[:, ocular[1]], axis=-1)
    want_ip = np.linalg.norm(gt[:, list(pupils[0])].mean(1) - gt[:, list(pupils[1])].mean(1), axis=-1)
    np.testing.assert_allclose(normaliser(gt, key, "inter_ocular"), want_io, rtol=1e-12)
    np.testing.assert_allclose(normaliser(torch.from_numpy(gt), key, "inter_pupil"), want_ip, rtol=1e-12)


def test_invisible_points_are_excluded():
    gt = np.zeros((2, 4, 2))
    pred = gt.copy()
    pred[:, :, 0] = [1.0, 2.0, 3.0, 100.0]
    vis = np.array([[True, True, True, False], [True, True, True, True]])
    gt[0, 3] = np.nan  # an occluded point's coordinates may be missing altogether
    np.testing.assert_allclose(nme(pred, gt, vis, np.array([2.0, 2.0])), [6 / 3 / 2, 106 / 4 / 2])
    np.testing.assert_allclose(nme(torch.tensor(pred), torch.tensor(gt), torch.tensor(vis), 2.0), [1.0, 13.25])


def test_face_with_no_visible_point_raises_with_its_index():
    gt = np.zeros((3, 5, 2))
    vis = np.ones((3, 5), bool)
    vis[2] = False
    with pytest.raises(ValueError, match="face index 2"):
        nme(gt + 1, gt, vis, np.ones(3))


@pytest.mark.parametrize("bad", [0.0, np.nan, -1.0])
def test_bad_normaliser_raises_with_its_index(bad):
    gt = np.zeros((3, 5, 2))
    with pytest.raises(ValueError, match="face index 1"):
        nme(gt, gt, None, np.array([1.0, bad, 1.0]))


def test_nme_rejects_nan_on_visible_point_and_bad_shapes():
    gt = np.zeros((2, 5, 2))
    pred = gt.copy()
    pred[1, 3, 0] = np.nan
    with pytest.raises(ValueError, match="face index 1, point 3"):
        nme(pred, gt, None, np.ones(2))
    with pytest.raises(ValueError, match="pred shape"):
        nme(pred[:, :4], gt, None, np.ones(2))
    with pytest.raises(ValueError, match="gt: 5 points per face"):
        normaliser(gt, 68)
    with pytest.raises(ValueError, match="unknown normaliser"):
        normaliser(np.zeros((1, 68, 2)), 68, "inter_eye")


def test_ced_and_failure_rate():
    nmes = [0.01, 0.05, 0.05, 0.2]
    np.testing.assert_allclose(ced(nmes, [0.0, 0.05, 0.1, 0.3]), [0.0, 0.75, 0.75, 1.0])  # CED uses <=
    assert failure_rate([0.05, 0.1, 0.11, 0.3], 0.1) == 0.5  # NME == t is not a failure
    assert failure_rate([0.05, 0.1, 0.11, 0.3], 0.08) == 0.75


def test_auc_perfect_and_hopeless():
    assert auc(np.zeros(10)) == pytest.approx(1.0, abs=1e-12)
    assert failure_rate(np.zeros(10)) == 0.0
    assert auc(np.full(10, 0.2)) == 0.0
    assert failure_rate(np.full(10, 0.2)) == 1.0


def test_auc_uniform_nmes_by_hand():
    # 200 NMEs at (i + 0.5) * 0.001: CED(x) ~ x / 0.2, so AUC@0.1 = 0.25, AUC@0.05 = 0.125 (exact sums, see
    # mean(max(0, t - nme)) / t); Simpson on a step function is exact to O(step) per jump.
    nmes = (np.arange(200) + 0.5) * 0.001
    assert auc(nmes, 0.1) == pytest.approx(0.25, abs=1e-3)
    assert auc(nmes, 0.05) == pytest.approx(0.125, abs=1e-3)
    assert auc(nmes, 0.08) == pytest.approx(np.mean(np.maximum(0, 0.08 - nmes)) / 0.08, abs=1e-3)
    assert failure_rate(nmes, 0.05) == 0.75


def test_auc_hand_made_list():
    nmes = [0.02, 0.04, 0.06, 0.08, 0.15]  # integral of CED over [0, 0.1] = (0.08+0.06+0.04+0.02)/5 = 0.04
    assert auc(nmes) == pytest.approx(0.4, abs=1e-3)
    assert auc(nmes, step=1e-5) == pytest.approx(0.4, abs=1e-4)  # finer grid, closer to the exact value


def test_auc_grid_and_argument_errors():
    x = auc_grid(0.1, 1e-4)
    assert x.size == 1001 and x[0] == 0.0 and x[-1] == 0.1
    with pytest.raises(ValueError, match="t"):
        auc([0.1], t=0.0)
    with pytest.raises(ValueError, match="step"):
        auc([0.1], step=0.5)
    with pytest.raises(ValueError, match="face index 1"):
        auc([0.1, np.nan])
    with pytest.raises(ValueError, match="empty"):
        ced([], [0.1])


def test_summary_and_subset_table():
    a = [0.02, 0.04, 0.06, 0.08, 0.15]
    s = summary(a)
    assert s["n"] == 5 and s["fr"] == pytest.approx(0.2)
    assert s["nme_mean"] == pytest.approx(0.07) and s["auc"] == pytest.approx(0.4, abs=1e-3)
    table = subset_table({"wing": {"common": a, "challenge": np.zeros(3)}, "mse": {"common": [0.2]}}, (0.1, 0.08))
    assert list(table.columns) == ["method", "subset", "N", "NME (%)", "FR@0.1 (%)", "AUC@0.1", "FR@0.08 (%)",
                                   "AUC@0.08"]
    assert table[["method", "subset"]].values.tolist() == [["wing", "common"], ["wing", "challenge"],
                                                           ["mse", "common"]]
    row = table.iloc[0]
    assert row["N"] == 5 and row["NME (%)"] == pytest.approx(7.0) and row["FR@0.1 (%)"] == pytest.approx(20.0)
    assert row["FR@0.08 (%)"] == pytest.approx(20.0)
    assert row["AUC@0.08"] == pytest.approx(np.mean(np.maximum(0, 0.08 - np.array(a))) / 0.08, abs=1e-3)
    assert table.iloc[1]["AUC@0.1"] == pytest.approx(1.0) and table.iloc[2]["FR@0.1 (%)"] == 100.0


@pytest.mark.parametrize("sigma", [1.0, 2.0, 3.0])
def test_heatmap_spread_of_gaussian_is_rayleigh_mean(sigma):
    pts = torch.tensor([[[31.3, 30.7], [20.0, 40.0]]], dtype=torch.float64)  # sub-pixel and on a pixel
    p = encode_gaussian(pts, (64, 72), sigma)
    spread = heatmap_spread(p / p.sum((-2, -1), keepdim=True))
    assert spread.shape == (1, 2)
    # Sampling the cone |q - mu| on the pixel lattice errs by O(sigma^-3): ~3 % at sigma 1 for a map centred on a
    # pixel (the apex falls on a sample), ~0.5 % off-pixel; 0.04 / sigma^3 bounds both.
    np.testing.assert_allclose(spread, sigma * math.sqrt(math.pi / 2), rtol=0.04 / sigma ** 3)
    torch.testing.assert_close(heatmap_spread(p.float()), spread, rtol=1e-5, atol=0)  # unnormalised float32 too
    np.testing.assert_allclose(heatmap_spread(p.numpy()), spread.numpy(), rtol=1e-12)  # numpy in -> numpy out


def test_heatmap_spread_by_hand_and_errors():
    p = np.zeros((1, 1, 8, 8))
    p[0, 0, 2, 1] = p[0, 0, 2, 5] = 0.5  # two halves 4 px apart -> each 2 px from the mean
    np.testing.assert_allclose(heatmap_spread(p), [[2.0]])
    p[0, 0] = 0
    p[0, 0, 3, 3] = 1.0
    np.testing.assert_allclose(heatmap_spread(p), [[0.0]])
    with pytest.raises(ValueError, match="non-negative"):
        heatmap_spread(-p)
    with pytest.raises(ValueError, match="zero total mass"):
        heatmap_spread(np.zeros((1, 1, 4, 4)))


def test_temporal_jitter_measures_jitter_not_bias():
    t = np.arange(50, dtype=float)
    gt = np.stack([np.stack([10 + np.sin(t / 7), 20 + 0.1 * t], -1)] * 3, axis=1)  # (T, K=3, 2), smooth
    bias = gt + [2.0, -1.0] + 0.05 * t[:, None, None]  # constant plus linear drift: no jitter
    assert temporal_jitter(bias, gt) == pytest.approx(0.0, abs=1e-20)
    flicker = gt.copy()
    flicker[:, 1, 0] += 0.5 * (-1.0) ** t  # one point flickers +-0.5 px: |d2| = 4 * 0.5 on 1 of 3 points
    assert temporal_jitter(flicker, gt) == pytest.approx(2.0 ** 2 / 3)
    white = np.random.default_rng(0).normal(0, 0.3, size=(20000, 3, 2))  # white noise, std 0.3 per axis
    assert temporal_jitter(white, np.zeros_like(white)) == pytest.approx(12 * 0.3 ** 2, rel=0.03)
    assert temporal_jitter(flicker - gt) == temporal_jitter(flicker, gt)  # gt None: traj is the residual
    with pytest.raises(ValueError, match="3 frames"):
        temporal_jitter(gt[:2], gt[:2])
    with pytest.raises(ValueError, match="traj shape"):
        temporal_jitter(gt, gt[:, :2])
