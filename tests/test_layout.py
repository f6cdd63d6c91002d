"""The house of floors (DESIGN.md, "Layout"): each module imports only from its own floor or below, every import
counted (lazy ones inside functions too); no file is over ~400 lines."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

LAB = Path(__file__).resolve().parents[1] / "lab"
# bottom to top; a module's floor is the longest prefix listed
FLOORS = [
    ("lab.registry", "lab.atomic", "lab.schema"),
    ("lab.data",),
    ("lab.models",),
    ("lab.moments", "lab.heatmaps"),
    ("lab.losses", "lab.metrics"),
    ("lab.config",),
    ("lab.runner",),
    ("lab.viz",),
    ("lab.notebook", "lab.dashboard", "lab.__main__", "lab"),
]
MAX_LINES = 420


def floor_of(module: str) -> int:
    best, level = -1, None
    for i, names in enumerate(FLOORS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > best:
                best, level = len(name), i
    assert level is not None, f"{module} is on no floor of tests/test_layout.py"
    return level


def module_name(path: Path) -> str:
    parts = path.relative_to(LAB.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every `import lab...` / `from lab... import name` in the file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "lab"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "lab" and not node.level:
            for a in node.names:  # `from lab import metrics` imports the module lab.metrics
                sub = f"{node.module}.{a.name}"
                out.append((node.lineno, sub if (LAB.parent / (sub.replace(".", "/") + ".py")).exists()
                            or (LAB.parent / sub.replace(".", "/")).is_dir() else node.module))
    return out


FILES = sorted(LAB.rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(LAB.parent)))
def test_imports_point_down_the_floors(path):
    me = module_name(path)
    if me == "lab":  # the front door: its names are imported lazily from every floor
        return
    up = [f"line {line}: {mod}" for line, mod in imports(path) if floor_of(mod) > floor_of(me)]
    assert not up, f"{me} imports from a floor above it: " + "; ".join(up)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(LAB.parent)))
def test_no_file_is_over_about_400_lines(path):
    assert len(path.read_text().splitlines()) <= MAX_LINES


def test_the_check_sees_an_upward_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from lab.runner.train import train\n")
    assert [floor_of(m) for _, m in imports(bad)] == [floor_of("lab.runner")] and floor_of("lab.runner") > floor_of("lab.losses")
