"""Annotated photos: the faces lab.runner.landmarker predicted for one image, written into an output folder as
.pts files (300-W format, 1-based), a JSON file, CSV rows and an overlay PNG. Never writes beside the input
unless told to, and never replaces a file without `overwrite` (every target is checked before anything is
written)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from lab.atomic import refuse_existing, write_bytes_atomic, write_text_atomic
from lab.data.formats import write_pts
from lab.viz.draw import draw_points

FORMATS = ("pts", "json", "csv")
CSV_HEADER = "image,face,point,x,y,scale_x,scale_y,score"


def targets(stem: str, n_faces: int, out_dir: Path, formats: Sequence[str], overlay: bool) -> dict[str, list[Path]]:
    """The files written for one image with n_faces faces: <stem>.pts (or <stem>_<i>.pts for several faces),
    <stem>.json, <stem>_landmarks.png (CSV rows go to one file for the whole call)."""
    out = {}
    if "pts" in formats:
        out["pts"] = [out_dir / (f"{stem}.pts" if n_faces == 1 else f"{stem}_{i}.pts") for i in range(n_faces)]
    if "json" in formats:
        out["json"] = [out_dir / f"{stem}.json"]
    if overlay:
        out["overlay"] = [out_dir / f"{stem}_landmarks.png"]
    return out


def face_json(image: str, run: str, faces) -> dict:
    return {"image": image, "run": run, "faces": [
        {"box": np.round(f.box, 2).tolist(), "score": f.score, "points": np.round(f.points, 3).tolist(),
         "scale": None if f.scale is None else np.round(f.scale, 3).tolist()} for f in faces]}


def csv_rows(image: str, faces) -> list[str]:
    rows = []
    for i, f in enumerate(faces):
        for k, (x, y) in enumerate(f.points):
            sx, sy = ("", "") if f.scale is None else (f"{f.scale[k, 0]:.3f}", f"{f.scale[k, 1]:.3f}")
            score = "" if f.score is None else f"{f.score:.3f}"
            rows.append(f"{json.dumps(image)},{i},{k},{x:.3f},{y:.3f},{sx},{sy},{score}")
    return rows


def write_faces(image_path: str | Path, image: np.ndarray, faces, run_name: str, out_dir: str | Path,
                formats: Sequence[str] = ("pts", "json"), overlay: bool = True, overwrite: bool = False
                ) -> list[Path]:
    """Write one image's faces; returns the paths. Raises FileExistsError (naming the file) before writing
    anything when a target exists and not `overwrite`."""
    image_path, out_dir = Path(image_path), Path(out_dir)
    files = targets(image_path.stem, len(faces), out_dir, formats, overlay)
    refuse_existing([p for group in files.values() for p in group], overwrite)
    written = []
    for path, face in zip(files.get("pts", []), faces):
        written.append(write_pts(path, face.points))
    if "json" in files:
        written.append(write_text_atomic(files["json"][0], json.dumps(face_json(str(image_path), run_name, faces),
                                                                      indent=1) + "\n"))
    if "overlay" in files:
        drawn = image
        for face in faces:
            drawn = draw_points(drawn, face.points, box=face.box)
        ok, png = cv2.imencode(".png", cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR))
        if not ok:
            raise RuntimeError(f"could not encode the overlay for {image_path}")
        written.append(write_bytes_atomic(files["overlay"][0], png.tobytes()))
    return written
