"""Rows of faces with their landmarks (matplotlib, for the notebooks): a run's test faces over its predicted heat, and
the faces on which one run beats another. The faces and predictions come from lab.runner.inspect."""
from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import numpy as np

from lab.viz.overlay import OverlayOptions, draw_face, draw_layers, face_layers, heatmap_on_image, landmark_heat


def _row(n: int, width: float, height: float):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, n, figsize=(width * n, height), squeeze=False)
    return fig, axes[0]


def faces_figure(records: Sequence, preds: Sequence[Mapping[str, np.ndarray]], name: str, run_name: str = "",
                 maps: Sequence[tuple] = (), titles: Sequence[str] = (), title: str = "",
                 options: OverlayOptions | None = None, landmarks: Sequence[int] | None = None):
    """A row of faces (FaceRecords) with ground truth and one method's predictions (per-face dicts, drawn as `name`;
    and, per OverlayOptions, ellipses / Laplace boxes / decoder points) over the predicted heat: `maps` per face
    (P (K', h, w), crop matrix, stride) as lab.runner.inspect.run_faces returns them (empty: no heat).
    landmarks: draw the ellipses, boxes and decoder points of these landmarks only (all points are still shown).
    Returns the figure."""
    opt = options or OverlayOptions()
    fig, axes = _row(len(records), 3.8, 4.1)
    for j, (ax, rec, pred) in enumerate(zip(axes, records, preds)):
        base = opt if landmarks is None else dataclasses.replace(opt, cov=False, laplace=False, decoders=())
        heat = None
        if maps:
            p, matrix, stride = maps[j]
            heat = heatmap_on_image(landmark_heat(p), matrix, stride, rec.image.shape[:2])
        draw_face(ax, rec.image, rec.points, rec.visible, {name: pred}, base, heat=heat, legend=False)
        if landmarks is not None:
            only = dataclasses.replace(opt, gt=False, points=False, errors=False)
            for k in landmarks:
                draw_layers(ax, face_layers(rec.points, rec.visible, {name: pred}, dataclasses.replace(only, landmark=k)))
        if j == 0:
            handles, labels = ax.get_legend_handles_labels()
            keep = dict(zip(labels, handles))  # one entry per layer name
            ax.legend(keep.values(), keep.keys(), fontsize=7, loc="lower left", framealpha=0.7)
        if j < len(titles):
            ax.set_title(titles[j], fontsize=9)
    shown = "" if landmarks is None else f"; heat, shapes: landmarks {', '.join(map(str, landmarks))}"
    fig.suptitle(title or f"{run_name}: test faces (green: ground truth{shown})", fontsize=10)
    fig.tight_layout()
    return fig


def faces_compared_figure(records: Sequence, preds: Sequence[Mapping[str, Mapping[str, np.ndarray]]],
                          gts: Sequence[np.ndarray], visibles: Sequence[np.ndarray], titles: Sequence[str],
                          title: str = "", options: OverlayOptions | None = None):
    """A row of faces, each with its ground truth (gts, visibles: the stored ones) and several runs' predictions
    ({run: per-face dict} per face, one colour per run; errors drawn by default). Returns the figure."""
    fig, axes = _row(len(records), 4.3, 4.6)
    for j, (ax, rec) in enumerate(zip(axes, records)):
        draw_face(ax, rec.image, gts[j], visibles[j], preds[j], options or OverlayOptions(errors=True), legend=j == 0)
        ax.set_title(titles[j], fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
