"""Round trip of the one coordinate convention: image -> crop -> heatmap -> encode -> decode -> crop -> image.

Random sub-pixel points go through a rotated, shifted similarity crop (lab.data.transforms), to heatmap
coordinates at strides 1, 2 and 4 (lab.heatmaps), are encoded as noise-free Gaussian maps in float32 (the
dtype models use), decoded with the soft decoders and mapped back to the image. They must come back within
0.05 image px. `pytest -s tests/test_roundtrip.py` prints the measured maximum error per stride and decoder.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from lab.data.transforms import apply_affine, crop_matrix, invert_affine
from lab.heatmaps import (
    decode_barycenter, encode_gaussian, from_heatmap_coords, moments, normalize, soft_argmax, to_heatmap_coords,
)

CROP = 128  # crop side in pixels
SIGMA = 1.0  # Gaussian std in heatmap pixels
MARGIN = 6 * SIGMA  # points stay this far (heatmap px) inside the map, so no tail is cut by the border
BOX = np.array([37.2, 51.9, 237.2, 281.9])  # a face box in a larger image
CROP_ARGS = dict(scale=1.25, rotation_deg=17.0, shift=(0.03, -0.02))


def _soft_argmax_log(h: torch.Tensor) -> torch.Tensor:
    """soft-argmax of log H: softmax(log H) = H / sum H, the map's own mean (no temperature bias)."""
    return soft_argmax(torch.log(h.clamp_min(torch.finfo(h.dtype).tiny)))


def _moments_mean(h: torch.Tensor) -> torch.Tensor:
    return moments(normalize(h, "sum"))[0]


def _barycenter(h: torch.Tensor) -> torch.Tensor:
    return decode_barycenter(h, window=9)  # window 9 >= 2 * 4 sigma + 1 holds the map's mass


SOFT_DECODERS = {"soft_argmax_log": _soft_argmax_log, "moments": _moments_mean, "barycenter": _barycenter}


def _image_points(stride: int, matrix: np.ndarray, seed: int) -> np.ndarray:
    """(4, 68, 2) random sub-pixel image points whose heatmap coordinates lie MARGIN inside the map."""
    hm = CROP // stride
    rng = np.random.default_rng(seed)
    pts_h = rng.uniform(MARGIN, hm - 1 - MARGIN, size=(4, 68, 2))
    return apply_affine(from_heatmap_coords(pts_h, stride), invert_affine(matrix))


@pytest.mark.parametrize("stride", [1, 2, 4])
@pytest.mark.parametrize("decoder", sorted(SOFT_DECODERS))
def test_round_trip_within_005_px(stride, decoder):
    matrix = crop_matrix(BOX, CROP, **CROP_ARGS)
    image_pts = _image_points(stride, matrix, seed=stride)
    crop_pts = apply_affine(image_pts, matrix)  # image -> crop
    pts_h = torch.from_numpy(to_heatmap_coords(crop_pts, stride)).float()  # crop -> heatmap
    hm = CROP // stride
    maps = encode_gaussian(pts_h, (hm, hm), SIGMA)  # (4, 68, hm, hm) float32, noise free
    decoded_h = SOFT_DECODERS[decoder](maps).double().numpy()
    back_crop = from_heatmap_coords(decoded_h, stride)  # heatmap -> crop
    back_image = apply_affine(back_crop, invert_affine(matrix))  # crop -> image (uncrop)
    err_crop = np.linalg.norm(back_crop - crop_pts, axis=-1).max()
    err_image = np.linalg.norm(back_image - image_pts, axis=-1).max()
    print(f"\nround trip stride={stride} decoder={decoder}: max error {err_image:.2e} image px, "
          f"{err_crop:.2e} crop px, {err_crop / stride:.2e} heatmap px")
    assert err_image < 0.05


def test_crop_of_whole_image_at_stride_is_heatmap_formula():
    # The two modules agree on the convention: cropping a W x W image's full extent [-0.5, W - 0.5] to W / s
    # pixels is x -> (x + 0.5) / s - 0.5, the heatmap formula.
    w, s = 64, 4
    m = crop_matrix([-0.5, -0.5, w - 0.5, w - 0.5], w // s, scale=1.0)
    pts = np.random.default_rng(0).uniform(-0.5, w - 0.5, size=(10, 2))
    np.testing.assert_allclose(apply_affine(pts, m), to_heatmap_coords(pts, s), atol=1e-12)
