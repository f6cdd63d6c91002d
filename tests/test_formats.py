"""Readers and writers of lab/data/formats/ on fixtures built here in the exact formats."""
from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import scipy.io

from lab.data.formats import (
    WFLW_ATTRIBUTES, FormatError, find_pts_faces, load_image, parse_pts, read_aflw_list, read_cofw_mat, read_pts,
    read_wflw_list, write_aflw_list, write_cofw_mat, write_pts, write_wflw_list,
)
from lab.data.record import FaceRecord, box_from_points


def _write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def _image(path: Path, h: int = 8, w: int = 10) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((h, w, 3), 128, np.uint8))
    return path


def _raises_at(path: Path, line: int | None, fragment: str, fn, *args, **kw) -> FormatError:
    """Assert fn raises FormatError whose message is "path:line: ..." (or "path: ...") containing fragment."""
    with pytest.raises(FormatError) as info:
        fn(*args, **kw)
    msg = str(info.value)
    where = f"{path}:{line}: " if line is not None else f"{path}: "
    assert msg.startswith(where), msg
    assert fragment in msg, msg
    assert info.value.line == line
    return info.value


# ------------------------------------------------------------------------------------------------------ .pts

def test_pts_by_hand_is_one_based(tmp_path):
    path = _write(tmp_path / "hand.pts", "version: 1\nn_points:  3\n{\n1 1\n10.5 20.25\n256 0.5\n}\n")
    pts = parse_pts(path, expected_points=3)
    assert pts.dtype == np.float64
    np.testing.assert_array_equal(pts, [[0.0, 0.0], [9.5, 19.25], [255.0, -0.5]])


def test_pts_crlf_bom_and_blank_lines(tmp_path):
    path = _write(tmp_path / "w.pts", b"\xef\xbb\xbfversion: 1\r\nn_points: 2\r\n\r\n{\r\n3 4\r\n5 6\r\n}\r\n\r\n")
    np.testing.assert_array_equal(parse_pts(path), [[2, 3], [4, 5]])


def test_pts_round_trip(tmp_path):
    pts = np.random.default_rng(0).uniform(-0.5, 300, size=(68, 2))
    path = write_pts(tmp_path / "sub" / "a.pts", pts)
    text = path.read_text().splitlines()
    assert text[:3] == ["version: 1", "n_points: 68", "{"] and text[-1] == "}"
    assert abs(float(text[3].split()[0]) - (pts[0, 0] + 1)) < 1e-6  # 1-based on disk
    np.testing.assert_allclose(parse_pts(path, expected_points=68), pts, atol=1e-6)


def test_read_pts_record(tmp_path):
    pts = np.array([[1.0, 2.0], [5.0, 7.0], [3.0, 4.0]])
    path = write_pts(tmp_path / "f.pts", pts)
    image = _image(tmp_path / "f.png")
    rec = read_pts(path)
    assert rec.image == image and rec.source == str(path)
    np.testing.assert_array_equal(rec.points, pts)
    np.testing.assert_array_equal(rec.box, [1, 2, 5, 7])
    assert rec.visible.dtype == bool and rec.visible.all()
    rec = read_pts(path, box=(0, 0, 9, 9))
    np.testing.assert_array_equal(rec.box, [0, 0, 9, 9])
    _raises_at(path, None, "x_max < x_min", read_pts, path, box=(5, 0, 1, 9))


def test_read_pts_missing_image(tmp_path):
    path = write_pts(tmp_path / "lonely.pts", np.zeros((2, 2)))
    assert read_pts(path).image == tmp_path / "lonely.jpg"  # conventional name when not checking
    _raises_at(path, None, "no image beside", read_pts, path, check_image=True)
    _raises_at(path, None, "image file not found", read_pts, path, image=tmp_path / "nope.jpg", check_image=True)


HEAD = "version: 1\nn_points: 3\n{\n"
BAD_PTS = [
    ("empty", "", None, "empty file", {}),
    ("blank", "\n  \n\n", None, "empty file", {}),
    ("truncated", HEAD + "1 2\n3 4\n", 5, "truncated file: ended after 2 of 3 points", {}),
    ("no_open", "version: 1\nn_points: 2\n1 2\n3 4\n}\n", 3, "missing '{'", {}),
    ("header_only", "version: 1\nn_points: 2\n", 2, "missing '{'", {}),
    ("no_close", HEAD + "1 2\n3 4\n5 6\n", 6, "missing closing '}'", {}),
    ("too_few", HEAD + "1 2\n3 4\n}\n", 6, "found 2 points but the header says n_points: 3", {}),
    ("too_many", HEAD + "1 2\n3 4\n5 6\n7 8\n}\n", 7, "more points than n_points: 3", {}),
    ("expected", HEAD + "1 2\n3 4\n5 6\n}\n", 2, "n_points: 3 but 68 points expected", {"expected_points": 68}),
    ("no_n_points", "version: 1\n{\n1 2\n}\n", 2, "missing 'n_points:'", {}),
    ("bad_n_points", "version: 1\nn_points: 6x8\n{\n}\n", 2, "whole number", {}),
    ("non_numeric", HEAD + "1 2\n3 abc\n5 6\n}\n", 5, "non-numeric coordinate token 'abc'", {}),
    ("nan", HEAD + "1 2\nnan 4\n5 6\n}\n", 5, "non-finite coordinate 'nan'", {}),
    ("inf", HEAD + "1 2\n3 4\n5 -inf\n}\n", 6, "non-finite coordinate '-inf'", {}),
    ("three_tokens", HEAD + "1 2 9\n3 4\n5 6\n}\n", 4, "expected 2 numbers", {}),
    ("after_close", HEAD + "1 2\n3 4\n5 6\n}\nextra\n", 8, "unexpected content after '}'", {}),
]


@pytest.mark.parametrize("name,text,line,fragment,kw", BAD_PTS, ids=[b[0] for b in BAD_PTS])
def test_pts_bad_input(tmp_path, name, text, line, fragment, kw):
    path = _write(tmp_path / f"{name}.pts", text)
    _raises_at(path, line, fragment, parse_pts, path, **kw)


def test_pts_binary_file(tmp_path):
    path = _write(tmp_path / "bin.pts", b"\xff\xfe\x00\x81garbage")
    _raises_at(path, None, "not a text file", parse_pts, path)


def test_pts_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.pts"):
        parse_pts(tmp_path / "nothere.pts")


def test_format_error_pickles(tmp_path):
    err = FormatError(tmp_path / "x.pts", "broken", 3)
    back = pickle.loads(pickle.dumps(err))
    assert str(back) == str(err) and back.line == 3 and back.problem == "broken"


# ------------------------------------------------------------------------------------------- find_pts_faces

def test_find_pts_faces_tree(tmp_path):
    root = tmp_path / "300w"
    write_pts(root / "lfpw" / "b.pts", np.array([[1.0, 1.0], [3.0, 5.0]]))
    _image(root / "lfpw" / "b.png")
    write_pts(root / "helen" / "x" / "a.pts", np.array([[0.0, 0.0], [2.0, 2.0]]))
    _image(root / "helen" / "x" / "a.JPG")
    write_pts(root / "afw" / "c.pts", np.array([[4.0, 4.0], [6.0, 9.0]]))
    _image(root / "afw" / "c.jpeg")
    write_pts(root / "ibug" / "orphan.pts", np.zeros((2, 2)))  # no image: skipped with a warning
    with pytest.warns(UserWarning, match="skipped 1"):
        recs = find_pts_faces(root, expected_points=2, boxes={"lfpw/b": (0, 0, 10, 10)})
    assert [Path(r.source).relative_to(root).as_posix() for r in recs] == ["afw/c.pts", "helen/x/a.pts", "lfpw/b.pts"]
    assert Path(recs[1].image).name == "a.JPG"
    np.testing.assert_array_equal(recs[0].box, [4, 4, 6, 9])
    np.testing.assert_array_equal(recs[2].box, [0, 0, 10, 10])
    _raises_at(root / "afw" / "c.pts", 2, "n_points: 2 but 68", find_pts_faces, root, expected_points=68)


def test_find_pts_faces_empty_and_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        find_pts_faces(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no .pts file"):
        find_pts_faces(tmp_path / "empty")


# ---------------------------------------------------------------------------------------------------- images

def test_load_image_rgb_order_and_grey(tmp_path):
    bgr = np.zeros((4, 6, 3), np.uint8)
    bgr[1, 2] = (10, 20, 30)  # B, G, R
    cv2.imwrite(str(tmp_path / "c.png"), bgr)
    rgb = load_image(tmp_path / "c.png")
    assert rgb.shape == (4, 6, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[1, 2]) == (30, 20, 10)
    cv2.imwrite(str(tmp_path / "g.png"), np.full((3, 5), 77, np.uint8))
    grey = load_image(str(tmp_path / "g.png"))
    assert grey.shape == (3, 5, 3) and (grey == 77).all()
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(load_image(arr), arr[:, :, :3])
    with pytest.raises(ValueError, match="uint8"):
        load_image(np.zeros((2, 2, 3), np.float32))


def test_load_image_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        load_image(tmp_path / "missing.jpg")
    for name, data in (("broken.jpg", b"not a jpeg at all"), ("zero.png", b"")):
        path = _write(tmp_path / name, data)
        _raises_at(path, None, "unreadable image", load_image, path)


# ------------------------------------------------------------------------------------------------------ WFLW

def _wflw_line(coords: list[float], box=(1, 2, 30, 40), flags="1 0 1 0 0 1", image="a/b.jpg") -> str:
    return " ".join(map(str, coords)) + " " + " ".join(map(str, box)) + f" {flags} {image}"


def test_wflw_line_by_hand(tmp_path):
    coords = list(range(196))  # x_i = 2i, y_i = 2i + 1 (interleaved x0 y0 x1 y1 ...)
    path = _write(tmp_path / "ann" / "list.txt", _wflw_line(coords) + "\n\n")
    rec, = read_wflw_list(path, image_root=tmp_path / "imgs")
    assert rec.points.shape == (98, 2)
    np.testing.assert_array_equal(rec.points[5], [10, 11])
    np.testing.assert_array_equal(rec.points[97], [194, 195])
    np.testing.assert_array_equal(rec.box, [1, 2, 30, 40])
    assert rec.attributes == {"pose": 1, "expression": 0, "illumination": 1, "make_up": 0, "occlusion": 0, "blur": 1}
    assert rec.image == tmp_path / "imgs" / "a" / "b.jpg"
    assert rec.source == f"{path}:1" and rec.visible.all()
    assert read_wflw_list(path)[0].image == tmp_path / "ann" / "a" / "b.jpg"  # default root: the list's folder


def test_wflw_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    root = tmp_path / "WFLW_images"
    recs = []
    for i in range(3):
        image = _image(root / "0--Parade" / f"{i}.jpg")
        pts = rng.uniform(0, 200, (98, 2))
        attrs = dict(zip(WFLW_ATTRIBUTES, rng.integers(0, 2, 6).tolist()))
        recs.append(FaceRecord(image, pts, np.ones(98, bool), box_from_points(pts) + [-3, -3, 3, 3], attrs))
    path = write_wflw_list(tmp_path / "list.txt", recs, image_root=root)
    assert len(path.read_text().splitlines()[0].split()) == 207
    assert path.read_text().split()[206] == "0--Parade/0.jpg"
    back = read_wflw_list(path, image_root=root, check_images=True)
    for a, b in zip(recs, back):
        np.testing.assert_allclose(b.points, a.points, atol=1e-6)
        np.testing.assert_allclose(b.box, a.box, atol=1e-6)
        assert b.attributes == a.attributes and b.image == a.image


BAD_WFLW = [
    ("count", _wflw_line(list(range(195))), "expected 207 tokens"),
    ("non_numeric", _wflw_line(["x"] + list(range(195))), "non-numeric coordinate token 'x'"),
    ("nan", _wflw_line(list(range(10)) + ["nan"] + list(range(185))), "non-finite coordinate 'nan'"),
    ("flag", _wflw_line(list(range(196)), flags="1 0 2 0 0 1"), "attribute flag must be 0 or 1, got '2'"),
    ("box", _wflw_line(list(range(196)), box=(1, 2, "inf", 4)), "non-finite box 'inf'"),
    ("box_order", _wflw_line(list(range(196)), box=(30, 2, 1, 40)), "x_max < x_min"),
]


@pytest.mark.parametrize("name,bad,fragment", BAD_WFLW, ids=[b[0] for b in BAD_WFLW])
def test_wflw_bad_line(tmp_path, name, bad, fragment):
    good = _wflw_line(list(range(196)))
    path = _write(tmp_path / "list.txt", f"{good}\n{bad}\n{good}\n")
    _raises_at(path, 2, fragment, read_wflw_list, path)


def test_wflw_missing_image_and_empty(tmp_path):
    path = _write(tmp_path / "list.txt", "\n" + _wflw_line(list(range(196)), image="gone.jpg") + "\n")
    _raises_at(path, 2, "image file not found", read_wflw_list, path, check_images=True)
    assert len(read_wflw_list(path)) == 1  # not checked unless asked
    empty = _write(tmp_path / "empty.txt", "\n# nothing\n")
    _raises_at(empty, None, "empty file", read_wflw_list, empty)


# ------------------------------------------------------------------------------------------------------ AFLW

def _aflw_line(image="img/1.jpg", xs=None, ys=None, vis=None, box=(0, 100, 30, 130)) -> str:
    xs = list(range(19)) if xs is None else xs
    ys = list(range(100, 119)) if ys is None else ys
    vis = [1] * 18 + [0] if vis is None else vis
    return " ".join(map(str, [image, *xs, *ys, *vis, *box]))


def test_aflw_line_by_hand(tmp_path):
    path = _write(tmp_path / "aflw.txt", "# image x*19 y*19 v*19 box\n" + _aflw_line() + "\n")
    rec, = read_aflw_list(path)
    np.testing.assert_array_equal(rec.points[5], [5, 105])  # all x first, then all y
    assert rec.visible.sum() == 18 and not rec.visible[18]
    np.testing.assert_array_equal(rec.box, [0, 100, 30, 130])
    assert rec.image == tmp_path / "img" / "1.jpg" and rec.source == f"{path}:2"
    rec1, = read_aflw_list(path, one_based=True)
    np.testing.assert_array_equal(rec1.points[5], [4, 104])
    np.testing.assert_array_equal(rec1.box, [-1, 99, 29, 129])


@pytest.mark.parametrize("one_based", [False, True])
def test_aflw_round_trip(tmp_path, one_based):
    rng = np.random.default_rng(2)
    recs = [FaceRecord(tmp_path / "im" / f"{i}.jpg", rng.uniform(0, 99, (19, 2)), rng.random(19) > 0.3,
                       np.array([1.5, 2.0, 90.0, 95.25])) for i in range(4)]
    path = write_aflw_list(tmp_path / "out.txt", recs, image_root=tmp_path, one_based=one_based)
    back = read_aflw_list(path, one_based=one_based)
    for a, b in zip(recs, back):
        np.testing.assert_allclose(b.points, a.points, atol=1e-6)
        np.testing.assert_array_equal(b.visible, a.visible)
        np.testing.assert_allclose(b.box, a.box)
        assert b.image == a.image


BAD_AFLW = [
    ("count", _aflw_line(xs=list(range(18))), "expected 62 tokens"),
    ("non_numeric", _aflw_line(ys=["y"] * 19), "non-numeric coordinate token 'y'"),
    ("inf", _aflw_line(xs=["inf"] + list(range(18))), "non-finite coordinate 'inf'"),
    ("visibility", _aflw_line(vis=[1] * 18 + ["0.5"]), "visibility flag must be 0 or 1"),
]


@pytest.mark.parametrize("name,bad,fragment", BAD_AFLW, ids=[b[0] for b in BAD_AFLW])
def test_aflw_bad_line(tmp_path, name, bad, fragment):
    path = _write(tmp_path / "aflw.txt", f"{_aflw_line()}\n{_aflw_line()}\n{bad}\n")
    _raises_at(path, 3, fragment, read_aflw_list, path)


def test_aflw_missing_image_and_empty(tmp_path):
    path = _write(tmp_path / "aflw.txt", _aflw_line() + "\n")
    _raises_at(path, 1, "image file not found", read_aflw_list, path, check_images=True)
    empty = _write(tmp_path / "e.txt", "")
    _raises_at(empty, None, "empty file", read_aflw_list, empty)


def test_list_writers_refuse_arrays_and_spaces(tmp_path):
    rec = FaceRecord(np.zeros((4, 4, 3), np.uint8), np.zeros((19, 2)), np.ones(19, bool), np.zeros(4))
    _raises_at(tmp_path / "o.txt", None, "image array", write_aflw_list, tmp_path / "o.txt", [rec])
    rec.image = "a b.jpg"
    _raises_at(tmp_path / "o.txt", None, "whitespace", write_aflw_list, tmp_path / "o.txt", [rec])


# ------------------------------------------------------------------------------------------------------ COFW

def _phis(xs1: np.ndarray, ys1: np.ndarray, occ: np.ndarray) -> np.ndarray:
    return np.concatenate([xs1, ys1, occ]).astype(np.float64)


def _matlab_h5(path: Path, images: list[np.ndarray], phis: np.ndarray, boxes: np.ndarray | None,
               keys=("IsT", "phisT", "bboxesT")) -> Path:
    """A file laid out as MATLAB v7.3 saves it: cell of refs (1, N), arrays transposed, images transposed."""
    with h5py.File(path, "w") as f:
        refs = np.empty((1, len(images)), dtype=h5py.ref_dtype)
        for i, img in enumerate(images):
            stored = img.T if img.ndim == 2 else img.transpose(2, 1, 0)
            refs[0, i] = f.create_dataset(f"#refs#/{i}", data=stored).ref
        f.create_dataset(keys[0], data=refs)
        f.create_dataset(keys[1], data=np.asarray(phis).T)  # MATLAB N x 87 -> HDF5 (87, N)
        if boxes is not None:
            f.create_dataset(keys[2], data=np.asarray(boxes, np.float64).T)
    return path


def _cofw_fixture():
    grey = np.zeros((4, 6), np.uint8)  # H=4, W=6
    grey[1, 4] = 200
    colour = np.zeros((4, 5, 3), np.uint8)  # H=4, W=5
    colour[2, 3] = (10, 20, 30)
    xs1, ys1 = np.arange(1, 30, dtype=float), np.arange(101, 130, dtype=float)
    occ = np.zeros(29)
    occ[[3, 28]] = 1
    phis = np.stack([_phis(xs1, ys1, occ), _phis(xs1 + 0.5, ys1, np.zeros(29))])
    boxes = np.array([[11, 21, 50, 60], [1, 1, 5, 3]], np.float64)  # x y w h, 1-based
    return [grey, colour], phis, boxes


def _check_cofw(recs: list[FaceRecord], path: Path) -> None:
    assert len(recs) == 2
    grey, colour = recs[0].image, recs[1].image
    assert grey.shape == (4, 6, 3) and tuple(grey[1, 4]) == (200, 200, 200) and grey.sum() == 600
    assert colour.shape == (4, 5, 3) and tuple(colour[2, 3]) == (10, 20, 30) and colour.sum() == 60
    np.testing.assert_array_equal(recs[0].points[0], [0, 100])  # 1-based -> 0-based
    np.testing.assert_array_equal(recs[0].points[28], [28, 128])
    np.testing.assert_array_equal(recs[1].points[2], [2.5, 102])
    assert list(np.flatnonzero(~recs[0].visible)) == [3, 28] and recs[1].visible.all()
    np.testing.assert_array_equal(recs[0].box, [10, 20, 60, 80])  # x-1, y-1, x-1+w, y-1+h
    np.testing.assert_array_equal(recs[1].box, [0, 0, 5, 3])
    assert recs[1].source == f"{path}:face 2"


def test_cofw_matlab_v73_layout(tmp_path):
    images, phis, boxes = _cofw_fixture()
    path = _matlab_h5(tmp_path / "COFW_test_color.mat", images, phis, boxes)
    _check_cofw(read_cofw_mat(path), path)
    _check_cofw(read_cofw_mat(path, split="test"), path)


def test_cofw_matlab_v5_layout(tmp_path):
    images, phis, boxes = _cofw_fixture()
    cell = np.empty((2, 1), dtype=object)
    cell[0, 0], cell[1, 0] = images
    path = tmp_path / "COFW_train_color.mat"
    scipy.io.savemat(path, {"IsTr": cell, "phisTr": phis, "bboxesTr": boxes})
    recs = read_cofw_mat(path)
    _check_cofw(recs, path)


def test_cofw_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    img_path = tmp_path / "face.png"
    cv2.imwrite(str(img_path), rng.integers(0, 255, (12, 9, 3), dtype=np.uint8))
    recs = [FaceRecord(rng.integers(0, 255, (20, 31, 3), dtype=np.uint8), rng.uniform(0, 19, (29, 2)),
                       rng.random(29) > 0.4, np.array([1.0, 2.0, 18.5, 17.0])),
            FaceRecord(img_path, rng.uniform(0, 8, (29, 2)), np.ones(29, bool), np.array([0.0, 0.0, 8.0, 11.0]))]
    path = write_cofw_mat(tmp_path / "out.mat", recs, split="train")
    assert path.read_bytes()[:10] == b"MATLAB 7.3"
    with h5py.File(path, "r") as f:
        assert f["phisTr"].shape == (87, 2) and f["bboxesTr"].shape == (4, 2) and f["IsTr"].shape == (1, 2)
        assert f[f["IsTr"][0, 0]].shape == (3, 31, 20)  # MATLAB's transposed image layout
    back = read_cofw_mat(path)
    for a, b in zip(recs, back):
        np.testing.assert_array_equal(b.image, load_image(a.image))
        np.testing.assert_allclose(b.points, a.points, atol=1e-12)
        np.testing.assert_array_equal(b.visible, a.visible)
        np.testing.assert_allclose(b.box, a.box, atol=1e-12)


def test_cofw_without_boxes_uses_points(tmp_path):
    images, phis, _ = _cofw_fixture()
    path = _matlab_h5(tmp_path / "nobox.mat", images, phis, None, keys=("images", "phis", "bboxes"))
    recs = read_cofw_mat(path)
    np.testing.assert_array_equal(recs[0].box, box_from_points(recs[0].points))


def test_cofw_bad_inputs(tmp_path):
    images, phis, boxes = _cofw_fixture()
    p = _matlab_h5(tmp_path / "short.mat", images, phis[:, :86], boxes)
    _raises_at(p, None, "phis has shape (86, 2), expected N x 87", read_cofw_mat, p)
    p = _matlab_h5(tmp_path / "count.mat", images, phis, boxes[:1])
    _raises_at(p, None, "wrong shapes", read_cofw_mat, p)
    p = _matlab_h5(tmp_path / "boxshape.mat", images, phis, boxes[:, :3])
    _raises_at(p, None, "bboxes has shape", read_cofw_mat, p)
    bad = phis.copy()
    bad[1, 40] = np.nan
    p = _matlab_h5(tmp_path / "nan.mat", images, bad, boxes)
    _raises_at(p, None, "face 2: non-finite", read_cofw_mat, p)
    p = _matlab_h5(tmp_path / "float.mat", [images[0].astype(np.float64), images[1]], phis, boxes)
    _raises_at(p, None, "face 1: image has dtype float64", read_cofw_mat, p)
    p = _matlab_h5(tmp_path / "keys.mat", images, phis, boxes, keys=("Foo", "phisT", "bboxesT"))
    _raises_at(p, None, "cannot tell the COFW split", read_cofw_mat, p)
    _raises_at(p, None, "missing 'IsT'", read_cofw_mat, p, split="test")
    p = _write(tmp_path / "text.mat", "hello, not a mat file\n")
    _raises_at(p, None, "not a MATLAB .mat file", read_cofw_mat, p)
    with pytest.raises(FileNotFoundError, match="absent.mat"):
        read_cofw_mat(tmp_path / "absent.mat")


def test_no_warnings_on_clean_reads(tmp_path):
    write_pts(tmp_path / "a.pts", np.ones((3, 2)))
    _image(tmp_path / "a.jpg")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(find_pts_faces(tmp_path, expected_points=3)) == 1
