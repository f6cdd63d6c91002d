"""dlib's Ensemble of Regression Trees (Kazemi & Sullivan, "One Millisecond Face Alignment with an Ensemble of
Regression Trees", CVPR 2014) as a lab model: the classic baseline beside the losses.

    input (B, 3, S, S): the same normalised crops every network reads (lab.data.dataset); S = 128 by default
    output [(B, K, 2)]: crop pixels (stride 1), the lab's pixel-centre convention

A coordinate model with no trainable parameters: `fit(images, points)` trains a dlib.shape_predictor (gradient
boosting of regression trees on pixel-difference features, each tree fitted by least squares on the shape residual)
and `forward` runs it. The face box it starts from is the box as it sits in every crop: the crop is a square of
side crop_scale * max(box w, box h) centred on the face box (lab.data.transforms.crop_matrix), so the box is the
centred square of side S / crop_scale (the crop of a non-square box holds it inside that square). The crop is
turned into dlib's intensity ((R + G + B) / 3, uint8) and, with `upsample` U > 1, enlarged U times by pixel
repetition: the pixels are the same, but dlib's integer landmark coordinates (dlib.point) then quantise to 1 / U of
a crop pixel instead of one pixel, for the training labels and the predictions alike (U = 2 by default: at dlib's
defaults on the LFPW validation split NME_io 4.40 % against 4.49 % with U = 1, at the same training time).

State: the predictor in dlib's own file format (what dlib.shape_predictor(path) reads) as a uint8 tensor in torch's
extra state, so model.pt is an ordinary {"config", "model"} checkpoint (`save_dat` writes the .dat file dlib's
tools read). Untrained, every point is at the crop centre. Its size at dlib's defaults is ~64 MB: see `model_bytes`.

ERT_OPTIONS are dlib.shape_predictor_training_options' fields with dlib 20.0's defaults (a test checks them against
dlib), plus the lab's own: upsample, augment_copies (augmented crops per training face, drawn with the run's
augmentation settings by lab.runner.ert; 0 = none, dlib's way, which oversamples initial shapes instead) and
num_threads (dlib's training threads; 0 = the calling thread only, dlib's default). Training is deterministic for
one thread setting, but the setting is part of the model: 0 and 1 thread give one set of trees, 2 and 3 threads
(measured) another, since dlib's threaded trainer takes another path.
"""
from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np
import torch
from torch import nn

from lab.data.dataset import tensor_to_image
from lab.models.registry import register_model

# name -> (default, CLI flag, help). The dlib ones first, in dlib's order; defaults are dlib 20.0's.
ERT_OPTIONS: dict[str, tuple[Any, str, str]] = {
    "cascade_depth": (10, "--ert-cascade-depth", "cascade levels (regressors in sequence)"),
    "tree_depth": (4, "--ert-tree-depth", "depth of each tree (2^depth leaves)"),
    "num_trees_per_cascade_level": (500, "--ert-trees", "trees per cascade level"),
    "nu": (0.1, "--ert-nu", "shrinkage (learning rate) of each tree, in (0, 1]"),
    "oversampling_amount": (20, "--ert-oversampling", "initial shapes drawn per training face"),
    "oversampling_translation_jitter": (0.0, "--ert-translation-jitter",
                                        "jitter of those initial shapes, in box sizes"),
    "feature_pool_size": (400, "--ert-feature-pool-size", "candidate pixels per cascade level"),
    "lambda_param": (0.1, "--ert-lambda", "prior favouring nearby pixel pairs in the splits"),
    "num_test_splits": (20, "--ert-test-splits", "random splits tried per tree node"),
    "feature_pool_region_padding": (0.0, "--ert-padding", "pixels sampled this far outside the shape's box"),
    "landmark_relative_padding_mode": (True, "--ert-landmark-relative-padding",
                                       "pad relative to the landmarks' box (else the face box)"),
    "upsample": (2, "--ert-upsample", "lab: enlarge the crop U times by pixel repetition (1/U px coordinates)"),
    "augment_copies": (0, "--ert-augment-copies", "lab: augmented crops per training face (0 = none)"),
    "num_threads": (0, "--ert-threads", "dlib training threads (0 = the calling thread; part of the model: "
                    "1 and 2 threads give different trees)"),
}
DLIB_OPTIONS = tuple(ERT_OPTIONS)[:11]


def _dlib():
    import dlib  # the dlib-bin wheel (requirements.txt); imported when an ERT is trained or run

    return dlib


@register_model("ert")
class ERT(nn.Module):
    """forward(x (B, 3, S, S)) -> [points (B, K, 2)] in crop pixels, by a dlib shape predictor (fit it first)."""

    output = "coords"
    stride = 1

    def __init__(self, num_points: int = 68, width: float = 1.0, input_size: int = 128, crop_scale: float = 1.25,
                 cascade_depth: int = 10, tree_depth: int = 4, num_trees_per_cascade_level: int = 500,
                 nu: float = 0.1, oversampling_amount: int = 20, oversampling_translation_jitter: float = 0.0,
                 feature_pool_size: int = 400, lambda_param: float = 0.1, num_test_splits: int = 20,
                 feature_pool_region_padding: float = 0.0, landmark_relative_padding_mode: bool = True,
                 upsample: int = 2, augment_copies: int = 0, num_threads: int = 0):
        super().__init__()
        if int(num_points) != num_points or num_points < 1:
            raise ValueError(f"ert: num_points must be a positive integer, got {num_points!r}")
        if int(input_size) != input_size or input_size < 8:
            raise ValueError(f"ert: input_size must be an integer >= 8, got {input_size!r}")
        if not crop_scale >= 1.0:
            raise ValueError(f"ert: crop_scale must be >= 1 (the face box inside the crop), got {crop_scale!r}")
        options = dict(cascade_depth=cascade_depth, tree_depth=tree_depth,
                       num_trees_per_cascade_level=num_trees_per_cascade_level, nu=nu,
                       oversampling_amount=oversampling_amount,
                       oversampling_translation_jitter=oversampling_translation_jitter,
                       feature_pool_size=feature_pool_size, lambda_param=lambda_param, num_test_splits=num_test_splits,
                       feature_pool_region_padding=feature_pool_region_padding,
                       landmark_relative_padding_mode=bool(landmark_relative_padding_mode), upsample=upsample,
                       augment_copies=augment_copies, num_threads=num_threads)
        for key in ("cascade_depth", "tree_depth", "num_trees_per_cascade_level", "oversampling_amount",
                    "feature_pool_size", "num_test_splits", "upsample"):
            if int(options[key]) != options[key] or options[key] < 1:
                raise ValueError(f"ert: {key} must be a positive integer, got {options[key]!r}")
        if not 0.0 < nu <= 1.0:
            raise ValueError(f"ert: nu must be in (0, 1], got {nu!r}")
        if not lambda_param > 0 or feature_pool_region_padding < 0 or oversampling_translation_jitter < 0:
            raise ValueError("ert: lambda_param must be > 0, feature_pool_region_padding and "
                             "oversampling_translation_jitter >= 0")
        if int(augment_copies) != augment_copies or augment_copies < 0 or num_threads < 0:
            raise ValueError("ert: augment_copies and num_threads must be integers >= 0")
        self.num_points, self.input_size, self.crop_scale = int(num_points), int(input_size), float(crop_scale)
        self.options = options
        self.config = dict(name="ert", num_points=self.num_points, width=width, input_size=self.input_size,
                           crop_scale=self.crop_scale, **options)
        self._predictor = None
        self._bytes = b""

    # ------------------------------------------------------------------ geometry: crop px <-> dlib's pixel grid
    @property
    def box_in_crop(self) -> tuple[float, float, float, float]:
        """x0, y0, x1, y1 crop px (pixel-centre convention) of the face box edges: a centred square of side S/crop_scale."""
        c, h = (self.input_size - 1) / 2.0, self.input_size / (2.0 * self.crop_scale)
        return (c - h, c - h, c + h, c + h)

    def _to_grid(self, xy: np.ndarray) -> np.ndarray:
        u = self.options["upsample"]
        return (np.asarray(xy, dtype=np.float64) + 0.5) * u - 0.5

    def _from_grid(self, xy: np.ndarray) -> np.ndarray:
        return (np.asarray(xy, dtype=np.float64) + 0.5) / self.options["upsample"] - 0.5

    def _rect(self):
        x0, y0, x1, y1 = np.rint(self._to_grid(np.reshape(self.box_in_crop, (2, 2)))).astype(int).ravel()
        return _dlib().rectangle(int(x0), int(y0), int(x1), int(y1))

    def dlib_image(self, image: np.ndarray) -> np.ndarray:
        """(S, S, 3) uint8 RGB crop -> (S U, S U) uint8 intensity, the array dlib reads."""
        gray = (np.asarray(image, dtype=np.uint16).sum(-1) // 3).astype(np.uint8)
        u = self.options["upsample"]
        return np.ascontiguousarray(gray.repeat(u, 0).repeat(u, 1) if u > 1 else gray)

    # ------------------------------------------------------------------------------------------ train / run
    @property
    def trained(self) -> bool:
        return self._predictor is not None

    def training_options(self, seed: int = 0, threads: int | None = None, verbose: bool = False):
        """dlib.shape_predictor_training_options from the config (random_seed from `seed`)."""
        opts = _dlib().shape_predictor_training_options()
        for key in DLIB_OPTIONS:
            setattr(opts, key, type(getattr(opts, key))(self.options[key]))
        opts.random_seed = str(int(seed))
        opts.num_threads = int(self.options["num_threads"] if threads is None else threads)
        opts.be_verbose = bool(verbose)
        return opts

    def fit(self, images: list[np.ndarray], points: np.ndarray, seed: int = 0, threads: int | None = None,
            verbose: bool = False) -> "ERT":
        """Train on crops: images [(S, S, 3) uint8 RGB], points (N, K, 2) crop px, every point (the synthetic faces'
        occluded points keep their exact positions; dlib 20.0's trainer mishandles OBJECT_PART_NOT_PRESENT parts,
        so they cannot be left out as the networks' losses mask them)."""
        dlib = _dlib()
        points = np.asarray(points, dtype=np.float64)
        if points.shape != (len(images), self.num_points, 2):
            raise ValueError(f"ert.fit: points {points.shape} for {len(images)} images of {self.num_points} points")
        grid = np.rint(self._to_grid(points)).astype(np.int64)
        rect = self._rect()
        dets = []
        for g in grid:
            dets.append([dlib.full_object_detection(rect, [dlib.point(int(x), int(y)) for x, y in g])])
        dimages = [self.dlib_image(im) for im in images]
        self._set(dlib.train_shape_predictor(dimages, dets, self.training_options(seed, threads, verbose)))
        return self

    def predict_images(self, images: list[np.ndarray]) -> np.ndarray:
        """(N, K, 2) crop px for [(S, S, 3) uint8 RGB] crops (the crop centre while untrained)."""
        if not self.trained:
            return np.full((len(images), self.num_points, 2), (self.input_size - 1) / 2.0)
        rect = self._rect()
        out = np.empty((len(images), self.num_points, 2))
        for i, im in enumerate(images):
            shape = self._predictor(self.dlib_image(im), rect)
            out[i] = [(p.x, p.y) for p in shape.parts()]
        return self._from_grid(out)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        images = [tensor_to_image(t) for t in x]
        return [torch.from_numpy(self.predict_images(images)).float().to(x.device)]

    # ------------------------------------------------------------------------------------------- state
    def _set(self, predictor) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "ert.dat")
            predictor.save(path)
            with open(path, "rb") as f:
                self._bytes = f.read()
        self._predictor = predictor

    @property
    def model_bytes(self) -> int:
        """Size of the trained predictor in dlib's file format (0 untrained)."""
        return len(self._bytes)

    def save_dat(self, path: str) -> None:
        """The predictor as the .dat file dlib.shape_predictor(path) and dlib's C++ tools read."""
        if not self.trained:
            raise ValueError("ert: not trained; nothing to save")
        with open(path, "wb") as f:
            f.write(self._bytes)

    def get_extra_state(self) -> torch.Tensor:
        return torch.frombuffer(bytearray(self._bytes), dtype=torch.uint8) if self._bytes else torch.zeros(0, dtype=torch.uint8)

    def set_extra_state(self, state: Any) -> None:
        data = bytes(state.cpu().numpy().tobytes()) if isinstance(state, torch.Tensor) else bytes(state or b"")
        if not data:
            self._predictor, self._bytes = None, b""
            return
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "ert.dat")
            with open(path, "wb") as f:
                f.write(data)
            try:
                self._predictor = _dlib().shape_predictor(path)
            except RuntimeError as e:
                raise ValueError(f"ert: the stored predictor is not a dlib shape_predictor ({e})") from None
        self._bytes = data
