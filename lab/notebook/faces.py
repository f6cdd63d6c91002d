"""A run's test faces in the notebooks: its predictions over the predicted heat, the faces where one run beats
another, and how its predicted ellipses lie against the face's contours."""
from __future__ import annotations

from typing import Sequence

from lab.notebook.widgets import shown
from lab.runner import inspect
from lab.viz import contours
from lab.viz.faces import faces_compared_figure, faces_figure

SHOWN_LANDMARKS = (3, 8, 19, 30, 45, 54)  # 68 points: jaw, chin, brow, nose tip, eye corner, mouth corner

contour_alignment_figure = shown(contours.contour_alignment_figure)


def show_faces(run, subset: str = "common", indices: Sequence[int] = (0, 1, 2), options=None, heat: bool = True,
               title: str = "", landmarks: Sequence[int] | None = None):
    """A row of test faces with ground truth, the run's predictions (and, per lab.viz.overlay.OverlayOptions,
    ellipses / Laplace boxes / decoder points) over the predicted heat. landmarks: draw the heat, ellipses, boxes
    and decoder points of these landmarks only (all points are still shown). Returns the figure."""
    records, preds, maps = inspect.run_faces(run, subset, indices, landmarks)
    return faces_figure(records, preds, run.config.loss, run.name, maps if heat else (),
                        [f"{subset} #{i}" for i in indices], title, options, landmarks)


def compare_faces(run_a, run_b, subset: str = "challenge", rank: int = 0, n: int = 3, options=None):
    """The n test faces on which run_b beats run_a by the widest NME margin (rank > 0 skips the first ones), with
    both runs' predictions drawn. Both runs must share their test faces. Returns the figure."""
    inspect.check_same_test_faces(run_a, run_b)
    wins = inspect.faces_a_beats_b(run_b, run_a, subset).iloc[rank:rank + n]
    faces = inspect.synthetic_test_faces(run_a, subset)
    pa, pb = run_a.predictions[subset], run_b.predictions[subset]
    order = [int(i) for i in wins["face"]]
    preds = [{run_a.name: inspect.face_prediction(pa, i), run_b.name: inspect.face_prediction(pb, i)} for i in order]
    titles = [f"{subset} #{i}: NME {a:.1f} % vs {b:.1f} %" for i, a, b in zip(order, wins["nme_b"], wins["nme_a"])]
    return faces_compared_figure([faces[i] for i in order], preds, [pa["gt"][i] for i in order],
                                 [pa["visible"][i] for i in order], titles,
                                 f"where {run_b.name} beats {run_a.name} the most (rank {rank}+)", options)
