"""Overlay geometry: covariance ellipses, Laplace boxes, error segments, heatmap -> image warping, blending, layers."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch

from lab.data.transforms import apply_affine, crop_matrix, invert_affine
from lab.heatmaps import encode_gaussian, from_heatmap_coords
from lab.schema import get_scheme
from lab.viz import overlay as ov


def _rotation(deg: float) -> np.ndarray:
    t = np.radians(deg)
    return np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])


def test_ellipse_axes_of_a_rotated_covariance():
    r = _rotation(30.0)
    cov = r @ np.diag([9.0, 1.0]) @ r.T
    a, b, angle = ov.ellipse_axes(cov, n_sigma=2.0)
    assert a == pytest.approx(6.0) and b == pytest.approx(2.0)
    assert angle % 180.0 == pytest.approx(30.0)


def test_ellipse_points_lie_on_the_n_sigma_contour():
    r = _rotation(-50.0)
    cov = r @ np.diag([16.0, 2.25]) @ r.T
    mean = np.array([10.0, -3.0])
    pts = ov.ellipse_points(mean, cov, n_sigma=1.5, n=200)
    assert pts.shape == (201, 2) and np.allclose(pts[0], pts[-1])
    v = pts - mean
    mahalanobis2 = np.einsum("ni,ij,nj->n", v, np.linalg.inv(cov), v)
    assert np.allclose(mahalanobis2, 1.5**2)
    dist = np.linalg.norm(v, axis=1)
    assert dist.max() == pytest.approx(1.5 * 4.0, rel=1e-3) and dist.min() == pytest.approx(1.5 * 1.5, rel=1e-3)
    assert np.allclose(pts[:-1].mean(axis=0), mean)


def test_isotropic_and_degenerate_covariances():
    circle = ov.ellipse_points([0.0, 0.0], 4.0 * np.eye(2), n_sigma=1.0)
    assert np.allclose(np.linalg.norm(circle, axis=1), 2.0)
    # rank one (a point spread along y only) and a slightly negative eigenvalue: a segment, no NaN
    seg = ov.ellipse_points([1.0, 1.0], np.array([[-1e-9, 0.0], [0.0, 9.0]]), n_sigma=1.0)
    assert np.all(np.isfinite(seg)) and np.allclose(seg[:, 0], 1.0) and seg[:, 1].max() == pytest.approx(4.0)
    with pytest.raises(ValueError, match="2x2"):
        ov.ellipse_axes(np.eye(3))


def test_laplace_box_and_ellipse_have_half_sides_n_b():
    box = ov.laplace_shape([5.0, 6.0], [2.0, 0.5], n_sigma=2.0, kind="box")
    assert box.shape == (5, 2) and np.allclose(box[0], box[-1])
    assert np.allclose(box.min(axis=0), [1.0, 5.0]) and np.allclose(box.max(axis=0), [9.0, 7.0])
    ell = ov.laplace_shape([5.0, 6.0], [2.0, 0.5], n_sigma=2.0, kind="ellipse")
    assert np.allclose(ell.min(axis=0), [1.0, 5.0], atol=1e-3) and np.allclose(ell.max(axis=0), [9.0, 7.0], atol=1e-3)
    with pytest.raises(ValueError, match="valid: box, ellipse"):
        ov.laplace_shape([0, 0], [1, 1], kind="circle")


def test_error_segments_skip_invisible_points_and_separate_with_nan():
    gt = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    pred = gt + [[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]]
    seg = ov.error_segments(pred, gt, np.array([True, False, True]))
    assert seg.shape == (6, 2)
    assert np.allclose(seg[0], gt[0]) and np.allclose(seg[1], pred[0]) and np.all(np.isnan(seg[2]))
    assert np.allclose(seg[3], gt[2]) and np.allclose(seg[4], pred[2]) and np.all(np.isnan(seg[5]))
    assert ov.join_polylines([]).shape == (0, 2)


def test_heatmap_warped_into_the_image_peaks_at_the_uncropped_point():
    box = np.array([30.0, 20.0, 90.0, 95.0])
    size, stride = 64, 4
    matrix = crop_matrix(box, size, scale=1.25)
    peak_h = np.array([5.3, 9.6])  # heatmap pixels of a 16 x 16 map
    heat = encode_gaussian(torch.tensor(peak_h)[None], (16, 16), sigma=1.2)[0].numpy()
    on_image = ov.heatmap_on_image(heat, matrix, stride, (140, 120))
    assert on_image.shape == (140, 120)
    expected = apply_affine(from_heatmap_coords(peak_h, stride)[None], invert_affine(matrix))[0]
    ys, xs = np.mgrid[0:140, 0:120]
    w = on_image / on_image.sum()
    centroid = np.array([(w * xs).sum(), (w * ys).sum()])
    assert np.allclose(centroid, expected, atol=0.15)
    # the heatmap -> image matrix maps heatmap pixel centres exactly like from_heatmap_coords + the inverse crop
    m = ov.heatmap_to_image_matrix(matrix, stride)
    assert np.allclose(apply_affine(peak_h[None], m)[0], expected)


def test_landmark_heat_scales_each_map_by_its_peak():
    maps = np.zeros((2, 4, 4))
    maps[0, 1, 1], maps[0, 2, 2] = 0.2, 0.1
    maps[1, 3, 0] = 5.0
    one = ov.landmark_heat(maps, 0)
    assert one[1, 1] == pytest.approx(1.0) and one[2, 2] == pytest.approx(0.5) and one[3, 0] == 0.0
    both = ov.landmark_heat(maps)
    assert both[1, 1] == pytest.approx(1.0) and both[3, 0] == pytest.approx(1.0) and both[2, 2] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="K, h, w"):
        ov.landmark_heat(maps[0])


def test_blend_heat_keeps_cold_pixels_and_paints_hot_ones_yellow():
    image = np.full((2, 2, 3), 100, np.uint8)
    heat = np.array([[0.0, 1.0], [0.5, 0.0]])
    out = ov.blend_heat(image, heat, opacity=1.0)
    assert (out[0, 0] == 100).all() and (out[1, 1] == 100).all()
    assert out[0, 1].tolist() == [255, 255, 0]
    assert out[1, 0].tolist() == [round(0.5 * 100 + 0.5 * 255), 50, 50]  # half-mixed with pure red
    with pytest.raises(ValueError, match="opacity"):
        ov.blend_heat(image, heat, 1.5)


def _face(k: int = 68, seed: int = 0):
    rng = np.random.default_rng(seed)
    gt = rng.uniform(20, 100, (k, 2))
    pred = {"points": gt + rng.normal(0, 2, (k, 2)), "mean": gt + 0.5, "cov": np.tile(np.diag([4.0, 1.0]), (k, 1, 1)),
            "laplace_scale": np.full((k, 2), 1.5), "argmax_points": gt + 1.0, "soft_argmax_points": gt - 1.0,
            "barycenter_points": gt}
    return gt, np.ones(k, bool), pred


def test_face_layers_all_or_one_landmark():
    gt, vis, pred = _face()
    opt = ov.OverlayOptions(cov=True, laplace=True, decoders=("argmax", "barycenter"))
    layers = {layer.name: layer for layer in ov.face_layers(gt, vis, {"star": pred, "mse": pred}, opt)}
    assert set(layers) == {"ground truth", "star", "mse", "star error", "mse error", "star cov 1σ", "mse cov 1σ",
                           "star Laplace b", "mse Laplace b", "star argmax", "star barycenter", "mse argmax",
                           "mse barycenter"}
    assert layers["star"].colour == ov.run_colour(0) and layers["mse"].colour == ov.run_colour(1)
    assert layers["ground truth"].colour == ov.GT_COLOUR and len(layers["ground truth"].xy) == 68
    assert layers["star cov 1σ"].xy.shape == (68 * 66, 2)  # 65 points + a NaN gap per ellipse
    opt = ov.OverlayOptions(landmark=36, cov=True, names=get_scheme(68).names)
    one = {layer.name: layer for layer in ov.face_layers(gt, vis, {"star": pred}, opt)}
    assert np.allclose(one["star"].xy, pred["points"][[36]]) and np.allclose(one["ground truth"].xy, gt[[36]])
    err = np.linalg.norm(pred["points"][36] - gt[36])
    assert one["star"].hover == [f"star #36 right_eye_0: error {err:.2f} px"]
    nogt = {layer.name for layer in ov.face_layers(None, None, {"star": pred})}
    assert nogt == {"star"}
    with pytest.raises(ValueError, match="out of range"):
        ov.face_layers(gt, vis, {"star": pred}, ov.OverlayOptions(landmark=68))


def test_plotly_and_matplotlib_draw_the_same_geometry():
    import matplotlib.pyplot as plt

    gt, vis, pred = _face(k=5)
    image = np.zeros((120, 130, 3), np.uint8)
    opt = ov.OverlayOptions(cov=True, n_sigma=2.0)
    layers = ov.face_layers(gt, vis, {"run": pred}, opt)
    fig = ov.plotly_face(image, layers, zoom=(50.0, 60.0, 10.0))
    assert len(fig.data) == 1 + len(layers)
    assert list(fig.layout.xaxis.range) == [40.0, 60.0] and list(fig.layout.yaxis.range) == [70.0, 50.0]
    cov_trace = next(t for t in fig.data if t.name == "run cov 2σ")
    expected = ov.ellipse_points(pred["mean"][0], pred["cov"][0], 2.0)
    assert np.allclose(np.asarray(cov_trace.x[:65], float), expected[:, 0])
    fig_m, ax = plt.subplots()
    ov.draw_face(ax, image, gt, vis, {"run": pred}, opt, heat=np.zeros((120, 130)))
    line = next(l for l in ax.lines if l.get_label() == "run cov 2σ")
    assert np.allclose(line.get_xydata()[:65], expected)
    plt.close(fig_m)


def test_plotly_face_embeds_the_image_losslessly():
    import base64

    import cv2

    image = np.random.default_rng(1).integers(0, 256, (17, 23, 3), dtype=np.uint8)
    fig = ov.plotly_face(image, [])
    uri = fig.data[0].source
    assert uri.startswith("data:image/png;base64,")
    decoded = cv2.imdecode(np.frombuffer(base64.b64decode(uri.split(",", 1)[1]), np.uint8), cv2.IMREAD_COLOR)
    assert np.array_equal(decoded[:, :, ::-1], image)
    assert list(fig.layout.xaxis.range) == [-0.5, 22.5] and list(fig.layout.yaxis.range) == [16.5, -0.5]


def test_zoom_window_frames_every_point():
    x, y, half = ov.zoom_window(np.array([[10.0, 10.0], [30.0, 14.0], [np.nan, np.nan]]), min_half=5.0)
    assert (x, y) == (20.0, 12.0) and half == pytest.approx(1.25 * 10.0)
    assert ov.zoom_window(np.array([[3.0, 4.0]]), min_half=6.0) == (3.0, 4.0, 6.0)
    with pytest.raises(ValueError, match="finite"):
        ov.zoom_window(np.full((2, 2), np.nan), 1.0)


def test_face_box_layer_is_the_first_runs_box():
    gt, vis, pred = _face(k=3)
    pred["box"] = np.array([10.0, 20.0, 50.0, 80.0])
    layers = ov.face_layers(gt, vis, {"a": pred}, ov.OverlayOptions(box=True))
    assert layers[0].name == "face box"
    assert np.allclose(layers[0].xy.min(axis=0), [10, 20]) and np.allclose(layers[0].xy.max(axis=0), [50, 80])
    assert "face box" not in {layer.name for layer in ov.face_layers(gt, vis, {"a": pred})}


def test_recolour_traces_by_run_prefix_and_decoder_suffix():
    import plotly.graph_objects as go

    fig = go.Figure([go.Scatter(name="star (AUC 0.5)"), go.Scatter(name="star-big + barycenter"),
                     go.Scatter(name="other")])
    ov.recolour_traces(fig, {"star": "#111111", "star-big": "#222222"}, ov.decoder_dashes())
    assert fig.data[0].line.color == "#111111" and fig.data[1].line.color == "#222222"
    assert fig.data[1].line.dash == ov.decoder_dash("barycenter") != "solid" and fig.data[2].line.color is None
