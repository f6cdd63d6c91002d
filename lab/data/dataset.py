"""The torch Dataset: crop each face from its box, augment, and keep what evaluation needs to uncrop.

Targets are not encoded here: every loss renders its own target from the crop points on the device
(mmpose's codec split: the dataset gives geometry, the loss decides the encoding).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from lab.data.formats import load_image
from lab.data.record import FaceRecord
from lab.data.transforms import (AUG_ROTATION_DEG, apply_affine, compose_affine, crop_matrix, flip_matrix, jitter_box,
                                 warp_image)
from lab.schema import get_scheme

IMAGE_MEAN, IMAGE_STD = 0.5, 0.25


def image_to_tensor(image: np.ndarray) -> torch.Tensor:
    """(S, S, 3) uint8 RGB -> (3, S, S) float32, (x / 255 - 0.5) / 0.25."""
    t = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float()
    return (t / 255.0 - IMAGE_MEAN) / IMAGE_STD


def tensor_to_image(t: torch.Tensor) -> np.ndarray:
    """Inverse of image_to_tensor: (3, S, S) -> (S, S, 3) uint8."""
    x = (t.detach().cpu().float() * IMAGE_STD + IMAGE_MEAN).clamp(0, 1) * 255.0
    return x.round().byte().permute(1, 2, 0).numpy()


class LandmarkDataset(Dataset):
    """Face crops with landmarks, from any sequence of FaceRecord (synthetic faces or a real-format reader).

    Each item is a dict:
      image (3, S, S) float32 normalised; points (K, 2) float32 crop pixels; visible (K,) bool;
      matrix (2, 3) float64 image -> crop; image_points (K, 2) float64 original image pixels (exact labels,
      in the crop's point order); box (4,) the (possibly jittered) box used; index int.
    Augmentation (rotation, scale, shift, flip with the scheme's pairs) and box jitter draw from
    numpy.random.default_rng([seed, epoch, index]): deterministic in every process; call set_epoch(e).
    """

    def __init__(
        self,
        records: Sequence[FaceRecord],
        input_size: int,
        crop_scale: float = 1.25,
        augment: bool = False,
        rotation_deg: float = AUG_ROTATION_DEG,
        scale_jitter: float = 0.1,
        shift_jitter: float = 0.05,
        flip: bool = True,
        box_jitter: tuple[float, float] | None = None,
        seed: int = 0,
    ):
        self.records = records
        self.input_size = int(input_size)
        self.crop_scale = crop_scale
        self.augment = augment
        self.rotation_deg, self.scale_jitter, self.shift_jitter, self.flip = rotation_deg, scale_jitter, shift_jitter, flip
        self.box_jitter = box_jitter
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Augmentation of this epoch; records that draw new faces per epoch (SyntheticFaces(fresh=True)) follow."""
        self.epoch = int(epoch)
        if hasattr(self.records, "set_epoch"):
            self.records.set_epoch(self.epoch)

    def __len__(self) -> int:
        return len(self.records)

    def _geometry(self, rec: FaceRecord, index: int) -> tuple[np.ndarray, np.ndarray, bool]:
        """The jittered box, the image -> crop matrix, and whether the crop is mirrored."""
        rng = np.random.default_rng([self.seed, self.epoch, index])
        box = np.asarray(rec.box, dtype=np.float64)
        if self.box_jitter is not None:
            box = jitter_box(box, self.box_jitter[0], self.box_jitter[1], rng)
        rotation, scale, shift, mirrored = 0.0, self.crop_scale, (0.0, 0.0), False
        if self.augment:
            rotation = float(rng.uniform(-self.rotation_deg, self.rotation_deg))
            scale = self.crop_scale * float(np.exp(rng.normal(0.0, self.scale_jitter)))
            shift = tuple(rng.normal(0.0, self.shift_jitter, size=2))
            mirrored = self.flip and bool(rng.random() < 0.5)
        matrix = crop_matrix(box, self.input_size, scale=scale, rotation_deg=rotation, shift=shift)
        if mirrored:
            matrix = compose_affine(matrix, flip_matrix(self.input_size))  # crop, then mirror the crop
        return box, matrix, mirrored

    def __getitem__(self, index: int) -> dict:
        rec = self.records[index]
        image = load_image(rec.image)
        box, matrix, mirrored = self._geometry(rec, index)
        crop = warp_image(image, matrix, self.input_size)
        image_points = np.asarray(rec.points, dtype=np.float64)
        visible = np.asarray(rec.visible, dtype=bool)
        if mirrored:
            perm = get_scheme(rec.num_points).flip_permutation
            image_points, visible = image_points[perm], visible[perm]
        points = apply_affine(image_points, matrix)
        return {
            "image": image_to_tensor(crop),
            "points": torch.from_numpy(points.astype(np.float32)),
            "visible": torch.from_numpy(visible.copy()),
            "matrix": torch.from_numpy(matrix),
            "image_points": torch.from_numpy(image_points.copy()),
            "box": torch.from_numpy(box.copy()),
            "index": index,
        }
