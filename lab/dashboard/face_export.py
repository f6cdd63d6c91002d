"""The Inspect view's downloads: the shown face's points as JSON (each overlaid run's predictions and the ground
truth) and the figure as PNG."""
from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import streamlit as st

from lab.viz import overlay as ov

COORDINATES = "0-based image pixels, pixel centres at integers, x right, y down"


def file_stem(face: str) -> str:
    """A file-name stem from a face's name ("challenge_3", "img 3.png" -> "img_3")."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(face).stem).strip("._") or "face"


def points_json(face: str, source: str, gt: np.ndarray | None, visible: np.ndarray | None,
                preds: Mapping[str, Mapping[str, np.ndarray]]) -> str:
    """JSON text: {"face", "source", "coordinates", "ground_truth": (K, 2) or null, "visible": (K,) or null,
    "runs": {run: {"points": (K, 2)}}} for one face; preds: run -> per-face prediction dict with "points" (K, 2)."""
    def rows(a) -> list:
        return np.round(np.asarray(a, np.float64), 3).tolist()

    return json.dumps({"face": face, "source": source, "coordinates": COORDINATES,
                       "ground_truth": None if gt is None else rows(gt),
                       "visible": None if visible is None else np.asarray(visible, bool).tolist(),
                       "runs": {name: {"points": rows(p["points"])} for name, p in preds.items()}}, indent=1)


def face_png(image: np.ndarray, layers: Sequence[ov.Layer], zoom: tuple[float, float, float] | None = None) -> bytes:
    """PNG bytes of the image (H, W, 3) uint8 with the layers drawn (matplotlib), framed on zoom (x, y, half)."""
    from matplotlib.figure import Figure  # no pyplot: the download runs outside the script thread

    from lab.viz.png import save_figure

    h, w = image.shape[:2]
    fig = Figure(figsize=(7.0, 7.0 * h / w), dpi=150)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(image, extent=(-0.5, w - 0.5, h - 0.5, -0.5))
    ov.draw_layers(ax, layers)
    x_range, y_range = (-0.5, w - 0.5), (h - 0.5, -0.5)  # framed as lab.viz.overlay.plotly_face frames it
    if zoom is not None:
        x, y, r = zoom
        x_range, y_range = (x - r, x + r), (y + r, y - r)
    ax.set(xlim=x_range, ylim=y_range)
    ax.set_axis_off()
    if layers:
        ax.legend(fontsize=7, loc="lower left", framealpha=0.7)
    with tempfile.TemporaryDirectory() as folder:  # lab.viz.png writes files; read the one it wrote
        return save_figure(fig, Path(folder) / "face.png").read_bytes()


def download_buttons(face: str, source: str, gt, visible, preds: Mapping, image: np.ndarray,
                     layers: Sequence[ov.Layer], zoom) -> None:
    """Two buttons for the face shown (face: its name, source: its record's): the points (JSON, built now) and
    the figure (PNG, drawn when clicked)."""
    stem = file_stem(face)
    c1, c2 = st.columns(2)
    c1.download_button("points (JSON)", points_json(face, source, gt, visible, preds), file_name=f"{stem}_points.json",
                       mime="application/json", key="ins_dl_points", on_click="ignore",
                       help=f"each shown run's predicted points and the ground truth; {COORDINATES}")
    c2.download_button("figure (PNG)", lambda: face_png(image, layers, zoom), file_name=f"{stem}.png",
                       mime="image/png", key="ins_dl_png", on_click="ignore")
