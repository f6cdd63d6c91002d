"""Image in, landmarks out: `Landmarker.from_run(path)` and `.predict(image)`, the small API behind `python -m lab
predict` and the dashboard's uploads.

    from lab import Landmarker
    faces = Landmarker.from_run().predict("photo.jpg")     # the best real-face run; one Face per detected face
    faces[0].points, faces[0].scale, faces[0].box           # (K, 2) px, (K, 2) Laplace scale px, (4,) box

Without boxes the faces are found by lab.data.detect (dlib's HOG detector, its boxes mapped to the tight-landmark
boxes the models were trained on); given boxes are pixel coordinates x0, y0, x1, y1 of the original image in that
same convention (the tight box of the face's landmarks: brows to chin, ear to ear).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from lab.data.dataset import LandmarkDataset
from lab.data.detect import detect_faces
from lab.data.formats import load_image
from lab.data.record import box_from_points
from lab.runner.device import pick_device
from lab.runner.evaluate import predict, run_decoding
from lab.runner.predict import image_record
from lab.runner.runs import Run, RunError, list_runs, open_run

DEFAULT_RESULTS = Path(__file__).resolve().parents[2] / "results"  # the repository's committed runs


@dataclass(frozen=True)
class Face:
    """One face of an image. points (K, 2) x, y in image pixels; box (4,) the box the crop was made from; scale
    (K, 2) the Laplace scale E|q - mu| per axis of each point's predicted distribution (image px; None for a
    coordinate-regression run); cov (K, 2, 2) its covariance (image px^2, or None); score: the detector's
    confidence (None for a given box)."""

    points: np.ndarray
    box: np.ndarray
    scale: np.ndarray | None = None
    cov: np.ndarray | None = None
    score: float | None = None


def real_face_runs(results: str | Path = DEFAULT_RESULTS) -> list[Run]:
    """Finished runs under `results` trained on real faces and shipped with weights, best (lowest NME_io on their
    validation split) first."""
    done, _ = list_runs(results)
    real = [r for r in done if r.config.data != "synthetic" and r.has_model and "val" in r.metrics.get("subsets", {})]
    return sorted(real, key=lambda r: r.metrics["subsets"]["val"]["nme_inter_ocular"])


def best_real_face_run(results: str | Path = DEFAULT_RESULTS) -> Run:
    runs = real_face_runs(results)
    if not runs:
        raise RunError(f"{results}: no finished real-face run with a model.pt; train one (README, 'Real data') or "
                       "pass --run")
    return runs[0]


class Landmarker:
    """A trained run ready to predict: `Landmarker.from_run(path)` then `.predict(image)`."""

    def __init__(self, run: Run, device: str | torch.device | None = None):
        self.run = run
        self.device = pick_device(None if device is None else str(device))
        self.model = run.load_model(self.device)
        self.decoding = run_decoding(run.config)

    @classmethod
    def from_run(cls, path: str | Path | None = None, device: str | torch.device | None = None) -> "Landmarker":
        """The run folder at `path`; None: the best real-face run in the repository's results/."""
        return cls(open_run(path) if path is not None else best_real_face_run(), device)

    @property
    def num_points(self) -> int:
        return int(self.model.num_points)

    def predict(self, image: np.ndarray | str | Path, boxes: Sequence[Sequence[float]] | None = None,
                refine: int | None = None) -> list[Face]:
        """Landmarks of every face in `image` ((H, W, 3) uint8 RGB, or an image file): one Face per box, in the
        order given, or per detected face (best detection first; [] when none is found).

        refine: passes that re-crop each face from the tight box of the points just predicted and predict again
        (default: 2 for detected faces, whose boxes are only approximately the training boxes; 0 for given ones;
        benchmarks/detector.py measures each).
        """
        img = load_image(image) if isinstance(image, (str, Path)) else np.asarray(image)
        source = str(image) if isinstance(image, (str, Path)) else "image"
        scores: list[float | None]
        if boxes is None:
            found = detect_faces(img)
            boxes, scores = [d.box for d in found], [d.score for d in found]
        else:
            scores = [None] * len(boxes)
        if len(boxes) == 0:
            return []
        refine = (0 if all(s is None for s in scores) else 2) if refine is None else refine
        pred: dict = {}
        for i in range(refine + 1):
            if i:  # re-crop from the predicted points' tight box: the convention the model was trained on
                boxes = [box_from_points(p) for p in pred["points"]]
            records = [image_record(img, b, self.num_points, f"{source} face {j}") for j, b in enumerate(boxes)]
            ds = LandmarkDataset(records, self.model.input_size, crop_scale=self.run.config.crop_scale)
            pred = predict(self.model, ds, self.device, self.decoding, batch_size=16)
        return [Face(points=pred["points"][i], box=pred["box"][i], scale=pred.get("laplace_scale", [None] * len(ds))[i],
                     cov=pred.get("cov", [None] * len(ds))[i], score=scores[i]) for i in range(len(ds))]
