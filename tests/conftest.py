"""Test-wide settings and fixtures: one torch thread (the 2-core CI box thrashes with more once a second process runs, e.g. the
dashboard's server in the browser test), a non-interactive matplotlib backend, and `pts_folder` (a 300-W-style
folder written from synthetic faces, so real-format tests need no download)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture
def pts_folder():
    """pts_folder(folder, split, n, size=128, seed=0) -> folder holding face_000.png + face_000.pts (1-based), ..."""
    import cv2

    from lab.data.formats import write_pts
    from lab.data.synthetic import SyntheticFaces

    def make(folder: Path, split: str, n: int, size: int = 128, seed: int = 0) -> Path:
        folder.mkdir(parents=True)
        for i, face in enumerate(SyntheticFaces(split, n=n, size=size, seed=seed)):
            cv2.imwrite(str(folder / f"face_{i:03d}.png"), cv2.cvtColor(face.image, cv2.COLOR_RGB2BGR))
            write_pts(folder / f"face_{i:03d}.pts", face.points)
        return folder

    return make
