"""The synthetic face generator: determinism, label placement, flips, self-occlusion, label noise, splits."""
from __future__ import annotations

import dataclasses
import hashlib
import math
import subprocess
import sys

import cv2
import numpy as np
import pytest

from lab.data.record import box_from_points
from lab.data.synthetic import (SPLITS, Degradation, LabelNoise, SyntheticFaces, apply_label_noise, contour_tangents,
                                docs_sheet, render_face, sample_params, sequence, write_synth_sheet)
from lab.data.synthetic.curves import _exact_polygons, _Face, face_curves
from lab.data.synthetic.features import _face_mask
from lab.data.synthetic.geometry import ARC, ARC_D, ARC_T0, NUM_POINTS, OUTLINE, TEMPLATE
from lab.data.synthetic.pose import march_outline, project, rotation_matrix
from lab.data.synthetic.shape import IDENTITY_NAMES, build_shape
from lab.schema import get_scheme

SCHEME = get_scheme(68)


def _digest(rec) -> str:
    h = hashlib.sha256(rec.image.tobytes())
    h.update(np.ascontiguousarray(rec.points).tobytes())
    h.update(rec.visible.tobytes())
    return h.hexdigest()


def _clean(params, **changes):
    """Same face without occluders and degradations (and any field overrides)."""
    return dataclasses.replace(params, occluders=(), glasses=None, degradation=Degradation(), **changes)


def _bilinear(img: np.ndarray, pts: np.ndarray) -> np.ndarray:
    m = cv2.remap(img.astype(np.float32), pts[:, 0:1].astype(np.float32), pts[:, 1:2].astype(np.float32),
                  cv2.INTER_LINEAR)
    return m[:, 0]


# ------------------------------------------------------------------------------------------ determinism
def test_same_seed_same_bytes_in_two_datasets():
    for split in SPLITS:
        a, b = SyntheticFaces(split, n=6, size=80, seed=3), SyntheticFaces(split, n=6, size=80, seed=3)
        for i in (0, 5, 2):
            assert _digest(a[i]) == _digest(b[i])
    # a face does not depend on n or on which faces were drawn before it
    assert _digest(SyntheticFaces("train", n=100, size=80, seed=3)[5]) == _digest(SyntheticFaces("train", 6, 80, 3)[5])


def test_seed_and_split_change_the_faces():
    base = _digest(SyntheticFaces("train", n=2, size=80, seed=0)[1])
    assert base != _digest(SyntheticFaces("train", n=2, size=80, seed=1)[1])
    assert base != _digest(SyntheticFaces("val", n=2, size=80, seed=0)[1])


def test_same_bytes_in_a_fresh_process():
    code = ("from lab.data.synthetic import SyntheticFaces; import hashlib, numpy as np\n"
            "for split, i in (('challenge', 3), ('common', 0), ('train', 7)):\n"
            "    r = SyntheticFaces(split, n=8, size=96, seed=11)[i]\n"
            "    h = hashlib.sha256(r.image.tobytes()); h.update(np.ascontiguousarray(r.points).tobytes())\n"
            "    h.update(r.visible.tobytes()); print(h.hexdigest())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    here = [_digest(SyntheticFaces(s, n=8, size=96, seed=11)[i]) for s, i in (("challenge", 3), ("common", 0),
                                                                            ("train", 7))]
    assert out == here


# ------------------------------------------------------------------------------------- records and labels
@pytest.mark.parametrize("size", [80, 128])
def test_records_shapes_and_labels_inside_the_image(size):
    for split in ("train", "common", "challenge"):
        faces = SyntheticFaces(split, n=12, size=size, seed=5)
        for rec in faces:
            assert rec.image.shape == (size, size, 3) and rec.image.dtype == np.uint8
            assert rec.points.shape == (68, 2) and rec.visible.shape == (68,) and rec.visible.dtype == bool
            vis = rec.points[rec.visible]
            assert np.all(vis >= -0.5) and np.all(vis <= size - 0.5)
            np.testing.assert_allclose(rec.box, box_from_points(rec.points))
            side = max(rec.box[2] - rec.box[0], rec.box[3] - rec.box[1])
            assert 0.5 * size <= side <= 0.78 * size  # the face fills about 55-75 % of the image
            assert set(rec.attributes) == {"pose", "expression", "illumination", "make_up", "occlusion", "blur"}
            assert all(v in (0, 1) for v in rec.attributes.values())


def test_params_accessor_holds_the_pose():
    faces = SyntheticFaces("challenge", n=4, size=80, seed=0)
    p = faces.params(2)
    assert isinstance(p.yaw, float) and abs(p.yaw) <= 72 and abs(p.pitch) <= 35 and abs(p.roll) <= 40
    assert p.pose == (p.yaw, p.pitch, p.roll)


def _area_and_perimeter(poly: np.ndarray) -> tuple[float, float]:
    nxt = np.roll(poly, -1, 0)
    area = 0.5 * abs(float(np.sum(poly[:, 0] * nxt[:, 1] - nxt[:, 0] * poly[:, 1])))
    return area, float(np.linalg.norm(nxt - poly, axis=1).sum())


def test_labels_sit_on_the_drawn_edges():
    """Drawn face, eye and lip regions have the area of the label curves (no ~0.7 px cv2 fill bias), and the
    anti-aliased face mask is half covered at the jaw points."""
    faces = SyntheticFaces("common", n=8, size=128, seed=2)
    biases = []
    for i in range(8):
        p = _clean(faces.params(i))
        shape = build_shape(p.identity, p.expression, p.eye_close, p.jitter, p.gaze)
        proj = project(shape, p.yaw, p.pitch, p.roll, 128, p.fill, p.shift, p.camera_distance)
        f = _Face(proj, p.appearance)
        cov = _bilinear(_face_mask(f, 128), proj.points[:17]) / 255.0
        assert abs(float(np.median(cov)) - 0.5) < 0.12, cov
        curves = {"eye_r": np.concatenate([f.curve("eye_r_up"), f.curve("eye_r_lo")[1:-1]]),
                  "eye_l": np.concatenate([f.curve("eye_l_up"), f.curve("eye_l_lo")[1:-1]]),
                  "lip_upper": np.concatenate([f.curve("lip_ot"), f.curve("lip_it")[::-1]]),
                  "lip_lower": np.concatenate([f.curve("lip_ob"), f.curve("lip_ib")[::-1]])}
        for name, curve in curves.items():
            canvas = np.zeros((128, 128), np.uint8)
            cv2.fillPoly(canvas, [f.exact[name]], 255, cv2.LINE_AA, 4)
            area, perimeter = _area_and_perimeter(curve)
            if 2.0 * area / perimeter < 1.5:
                continue  # a (nearly) closed eye or mouth is thinner than the anti-aliasing ramp
            biases.append((canvas.sum() / 255.0 - area) / perimeter)  # mean outward shift of the edge, px
    # cv2's fill alone would give ~ +0.7 px; small polygons scatter by ~0.1 px around the inset result
    assert abs(np.mean(biases)) < 0.06 and np.max(np.abs(biases)) < 0.35, biases


def test_visible_inner_points_lie_on_the_drawn_face():
    """At any pose, visible brow/eye/nose/lip points are inside the drawn face region, not on the background."""
    faces = SyntheticFaces("challenge", n=80, size=128, seed=0)
    inside, total = 0, 0
    for i in range(80):
        p = faces.params(i)
        shape = build_shape(p.identity, p.expression, p.eye_close, p.jitter, p.gaze)
        proj = project(shape, p.yaw, p.pitch, p.roll, 128, p.fill, p.shift, p.camera_distance)
        cov = _bilinear(_face_mask(_Face(proj, p.appearance), 128), proj.points[17:68]) / 255.0
        vis = proj.visible[17:68]
        inside += int(np.sum(cov[vis] >= 0.3))
        total += int(vis.sum())
    assert inside >= 0.99 * total, (inside, total)  # the rest: lower-lip points on a profile's edge


# -------------------------------------------------------------------------------------------- flips
def test_flip_pairs_map_the_right_eye_to_the_left_eye():
    perm = SCHEME.flip_permutation
    faces = SyntheticFaces("common", n=10, size=96, seed=4)
    for i in range(10):
        rec, p = faces[i], faces.params(i)
        if abs(p.yaw) > 20 or abs(p.roll) > 10:
            continue
        # the generator draws the subject's right eye (36-41) on the image left, as iBUG does
        assert rec.points[36:42, 0].mean() < rec.points[42:48, 0].mean()
        flipped_img = rec.image[:, ::-1]
        fp = rec.points.copy()
        fp[:, 0] = (96 - 1) - fp[:, 0]
        fp = fp[perm]
        right_new, left_old = fp[36:42].mean(0), rec.points[42:48].mean(0)
        np.testing.assert_allclose(right_new, [95 - left_old[0], left_old[1]])
        # same iBUG layout after the flip: outer corner 36 left of inner corner 39, jaw 0 on the left
        assert fp[36, 0] < fp[39, 0] < fp[42, 0] < fp[45, 0] and fp[0, 0] < fp[16, 0] and fp[48, 0] < fp[54, 0]
        # and the flipped right-eye centroid lands on the (flipped) drawn left eye
        x, y = np.rint(right_new).astype(int)
        ox, oy = np.rint(left_old).astype(int)
        np.testing.assert_array_equal(flipped_img[y - 1:y + 2, x - 1:x + 2][:, ::-1],
                                      rec.image[oy - 1:oy + 2, ox - 1:ox + 2])


def test_symmetric_face_is_its_own_mirror_image():
    p = sample_params(np.random.default_rng(0), "common")
    p = _clean(p, identity=np.zeros(len(IDENTITY_NAMES)), jitter=np.zeros((NUM_POINTS, 3)), yaw=0.0, pitch=0.0,
               roll=0.0, shift=(0.0, 0.0), gaze=(0.0, 0.0), eye_close=(0.0, 0.0),
               appearance=dataclasses.replace(p.appearance, light=(0.0, -0.3, math.sqrt(1 - 0.09))))
    rec = render_face(p, 128)
    fp = rec.points.copy()
    fp[:, 0] = 127 - fp[:, 0]
    np.testing.assert_allclose(fp[SCHEME.flip_permutation], rec.points, atol=1e-6)
    x0, y0, x1, y1 = np.rint(box_from_points(rec.points[17:])).astype(int)
    inner = rec.image[y0:y1, x0:x1].astype(float)
    mirrored = rec.image[:, ::-1][y0:y1, 127 - x1 + 1:127 - x0 + 1].astype(float)
    assert np.median(np.abs(inner - mirrored)) < 5.0  # only the skin blotches and the eye glints are asymmetric
    assert np.abs(inner - inner[:, ::-1]).mean() < np.abs(inner - np.roll(inner, 5, axis=1)).mean()


# ------------------------------------------------------------------------------------ pose and contour
def test_far_jaw_points_are_self_occluded_at_large_yaw():
    p = _clean(SyntheticFaces("common", n=1, size=128, seed=0).params(0))
    for yaw, far, near in ((65.0, range(12, 17), range(0, 5)), (-65.0, range(0, 5), range(12, 17))):
        rec = render_face(dataclasses.replace(p, yaw=yaw, pitch=0.0, roll=0.0), 128)
        assert not rec.visible[list(far)].any(), rec.visible[:17]
        assert rec.visible[list(near)].all() and rec.visible[8]
        # the far eye's outer corner turns away as well; the near one stays visible
        assert rec.visible[36 if yaw > 0 else 45] and not rec.visible[45 if yaw > 0 else 36]
    frontal = render_face(dataclasses.replace(p, yaw=0.0, pitch=0.0, roll=0.0), 128)
    assert frontal.visible.all()


def test_far_outline_points_sit_on_the_silhouette():
    """Marched far-side points are the extreme projection of their arc (the 300W contour convention)."""
    shape = TEMPLATE.copy()
    for yaw in (25.0, 50.0, 70.0):
        r = rotation_matrix(yaw, 10.0, 0.0)
        marched = march_outline(shape, r[2])
        for k, row in enumerate(ARC[:len(OUTLINE)]):
            x, y, z = shape[row]
            if x <= 0.05:  # far side is +x for positive yaw
                continue
            d, t0 = ARC_D[k], ARC_T0[k]
            t = np.linspace(0.0, t0, 2001)
            arc = np.stack([abs(x) * np.sin(t), np.full_like(t, y), z - d * np.cos(t0) + d * np.cos(t)], 1)
            proj_x = (arc @ r.T)[:, 0]
            got = (marched[row] @ r.T)[0]
            assert got == pytest.approx(proj_x.max(), abs=1e-4)
        near = shape[:8]
        np.testing.assert_allclose(marched[:8], near)  # the near side never moves


# --------------------------------------------------------------------------------------------- noise
def test_label_noise_changes_training_labels_only():
    exact = SyntheticFaces("train", n=20, size=96, seed=1)
    for kind in ("isotropic", "tangential"):
        noisy = SyntheticFaces("train", n=20, size=96, seed=1, label_noise=(kind, 2.0))
        diffs = []
        for i in range(20):
            a, b = exact[i], noisy[i]
            assert np.array_equal(a.image, b.image) and np.array_equal(a.box, b.box)
            assert np.array_equal(a.visible, b.visible)
            diffs.append(b.points - a.points)
        d = np.concatenate(diffs)
        assert np.all(np.any(np.stack(diffs) != 0, axis=(1, 2)))
        per_point = np.linalg.norm(d, axis=1)
        expected = 2.0 * (math.sqrt(math.pi / 2) if kind == "isotropic" else math.sqrt(2 / math.pi))
        assert per_point.mean() == pytest.approx(expected, rel=0.1)  # Rayleigh / half-normal means
        assert _digest(noisy[3]) == _digest(SyntheticFaces("train", 20, 96, 1, label_noise=(kind, 2.0))[3])
    for split in ("common", "challenge", "val", "unlabeled"):
        with pytest.raises(ValueError, match="train"):
            SyntheticFaces(split, n=2, label_noise=("isotropic", 1.0))
    with pytest.raises(ValueError, match="kind"):
        SyntheticFaces("train", n=2, label_noise=("sideways", 1.0))
    with pytest.raises(ValueError, match="sigma"):
        LabelNoise("isotropic", -1.0)


def test_tangential_noise_is_orthogonal_to_the_contour_normal():
    rec = SyntheticFaces("train", n=1, size=128, seed=0)[0]
    rng = np.random.default_rng(0)
    noisy = apply_label_noise(rec.points, LabelNoise("tangential", 3.0), rng, SCHEME)
    disp = noisy - rec.points
    t = contour_tangents(rec.points, SCHEME)
    normal = np.stack([-t[:, 1], t[:, 0]], 1)
    assert np.abs(np.sum(disp * normal, 1)).max() < 1e-9 and np.abs(disp).max() > 0.1
    # independent check on circles: every tangent is orthogonal to the radius (closed and open groups)
    pts = np.zeros((68, 2))
    for k, (name, idx) in enumerate(SCHEME.groups.items()):
        n = len(idx)
        span = 2 * math.pi if name in SCHEME.closed_groups else math.radians(150)
        ang = np.arange(n) * span / (n if name in SCHEME.closed_groups else n - 1) + 0.3 * k
        pts[list(idx)] = np.stack([100 * k + 10 * np.cos(ang), 10 * np.sin(ang)], 1)
    t = contour_tangents(pts, SCHEME)
    centres = np.zeros((68, 2))
    for k, idx in enumerate(SCHEME.groups.values()):
        centres[list(idx)] = (100 * k, 0)
    radial = pts - centres
    radial /= np.linalg.norm(radial, axis=1, keepdims=True)
    assert np.abs(np.sum(t * radial, 1)).max() < 1e-9
    assert np.allclose(np.linalg.norm(t, axis=1), 1.0)


# ------------------------------------------------------------------------------------ splits, sequences
def test_challenge_is_harder_than_common():
    def stats(split):
        faces = SyntheticFaces(split, n=60, size=64, seed=9)
        yaw = np.mean([abs(faces.params(i).yaw) for i in range(60)])
        recs = [faces[i] for i in range(60)]
        hidden = np.mean([1.0 - r.visible.mean() for r in recs])
        occl = np.mean([r.attributes["occlusion"] for r in recs])
        blur = np.mean([r.attributes["blur"] for r in recs])
        return yaw, hidden, occl, blur

    yc, hc, oc, bc = stats("common")
    yh, hh, oh, bh = stats("challenge")
    assert yh > yc + 15 and hh > hc + 0.05 and oh > 0.4 and oc == 0 and bh > bc


def test_sequence_is_one_face_moving_smoothly():
    frames = sequence(seed=3, T=24, size=96)
    assert len(frames) == 24 and all(f.image.shape == (96, 96, 3) for f in frames)
    pts = np.stack([f.points for f in frames])
    step = np.linalg.norm(np.diff(pts, axis=0), axis=2)
    accel = np.linalg.norm(np.diff(pts, n=2, axis=0), axis=2)
    assert step.max() < 6.0 and accel.mean() < 0.5 * step.mean()
    assert np.ptp(pts[:, 30, 0]) > 3.0  # it does move
    again = sequence(seed=3, T=24, size=96)
    assert all(_digest(a) == _digest(b) for a, b in zip(frames, again))


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="split"):
        SyntheticFaces("test", n=3)
    with pytest.raises(ValueError, match="n must"):
        SyntheticFaces("train", n=-1)
    with pytest.raises(ValueError, match="size"):
        SyntheticFaces("train", n=1, size=8)
    with pytest.raises(ValueError, match="seed"):
        SyntheticFaces("train", n=1, seed=-2)
    with pytest.raises(IndexError):
        SyntheticFaces("train", n=3)[3]
    with pytest.raises(ValueError, match="difficulty"):
        sample_params(np.random.default_rng(0), "impossible")
    with pytest.raises(ValueError, match="T must"):
        sequence(0, 0)


def test_curves_pass_through_their_control_points():
    rec_params = SyntheticFaces("train", n=1, size=80, seed=0).params(0)
    shape = build_shape(rec_params.identity, rec_params.expression)
    proj = project(shape, 20.0, 5.0, 3.0, 80, 0.65)
    cs = face_curves(proj.points)
    exact = _exact_polygons(proj.points)
    assert set(exact) == {"outline", "eye_r", "eye_l", "lip_upper", "lip_lower"}
    # jaw j is outline sample 3 j (3 samples per segment)
    np.testing.assert_allclose(cs[:51:3], proj.points[:17], atol=1e-9)


def test_write_synth_sheet(tmp_path):
    out = write_synth_sheet("challenge", 3, tmp_path / "s", size=64, seed=0)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["contact_sheet.png", "face_0000.png", "face_0001.png", "face_0002.png"]
    sheet = cv2.imread(str(out / "contact_sheet.png"))
    assert sheet is not None and sheet.shape[0] >= 256
    with pytest.raises(ValueError, match="split"):
        write_synth_sheet("nope", 1, tmp_path)
    doc = cv2.imread(str(docs_sheet(tmp_path / "doc.png", cols=2, size=48)))
    assert doc.shape == (2 + 2 * 98, 2 + 2 * 98, 3)  # a common row and a challenge row at 2x, 2 px gaps
