"""The Dataset's crops: points follow the image exactly through crop, augmentation and flip."""
from __future__ import annotations

import numpy as np
import pytest

from lab.data.dataset import LandmarkDataset, image_to_tensor, tensor_to_image
from lab.data.record import FaceRecord
from lab.data.transforms import apply_affine
from lab.schema import get_scheme


def _blob_face(centre: np.ndarray, size: int = 160) -> FaceRecord:
    """A grey image with one bright Gaussian blob at `centre`, and a 68-point face around it."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    blob = np.exp(-((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2) / (2 * 3.0**2))
    image = np.repeat((30 + 220 * blob)[..., None], 3, axis=2).round().astype(np.uint8)
    rng = np.random.default_rng(0)
    points = rng.uniform(40, 120, size=(68, 2))
    points[36] = centre  # the right eye's outer corner sits on the blob
    return FaceRecord(image=image, points=points, visible=np.ones(68, bool), box=np.array([40.0, 40, 120, 120]))


def _centroid(crop: np.ndarray) -> np.ndarray:
    w = np.clip(crop[..., 0].astype(np.float64) - 30, 0, None) ** 2
    yy, xx = np.mgrid[0 : crop.shape[0], 0 : crop.shape[1]]
    return np.array([(w * xx).sum(), (w * yy).sum()]) / w.sum()


@pytest.mark.parametrize("index", range(12))
def test_augmented_points_stay_on_the_image_feature(index):
    rec = _blob_face(np.array([70.3, 81.7]))
    ds = LandmarkDataset([rec] * 12, input_size=96, augment=True, rotation_deg=25, seed=3)
    item = ds[index]
    crop = tensor_to_image(item["image"])
    # the crop points are the image points through the crop matrix (flip included)
    assert np.allclose(apply_affine(item["image_points"].numpy(), item["matrix"].numpy()), item["points"].numpy(), atol=1e-4)
    # after a flip the old point 36 (subject's right eye corner) is now point 45 (left eye corner)
    perm = get_scheme(68).flip_permutation
    mirrored = not np.allclose(item["image_points"].numpy()[36], rec.points[36])
    k = perm[36] if mirrored else 36
    assert np.allclose(item["image_points"].numpy()[k], rec.points[36])
    assert np.abs(_centroid(crop) - item["points"].numpy()[k]).max() < 0.15


def test_some_crops_are_mirrored_and_augmentation_is_deterministic():
    rec = _blob_face(np.array([70.0, 80.0]))
    ds = LandmarkDataset([rec] * 32, input_size=64, augment=True, seed=1)
    flips = [not np.allclose(ds[i]["image_points"].numpy()[36], rec.points[36]) for i in range(32)]
    assert 4 < sum(flips) < 28
    again = LandmarkDataset([rec] * 32, input_size=64, augment=True, seed=1)
    assert np.array_equal(ds[5]["image"].numpy(), again[5]["image"].numpy())
    again.set_epoch(1)
    assert not np.array_equal(ds[5]["image"].numpy(), again[5]["image"].numpy())


def test_image_tensor_round_trip():
    img = np.random.default_rng(0).integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    assert np.array_equal(tensor_to_image(image_to_tensor(img)), img)
