"""The notebooks are stored clean (no outputs, no execution counts) and teach from the lab, not from copies of it.

nbval runs them (`python -m pytest --nbval-lax notebooks/`); this file checks what git should hold: every notebook
is valid nbformat 4 with its outputs stripped, imports from `lab`, and defines no loss function of its own (the
implementation is imported and shown with inspect, never pasted into a cell).
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
EXPECTED = ("00_tour", "01_wing", "02_laplace_kl", "03_star", "04_wasserstein", "05_compare")
# Names a notebook must not define: the losses (and their per-landmark / closed-form parts) live in lab.losses.
LOSS_NAME = re.compile(r"^(a?wing|star\w*|\w*laplace\w*|\w*_kl|w2\w*|\w*wasserstein\w*|sinkhorn\w*|eig2x2"
                       r"|heatmap_mse|smooth_l1|l1|l2|\w*_loss|\w*Loss|\w*KL|\w*Wing)$", re.IGNORECASE)


def notebook_paths() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def code_cells(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code"]


def defined_names(source: str) -> list[str]:
    """Function and class names defined anywhere in a code cell (nested ones included)."""
    tree = ast.parse(source)
    return [n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


def test_every_notebook_is_there():
    assert [p.stem for p in notebook_paths()] == list(EXPECTED)


def dirt(nb) -> list[str]:
    """What keeps a notebook from being stored clean: outputs, execution counts, timing metadata, wrong kernel."""
    problems = []
    if nb.metadata.get("kernelspec", {}).get("name") != "python3":
        problems.append("kernelspec must be python3")
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs"):
            problems.append(f"cell {i}: outputs must be stripped")
        if cell.get("execution_count") is not None:
            problems.append(f"cell {i}: execution_count must be null")
        if "execution" in cell.metadata:
            problems.append(f"cell {i}: execution timing metadata must be stripped")
    return problems


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda p: p.stem)
def test_stored_clean(path: Path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert dirt(nb) == [], f"{path.name}: {dirt(nb)}"


def test_the_cleanliness_check_catches_an_executed_notebook():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# t"), nbformat.v4.new_code_cell("1 + 1")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    assert dirt(nb) == []
    cell = nb.cells[1]
    cell.execution_count = 3
    cell.outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=3)]
    cell.metadata["execution"] = {"iopub.execute_input": "2024-01-01T00:00:00Z"}
    assert dirt(nb) == ["cell 1: outputs must be stripped", "cell 1: execution_count must be null",
                        "cell 1: execution timing metadata must be stripped"]


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda p: p.stem)
def test_imports_the_lab_and_defines_no_loss(path: Path):
    cells = code_cells(path)
    assert any(re.search(r"^\s*(from lab[.\s]|import lab\b)", src, re.M) for src in cells), \
        f"{path.name}: imports nothing from lab"
    for i, src in enumerate(cells):
        bad = [name for name in defined_names(src) if LOSS_NAME.match(name)]
        assert not bad, f"{path.name} code cell {i}: defines {bad}; import the loss from lab.losses instead"


def test_the_name_check_catches_pasted_losses():
    pasted = "import torch\n\ndef wing(x, w=10.0, eps=2.0):\n    return x\n\nclass STARLoss:\n    pass\n"
    assert [n for n in defined_names(pasted) if LOSS_NAME.match(n)] == ["wing", "STARLoss"]
    harmless = "def loss_curves(w=10.0, eps=2.0):\n    pass\n\ndef decoder_errors():\n    pass\n"
    assert [n for n in defined_names(harmless) if LOSS_NAME.match(n)] == []
