"""Face detector boxes against ground-truth boxes: the mapping of lab.data.detect and what it costs in NME.

    python benchmarks/detector.py [--run RUN] [--data 300w:../shared/data/lfpw-train]

1. Runs dlib's HOG detector (lab.data.detect, its default up-sampling and threshold) on every face of the run's
   split, matches each face to the detection of largest IoU with its tight landmark box (IoU >= 0.3 counts as
   found), and fits the mapping DX, DY, SW, SH (medians over the *training* faces) that lab.data.detect uses.
2. On the *validation* faces: NME_io of the run's model with ground-truth boxes and with the mapped detector
   boxes (the constants in lab.data.detect, then --refine re-crops from the predicted points: what `predict` does), on the faces the detector found; the
   detection rate; the relative gap.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from lab import metrics
from lab.data.detect import DX, DY, SH, SW, Detection, detect_faces
from lab.data.formats import load_image
from lab.data.record import box_from_points
from lab.data.sources import open_splits
from lab.runner.landmarker import Landmarker
from lab.schema import get_scheme


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes a (N, 4) with one box b (4,)."""
    x0, y0 = np.maximum(a[:, 0], b[0]), np.maximum(a[:, 1], b[1])
    x1, y1 = np.minimum(a[:, 2], b[2]), np.minimum(a[:, 3], b[3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda r: (r[..., 2] - r[..., 0]) * (r[..., 3] - r[..., 1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def match(records) -> list[tuple[object, np.ndarray, Detection | None]]:
    """(record, image, detection or None) per face; the detection with the largest IoU (>= 0.3)."""
    out = []
    for rec in records:
        img = load_image(rec.image) if not isinstance(rec.image, np.ndarray) else rec.image
        gt = box_from_points(rec.points, rec.visible)
        found = detect_faces(img)
        best = None
        if found:
            overlap = iou(np.stack([d.box for d in found]), gt)
            if overlap.max() >= 0.3:
                best = found[int(np.argmax(overlap))]
        out.append((rec, img, best))
    return out


def fit(pairs) -> tuple[float, float, float, float]:
    raw = np.stack([d.raw for _, _, d in pairs if d is not None])
    gt = np.stack([box_from_points(r.points, r.visible) for r, _, d in pairs if d is not None])
    w, h = raw[:, 2] - raw[:, 0], raw[:, 3] - raw[:, 1]
    gw, gh = gt[:, 2] - gt[:, 0], gt[:, 3] - gt[:, 1]
    dx = np.median(((gt[:, 0] + gt[:, 2]) - (raw[:, 0] + raw[:, 2])) / 2 / w)
    dy = np.median(((gt[:, 1] + gt[:, 3]) - (raw[:, 1] + raw[:, 3])) / 2 / h)
    return float(dx), float(dy), float(np.median(gw / w)), float(np.median(gh / h))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", help="run folder (default: the best real-face run in results/)")
    p.add_argument("--refine", type=int, default=2, help="re-crop passes for detected faces (the Landmarker default, 2)")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    lm = Landmarker.from_run(args.run, device="cpu")
    splits = open_splits(**lm.run.config.split_args())
    train = match(splits.train)
    found_train = sum(d is not None for _, _, d in train)
    print(f"run {lm.run.name}; data {lm.run.config.data}")
    print(f"training faces: {found_train}/{len(train)} found; fitted DX, DY, SW, SH = "
          + ", ".join(f"{v:.3f}" for v in fit(train)) + f"  (lab.data.detect uses {DX}, {DY}, {SW}, {SH})")
    val = match(splits.val)
    scheme = get_scheme(lm.num_points)
    rows = {"ground-truth box": [], "detector box": []}
    for rec, img, det in val:
        if det is None:
            continue
        for label, box, refine in (("ground-truth box", box_from_points(rec.points, rec.visible), 0),
                                   ("detector box", det.box, args.refine)):
            face = lm.predict(img, boxes=[box], refine=refine)[0]
            norm = metrics.normaliser(rec.points[None], scheme, "inter_ocular")
            rows[label].append(float(metrics.nme(face.points[None], rec.points[None], rec.visible[None], norm)[0]))
    found = len(rows["detector box"])
    gt_nme, det_nme = 100 * np.mean(rows["ground-truth box"]), 100 * np.mean(rows["detector box"])
    print(f"validation faces: {found}/{len(val)} found ({100 * found / len(val):.1f} %)")
    print(f"NME_io on the found faces: ground-truth boxes {gt_nme:.2f} %, detector boxes {det_nme:.2f} % "
          f"(relative gap {100 * (det_nme / gt_nme - 1):+.1f} %); FR@0.1 "
          f"{100 * np.mean(np.array(rows['ground-truth box']) > 0.1):.1f} % vs "
          f"{100 * np.mean(np.array(rows['detector box']) > 0.1):.1f} %")
    print(f"{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
