"""lab.notebook: the helpers the notebooks share (budget, results folder, headless detection, alignment)."""
from __future__ import annotations

import os

import numpy as np
import pytest

from lab.config import RunConfig
from lab.data.synthetic.label_noise import contour_tangents
from lab.data.synthetic import SyntheticFaces
from lab.schema import get_scheme
from lab import notebook as nb


def test_pick_budget_cpu_and_cuda():
    cpu = nb.pick_budget("hourglass", cuda=False)
    gpu = nb.pick_budget("hourglass", cuda=True)
    assert cpu["device"] == "cpu" and gpu["device"] == "cuda"
    assert cpu["model_kw"]["input_size"] == 64 and gpu["width"] > cpu["width"]
    assert gpu["train_n"] * gpu["epochs"] > 5 * cpu["train_n"] * cpu["epochs"]
    # overrides apply on both budgets, `cpu` only on the CPU one
    assert nb.pick_budget("rcn", cuda=False, epochs=2, cpu={"train_n": 7})["train_n"] == 7
    assert nb.pick_budget("rcn", cuda=True, epochs=2, cpu={"train_n": 7})["train_n"] == nb.CUDA_BUDGET["train_n"]
    assert nb.pick_budget("rcn", cuda=True, epochs=2)["epochs"] == 2
    with pytest.raises(ValueError, match="unknown live model"):
        nb.pick_budget("resnet")


@pytest.mark.parametrize("cuda", [False, True])
def test_live_config_is_a_valid_run_config(cuda):
    cfg = nb.live_config("x", "w2", decoder="barycenter", cuda=cuda)
    assert isinstance(cfg, RunConfig)
    assert RunConfig.from_dict(cfg.to_dict()) == cfg


def test_results_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv(nb.RESULTS_ENV, raising=False)
    assert nb.results_dir() == nb.REPO / "results"
    monkeypatch.setenv(nb.RESULTS_ENV, str(tmp_path))
    assert nb.results_dir() == tmp_path
    assert nb.results_dir(tmp_path / "other") == tmp_path / "other"


def test_interactive_frontend_env_override(monkeypatch):
    monkeypatch.setenv(nb.WIDGETS_ENV, "0")
    assert nb.interactive_frontend() is False
    monkeypatch.setenv(nb.WIDGETS_ENV, "1")
    assert nb.interactive_frontend() is True
    monkeypatch.delenv(nb.WIDGETS_ENV)
    monkeypatch.setattr(os, "getppid", os.getpid)  # pretend our parent is this pytest process
    assert nb.interactive_frontend() is False


def test_ced_threshold():
    assert nb.ced_threshold({"a": np.array([0.02, 0.05, 0.3])}) == 0.1
    assert nb.ced_threshold({"a": np.array([0.5, 0.8, 0.9, 1.25])}) == pytest.approx(1.2)


def _prediction_with_axes(along_tangent: bool) -> dict:
    """One synthetic face whose predicted covariances have std 2 along (or across) each contour and 1 across."""
    gt = SyntheticFaces("common", n=1, size=128, seed=0)[0].points
    t = contour_tangents(gt, get_scheme(68))
    t = np.where(np.linalg.norm(t, axis=-1, keepdims=True) > 0, t, [1.0, 0.0])
    major = t if along_tangent else np.stack([-t[:, 1], t[:, 0]], -1)
    minor = np.stack([-major[:, 1], major[:, 0]], -1)
    cov = 4.0 * major[:, :, None] * major[:, None, :] + minor[:, :, None] * minor[:, None, :]
    return {"gt": gt[None], "cov": cov[None], "visible": np.ones((1, 68), bool)}


def test_contour_alignment_angles_and_anisotropy():
    angle, ratio = nb.contour_alignment(_prediction_with_axes(True))
    assert len(angle) > 50  # jaw, brows, nose, eyes, lips
    np.testing.assert_allclose(angle, 0.0, atol=1e-4)
    np.testing.assert_allclose(ratio, 2.0, rtol=1e-9)
    angle, _ = nb.contour_alignment(_prediction_with_axes(False))
    np.testing.assert_allclose(angle, 90.0, atol=1e-4)


def test_experiment_runs_reports_missing_runs(tmp_path):
    exp, found, missing = nb.experiment_runs("wing_coordinates", tmp_path)
    assert found == {} and missing == [c.name for c in exp.runs] and missing


# explore in a real kernel: fn's calls and the figures rendered to PNG (every inline display of a figure, the cell's
# value included, goes through FigureCanvasBase.print_figure) are counted inside the kernel.
EXPLORE_CELLS = [
    """import json
import matplotlib.pyplot as plt
from matplotlib.backend_bases import FigureCanvasBase
from lab import notebook as nb

nb.setup()
calls, renders, made = [], [], []
_print_figure, _widget = FigureCanvasBase.print_figure, nb.Knob.widget
FigureCanvasBase.print_figure = lambda self, *a, **k: renders.append(1) or _print_figure(self, *a, **k)
nb.Knob.widget = lambda self, name: made.append(_widget(self, name)) or made[-1]


def picture(x=1):
    calls.append(x)
    fig, ax = plt.subplots(figsize=(2, 2), dpi=40)
    ax.plot([0, x])
    return fig


def counts():
    print(json.dumps({"calls": calls, "renders": len(renders)}))
    calls.clear()
    renders.clear()""",
    "nb.explore(picture, widgets=False, x=nb.Knob(1, 1, 5, 1))",
    "counts()",
    "nb.explore(picture, widgets=True, x=nb.Knob(1, 1, 5, 1))",
    "made[-1].value = 3",
    "counts()",
]


def _pngs(outputs) -> int:
    return sum("image/png" in o.get("data", {}) for o in outputs)


def test_explore_draws_each_picture_once_in_a_kernel():
    import json

    import nbclient
    import nbformat

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in EXPLORE_CELLS])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    cells = notebook.cells
    static, with_widgets = (json.loads(cells[i].outputs[-1].text) for i in (2, 5))
    # headless: one call, one picture in the cell's output, and no second copy as the cell's value
    assert static == {"calls": [1], "renders": 1}
    assert _pngs(cells[1].outputs) == 1 and not [o for o in cells[1].outputs if o.output_type == "execute_result"]
    # with sliders: the defaults' picture is drawn once (the widget does not draw it again), then once per change
    assert with_widgets == {"calls": [1, 3], "renders": 2}
    assert _pngs(cells[3].outputs) == 0 and not [o for o in cells[3].outputs if o.output_type == "execute_result"]
    state = notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"].values()
    shown = [s["state"]["outputs"] for s in state if s["model_name"] == "OutputModel"]
    assert [_pngs(o) for o in shown] == [1]  # the picture, redrawn in place


# The notebook layer wires data to pictures and widgets; the pictures themselves are drawn in lab.viz.
MATPLOTLIB_USES = {"show", "fignum_exists", "use", "Figure"}  # show figures, pick the backend, recognise a figure
DRAWING = {"plot", "imshow", "hist", "scatter", "bar", "subplots", "add_subplot", "figure", "legend", "tight_layout",
           "set_title", "annotate", "quiver", "contour", "fill_between", "axhline", "axvline", "savefig", "suptitle"}


def drawing_in(source: str) -> list[str]:
    """`line: name` for each drawing call and each matplotlib name beyond MATPLOTLIB_USES in the source."""
    import ast

    tree = ast.parse(source)
    mpl = {a.asname or a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
           for a in n.names if a.name.split(".")[0] == "matplotlib"}
    found = [f"{n.lineno}: {a.name}" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
             and (n.module or "").split(".")[0] == "matplotlib" for a in n.names if a.name not in MATPLOTLIB_USES]
    for n in ast.walk(tree):
        if isinstance(n, ast.Attribute) and ((isinstance(n.value, ast.Name) and n.value.id in mpl
                                              and n.attr not in MATPLOTLIB_USES) or n.attr in DRAWING):
            found.append(f"{n.lineno}: {n.attr}")
    return found


@pytest.mark.parametrize("path", sorted((nb.REPO / "lab" / "notebook").glob("*.py")), ids=lambda p: p.name)
def test_notebook_layer_draws_nothing_itself(path):
    assert not drawing_in(path.read_text()), f"{path.name} draws; move the picture to lab/viz/"


def test_the_drawing_check_sees_a_picture():
    assert drawing_in("import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\n") == ["2: subplots"]
    assert drawing_in("def f(ax):\n    ax.imshow(1)\n") == ["2: imshow"]
    assert drawing_in("from matplotlib.patches import Ellipse\n") == ["1: Ellipse"]
    assert drawing_in("import matplotlib.pyplot as plt\nplt.show()\n") == []


def test_attribute_table_scores_each_run_on_its_own_test_faces(tmp_path):
    """Runs of different suites draw different synthetic test sets (here 6 and 10 faces per subset): each row is
    scored on its own faces, with its own flag counts (the version-1 and version-2 suites side by side in 05)."""
    from lab.config import RunConfig
    from lab.runner.runs import open_run
    from lab.runner.train import train

    base = RunConfig(model="rcn", width=0.0625, train_n=8, val_n=2, epochs=1, batch_size=8, device="cpu", threads=1,
                     synth_size=64, augment=False)
    for name, n in (("six", 6), ("ten", 10)):
        train(base.replace(name=name, test_n=n), tmp_path, progress=False, log=lambda _: None)
    table = nb.attribute_table([open_run(tmp_path / "six"), open_run(tmp_path / "ten")], "challenge")
    assert table.loc["six", "faces"] == 6 and table.loc["ten", "faces"] == 10
    flag_counts = [c for c in table.columns if c.endswith(" faces") and c != "all faces"]
    assert flag_counts and (table.loc["ten", flag_counts] <= 10).all() and (table.loc["six", flag_counts] <= 6).all()
