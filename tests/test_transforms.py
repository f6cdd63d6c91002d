"""Crops, affines, flips and box jitter of lab/data/transforms.py, checked against closed forms and images."""
from __future__ import annotations

import inspect

import numpy as np
import pytest

from lab.config import RunConfig
from lab.data.dataset import LandmarkDataset
from lab.data.transforms import (
    AUG_ROTATION_DEG, Similarity, apply_affine, compose_affine, crop_matrix, flip_matrix, invert_affine, jitter_box,
    random_similarity, uncrop_points, warp_image,
)
from lab.schema import get_scheme

IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def _blob(h: int, w: int, centre: tuple[float, float], sigma: float) -> np.ndarray:
    """(h, w) float32 Gaussian with its centre at pixel-centre coordinates (x, y)."""
    ys, xs = np.mgrid[0:h, 0:w]
    return np.exp(-((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / (2 * sigma**2)).astype(np.float32)


def _centroid(image: np.ndarray) -> np.ndarray:
    """(2,) intensity centroid (x, y) of an (h, w) image, pixel centres at integers."""
    ys, xs = np.mgrid[0:image.shape[0], 0:image.shape[1]]
    total = image.sum(dtype=np.float64)
    return np.array([(xs * image).sum(dtype=np.float64), (ys * image).sum(dtype=np.float64)]) / total


# ------------------------------------------------------------------------------------------------ crop_matrix

def test_whole_image_box_is_identity():
    np.testing.assert_allclose(crop_matrix((-0.5, -0.5, 63.5, 63.5), 64, scale=1.0), IDENTITY, atol=1e-12)


def test_downscaled_crop_is_the_heatmap_formula():
    m = crop_matrix((-0.5, -0.5, 63.5, 63.5), 16, scale=1.0)  # stride 4
    pts = np.array([[0.0, 0.0], [63.0, 10.0], [-0.5, 63.5], [17.3, 41.9]])
    np.testing.assert_allclose(apply_affine(pts, m), (pts + 0.5) / 4 - 0.5, atol=1e-12)


def test_box_centre_and_edges_by_hand():
    # box 40 x 20 centred at (30, 30); side = 1.25 * 40 = 50 image px over 100 crop px -> 2 crop px per image px
    m = crop_matrix((10, 20, 50, 40), 100, scale=1.25)
    pts = np.array([[30.0, 30.0], [5.0, 30.0], [55.0, 5.0], [31.0, 30.0]])
    np.testing.assert_allclose(apply_affine(pts, m), [[49.5, 49.5], [-0.5, 49.5], [99.5, -0.5], [51.5, 49.5]])


def test_rotation_sign_and_shift():
    m = crop_matrix((0, 0, 10, 10), 10, scale=1.0, rotation_deg=90.0)  # 1 crop px per image px, centre 4.5
    # a point right of the centre ends up above it: counter-clockwise on screen (y points down)
    np.testing.assert_allclose(apply_affine([[8.0, 5.0]], m), [[4.5, 1.5]], atol=1e-12)
    m = crop_matrix((0, 0, 10, 10), 11, scale=1.0, shift=(0.1, -0.2))  # side 10: centre moves by (1, -2)
    np.testing.assert_allclose(apply_affine([[6.0, 3.0]], m), [[5.0, 5.0]], atol=1e-12)


def test_crop_matrix_rejects_degenerate_boxes():
    with pytest.raises(ValueError, match="crop side"):
        crop_matrix((5, 5, 5, 5), 64)
    with pytest.raises(ValueError, match="crop size"):
        crop_matrix((0, 0, 5, 5), 0)


# --------------------------------------------------------------------------------------------------- warping

def test_warp_affine_maps_pixel_centres_to_pixel_centres():
    image = np.zeros((20, 20), np.uint8)
    image[5, 3] = 255  # pixel centre (x=3, y=5)
    out = warp_image(image, np.array([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]]), 40)
    # centres at integers: (3, 5) -> (6, 10) exactly; a corner convention would put it at (6.5, 10.5)
    assert out[10, 6] == 255 and np.unravel_index(out.argmax(), out.shape) == (10, 6)
    out = warp_image(image, np.array([[1.0, 0.0, 4.0], [0.0, 1.0, -2.0]]), (25, 18))
    assert out.shape == (18, 25) and out[3, 7] == 255 and out.sum() == 255


def test_blob_lands_where_apply_affine_says():
    centre = (70.37, 55.81)
    image = np.stack([_blob(120, 160, centre, 3.0)] * 3, axis=-1)
    box = (40.0, 30.0, 110.0, 90.0)
    for rotation, shift in ((0.0, (0.0, 0.0)), (23.0, (0.04, -0.03)), (-71.0, (-0.05, 0.02))):
        m = crop_matrix(box, 96, scale=1.2, rotation_deg=rotation, shift=shift)
        crop = warp_image(image, m, 96)
        assert crop.shape == (96, 96, 3) and crop.dtype == np.float32
        expected = apply_affine(np.array([centre]), m)[0]
        assert np.abs(_centroid(crop[:, :, 1]) - expected).max() < 0.01
        back = uncrop_points(expected[None], m)[0]
        np.testing.assert_allclose(back, centre, atol=1e-9)


def test_warp_keeps_channel_axis_and_validates():
    img = np.ones((10, 10, 1), np.float32)
    assert warp_image(img, IDENTITY, 10).shape == (10, 10, 1)
    out = warp_image(np.full((10, 10, 3), 9, np.uint8), IDENTITY + [[0, 0, 5], [0, 0, 0]], 10, value=1)
    assert (out[:, :5] == 1).all() and (out[:, 5:] == 9).all()
    with pytest.raises(ValueError, match="border"):
        warp_image(img, IDENTITY, 10, border="wrap-around")
    with pytest.raises(ValueError, match="matrix"):
        warp_image(img, np.eye(3), 10)


# ----------------------------------------------------------------------------------------- affine algebra

def test_invert_and_compose_identities():
    rng = np.random.default_rng(0)
    a = crop_matrix((10, 20, 80, 95), 64, scale=1.3, rotation_deg=17.0, shift=(0.02, -0.01))
    b = np.array([[0.5, 0.1, 3.0], [-0.2, 0.7, -4.0]])
    pts = rng.uniform(-50, 150, (7, 2))
    np.testing.assert_allclose(compose_affine(a, invert_affine(a)), IDENTITY, atol=1e-12)
    np.testing.assert_allclose(compose_affine(invert_affine(a), a), IDENTITY, atol=1e-12)
    np.testing.assert_allclose(apply_affine(pts, compose_affine(a, b)), apply_affine(apply_affine(pts, a), b))
    np.testing.assert_allclose(invert_affine(invert_affine(b)), b, atol=1e-12)
    batch = np.stack([a, b])  # (2, 2, 3) with points (2, 7, 2)
    np.testing.assert_allclose(apply_affine(np.stack([pts, pts]), batch)[1], apply_affine(pts, b))
    np.testing.assert_allclose(compose_affine(batch, invert_affine(batch)), np.stack([IDENTITY] * 2), atol=1e-12)
    with pytest.raises(ValueError, match="singular"):
        invert_affine(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"\(\.\.\., K, 2\)"):
        apply_affine(np.zeros(2), a)


# ----------------------------------------------------------------------------------------------------- flips

def test_flip_twice_is_identity():
    np.testing.assert_allclose(compose_affine(flip_matrix(101), flip_matrix(101)), IDENTITY, atol=1e-12)
    perm = get_scheme(68).flip_permutation
    np.testing.assert_array_equal(perm[perm], np.arange(68))
    img = np.random.default_rng(1).integers(0, 255, (5, 7, 3), dtype=np.uint8)
    once = warp_image(img, flip_matrix(7), (7, 5))
    np.testing.assert_array_equal(once, img[:, ::-1])
    np.testing.assert_array_equal(warp_image(once, flip_matrix(7), (7, 5)), img)


def test_flip_swaps_eye_corners():
    # the dataset's flip: mirror the points with flip_matrix, then reorder them with the scheme's permutation
    pts = np.zeros((68, 2))
    pts[36], pts[45] = (20.0, 40.0), (70.0, 42.0)
    perm = get_scheme(68).flip_permutation
    mirrored = apply_affine(pts, flip_matrix(100))
    np.testing.assert_allclose(mirrored[36], [79.0, 40.0])  # before the permutation: 100 - 1 - 20
    flipped = mirrored[perm]
    np.testing.assert_allclose(flipped[45], [79.0, 40.0])  # old 36 mirrored is the new outer left corner
    np.testing.assert_allclose(flipped[36], [29.0, 42.0])
    vis = np.ones(68, bool)
    vis[36] = False
    assert not vis[perm][45] and vis[perm][36]


def test_flipped_image_and_points_agree():
    centre = (12.3, 20.7)
    img = _blob(32, 40, centre, 2.0)
    flipped = warp_image(img, flip_matrix(40), (40, 32))
    pt = apply_affine(np.array([centre]), flip_matrix(40))[0]
    np.testing.assert_allclose(pt, [40 - 1 - 12.3, 20.7])
    np.testing.assert_allclose(_centroid(flipped), pt, atol=1e-3)


# ---------------------------------------------------------------------------------------- random changes

def test_jitter_box_statistics():
    box = np.array([10.0, 20.0, 110.0, 220.0])  # w 100, h 200, centre (60, 120)
    boxes = jitter_box(np.tile(box, (20000, 1)), 0.1, 0.05, np.random.default_rng(2))
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    size = boxes[:, 2:] - boxes[:, :2]
    np.testing.assert_allclose(centre.mean(0), [60, 120], atol=0.5)
    np.testing.assert_allclose(centre.std(0), [10.0, 20.0], rtol=0.03)
    log_scale = np.log(size[:, 0] / 100.0)
    assert abs(log_scale.mean()) < 0.002 and abs(log_scale.std() - 0.05) < 0.0015
    np.testing.assert_allclose(size[:, 1] / size[:, 0], 2.0)  # aspect kept
    np.testing.assert_allclose(jitter_box(box, 0.0, 0.0, 0), box)
    np.testing.assert_array_equal(jitter_box(box, 0.1, 0.1, 7), jitter_box(box, 0.1, 0.1, 7))
    with pytest.raises(ValueError, match=">= 0"):
        jitter_box(box, -0.1, 0.0)


def test_random_similarity_ranges_and_determinism():
    draws = [random_similarity(np.random.default_rng(s), 25.0, (0.8, 1.2), 0.1) for s in range(500)]
    assert all(isinstance(d, Similarity) for d in draws)
    rot = np.array([d.rotation_deg for d in draws])
    scale = np.array([d.scale for d in draws])
    shift = np.array([d.shift for d in draws])
    assert rot.min() >= -25 and rot.max() <= 25 and rot.max() - rot.min() > 45
    assert scale.min() >= 0.8 and scale.max() <= 1.2
    assert np.abs(shift).max() <= 0.1
    assert random_similarity(5) == random_similarity(5)
    with pytest.raises(ValueError, match="scale_range"):
        random_similarity(0, scale_range=(1.2, 0.8))


def test_one_rotation_range_for_every_augmentation():
    dataset_default = inspect.signature(LandmarkDataset).parameters["rotation_deg"].default
    assert dataset_default == RunConfig().aug_rotation == AUG_ROTATION_DEG
    assert inspect.signature(random_similarity).parameters["rotation_deg"].default == AUG_ROTATION_DEG
    rot = np.array([random_similarity(s).rotation_deg for s in range(300)])
    assert np.abs(rot).max() <= AUG_ROTATION_DEG and np.abs(rot).max() > 0.9 * AUG_ROTATION_DEG
