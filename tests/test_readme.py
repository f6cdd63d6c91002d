"""The README's two commands: CI runs exactly the README's test command, and the main job is a real CLI verb."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    head = text[: text.index("## ")]  # the first screen: everything before the first section
    return re.findall(r"```bash\n(.+?)\n```", head, flags=re.S)


def test_first_screen_has_the_two_commands():
    main_job, tests = _readme_commands()[:2]
    assert "pip install" in main_job and "requirements.txt" in main_job and "python -m lab demo" in main_job
    assert "pip install" in tests and "python -m pytest" in tests


def test_ci_runs_exactly_the_readme_test_command():
    tests = _readme_commands()[1].strip()
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert tests in ci_lines


def test_main_job_verb_exists():
    from lab.__main__ import build_parser

    args = build_parser().parse_args(["demo", "--epochs", "1"])
    assert args.fn.__name__ == "cmd_demo"


def test_requirements_are_pinned():
    lines = [l.strip() for l in (ROOT / "requirements.txt").read_text().splitlines()]
    reqs = [l for l in lines if l and not l.startswith("#") and not l.startswith("-e")]
    assert "torch==2.13.0" in reqs
    assert all("==" in l for l in reqs), [l for l in reqs if "==" not in l]
