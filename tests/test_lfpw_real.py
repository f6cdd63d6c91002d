"""The shared real LFPW faces (300-W annotations, 256x256 crops), read with find_pts_faces.

Runs only where the research-only folder exists: ../shared/data/lfpw-train next to the repository, or the
folder named by the LAB_LFPW environment variable. Elsewhere (a user's machine) the tests skip and say why.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from lab.data.formats import find_pts_faces, load_image

LFPW = Path(os.environ.get("LAB_LFPW") or Path(__file__).resolve().parents[2] / "shared/data/lfpw-train")
SIZE = 256

pytestmark = pytest.mark.skipif(not LFPW.is_dir(), reason=f"real LFPW faces not found at {LFPW} (set LAB_LFPW)")


@pytest.fixture(scope="module")
def records():
    return find_pts_faces(LFPW, expected_points=68)


def test_every_pts_parses_to_68_finite_points_inside_the_image(records):
    assert len(records) == len(list(LFPW.glob("*.pts"))) > 0
    points = np.stack([r.points for r in records])  # (N, 68, 2)
    assert points.shape[1:] == (68, 2)
    assert np.isfinite(points).all()
    outside = [r.source for r in records if (r.points < -0.5).any() or (r.points > SIZE - 0.5).any()]
    assert not outside, f"points outside the {SIZE}x{SIZE} image in {outside[:5]}"
    for r in records:
        assert r.visible.all() and r.box[2] > r.box[0] and r.box[3] > r.box[1]
        assert Path(r.image).stem == Path(r.source).stem


def test_a_few_images_load(records):
    for r in records[:: max(1, len(records) // 5)][:5]:
        image = load_image(r.image)
        assert image.shape == (SIZE, SIZE, 3) and image.dtype == np.uint8
