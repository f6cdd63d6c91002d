"""The experiment suite: configs parse, shared runs agree, and the quick suite runs end to end into SUMMARY.md."""
from __future__ import annotations

import json

import pytest

from lab.config import CONFIG_VERSION
from lab.runner import runs
from pathlib import Path
from lab import reproduce
from lab.runner.reproduce import load_experiments, unique_runs
from lab.runner.verdicts import verdicts

ROOT = Path(__file__).resolve().parents[1]


def test_the_suite_covers_every_paper():
    exps = load_experiments()
    names = {e.name for e in exps}
    assert {"laplace_vs_softargmax", "adversarial", "width_sweep", "star_ambiguity", "wasserstein_jitter",
            "wing_coordinates"} <= names


def test_every_experiment_parses_and_shared_runs_agree():
    """Every run's config builds (an ERT beside hourglass runs does not inherit their model_kw), shared run names
    mean one config, expectations name runs of their experiment, "real" names experiments that exist."""
    exps = load_experiments()
    configs = unique_runs(exps)
    assert len({c.name for c in configs}) == len(configs) and configs
    assert all(c.model_kw == {} for c in configs if c.model == "ert")
    # the suite trains on the recipe: a base without "version" would load as a version-1 config (Adam, fixed
    # faces, the linear head), what the runs committed before the recipe were trained with
    assert {c.version for c in configs} == {CONFIG_VERSION} and {c.optimizer for c in configs} == {"adamw"}
    assert all(c.model_kw == {"stacks": 1} for c in configs if c.model == "hourglass")
    assert {r for e in exps for r in e.real} <= {e.name for e in exps}
    for e in exps:
        assert {x["better"] for x in e.expect} | {x["than"] for x in e.expect} <= {c.name for c in e.runs}


def test_conflicting_run_definitions_are_refused(tmp_path):
    for i, loss in enumerate(("l2", "l1")):
        (tmp_path / f"{i}.json").write_text(json.dumps({
            "name": f"e{i}", "paper": "p", "claim": "c", "base": {}, "runs": [{"name": "same", "loss": loss}]}))
    with pytest.raises(ValueError, match="same"):
        unique_runs(load_experiments(tmp_path))


def test_quick_suite_end_to_end(tmp_path):
    summary = reproduce(tmp_path, quick=True, progress=False, log=lambda _: None)
    text = summary.read_text()
    exps = load_experiments(quick=True)
    for e in exps:
        assert f"## {e.name}" in text
        if not e.available:  # a real-data experiment on a machine without the folder: skipped, and says so
            assert f"`{e.missing_data}` is not on this machine" in text
            continue
        for v in verdicts(e, tmp_path):
            assert v["value_better"] == v["value_better"]  # not NaN: every expected metric was measured
    assert (tmp_path / "figures" / "all_methods_ced.png").stat().st_size > 5000
    assert (tmp_path / "figures" / "width_sweep_sweep.png").exists()
    jitter = runs.open_run(tmp_path / "syn-w2").metrics["box_jitter"]
    w2 = next(e for e in exps if e.name == "wasserstein_jitter")
    assert {r["decoder"] for r in jitter} == set(w2.robustness["decoders"]) == {"argmax", "dark", "barycenter"}
    # a second call reuses every finished run instead of training again
    lines = []
    reproduce(tmp_path, quick=True, progress=False, log=lines.append)
    assert sum("reused" in l for l in lines) == len(unique_runs([e for e in exps if e.available]))


def _write_exp(folder, name, base, runs_, **extra):
    (folder / f"{name}.json").write_text(json.dumps({"name": name, "paper": "p", "claim": "c", "base": base,
                                                     "runs": runs_, **extra}))


def test_experiment_on_absent_real_data_is_skipped_visibly(tmp_path):
    exp_dir, results = tmp_path / "experiments", tmp_path / "results"
    exp_dir.mkdir()
    tiny = {"model": "rcn", "width": 0.0625, "threads": 1}
    _write_exp(exp_dir, "a_synth", tiny, [{"name": "s", "loss": "l2"}])
    _write_exp(exp_dir, "b_real", {**tiny, "data": f"300w:{tmp_path / 'nowhere'}"}, [{"name": "r", "loss": "l2"}],
               notice="research only", expect=[{"better": "r", "than": "r", "metric": "nme_inter_ocular", "subset": "val"}])
    lines = []
    summary = reproduce(results, quick=True, progress=False, log=lines.append, experiments=exp_dir).read_text()
    assert any("b_real: skipped" in l and "nowhere" in l for l in lines)
    assert (results / "s" / runs.METRICS).is_file() and not (results / "r").exists()
    assert "**Skipped**" in summary and "nowhere" in summary and "research only" in summary


def test_fine_tune_experiment_trains_its_source_first_and_marks_the_notice(tmp_path):
    exp_dir, results = tmp_path / "experiments", tmp_path / "results"
    exp_dir.mkdir()
    tiny = {"model": "rcn", "width": 0.0625, "threads": 1, "loss": "l2"}
    _write_exp(exp_dir, "a_pre", tiny, [{"name": "pre"}])
    _write_exp(exp_dir, "b_ft", tiny, [{"name": "scratch"}, {"name": "ft", "init_from": "pre"}], notice="terms X",
               sweep={"x": "train_n", "label": "n", "group": "init_from", "labels": {"None": "scratch", "pre": "ft"}})
    lines = []  # two worker processes: "ft" must wait until "pre" has finished, or its init_from fails
    reproduce(results, quick=True, progress=False, log=lines.append, experiments=exp_dir, jobs=2)
    assert sum("training in a worker process" in l for l in lines) == 3
    assert [l for l in lines if l.startswith(("pre: finished", "ft: training"))][0].startswith("pre: finished")
    assert runs.open_run(results / "ft").config.init_from == "pre"
    assert "terms X" in (results / "ft" / "NOTICE.md").read_text() and not (results / "pre" / "NOTICE.md").exists()
    assert (results / "figures" / "b_ft_sweep.png").is_file()
    # a run trained in a worker process has exactly the metrics of the same run trained in this process
    reproduce(tmp_path / "seq", quick=True, progress=False, log=lambda _: None, experiments=exp_dir, only=["a_pre"])
    assert runs.open_run(tmp_path / "seq" / "pre").metrics["subsets"] == runs.open_run(results / "pre").metrics["subsets"]


def test_readme_block_labels_runs_that_have_not_converged(tmp_path):
    """The README's results block carries the same not-converged label as SUMMARY.md for version-1 runs."""
    from lab.viz.report import README_END, README_START, update_readme

    from lab.config import RunConfig
    from lab.runner.reproduce import QUICK
    from lab.runner.train import train

    # a config without "version": what every run committed before the recipe stores
    v1 = RunConfig.from_dict({"name": "v1-run", "model": "rcn", "width": 0.0625, "loss": "l2", "threads": 1, **QUICK})
    assert v1.version == 1
    train(v1, tmp_path / "results", progress=False, log=lambda _: None)
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_START}\nold\n{README_END}\n")
    assert update_readme(tmp_path / "results", readme)
    block = readme.read_text()
    assert "**Not converged: 1 of these 1 runs were trained with the version-1 defaults" in block
    assert block.index("Not converged") < block.index("Did each paper's direction reproduce?")


def test_print_commands_fan_out_the_suite_one_run_per_command(tmp_path, monkeypatch):
    """`reproduce --print-commands` lists one command per run, the fine-tuned run after its source; running the
    lines one by one (as a job array would) trains every run, a --run whose source is missing is refused in one
    line, and the final reproduce only reuses them and writes the report."""
    import shlex
    import subprocess
    import sys

    exp_dir, results = tmp_path / "experiments", tmp_path / "results"
    exp_dir.mkdir()
    tiny = {"model": "rcn", "width": 0.0625, "threads": 1, "loss": "l2"}
    _write_exp(exp_dir, "b_ft", tiny, [{"name": "ft", "init_from": "pre"}, {"name": "scratch"}])
    _write_exp(exp_dir, "a_pre", tiny, [{"name": "pre"}])
    cli = [sys.executable, "-m", "lab", "reproduce", "--quick", "--results", str(results), "--experiments", str(exp_dir)]
    out = subprocess.run([*cli, "--print-commands"], capture_output=True, text=True, cwd=ROOT, check=True)
    lines = out.stdout.splitlines()
    assert [shlex.split(l)[shlex.split(l).index("--run") + 1] for l in lines] == ["pre", "ft", "scratch"]
    assert "ft after pre" in out.stderr and "2 wave(s)" in out.stderr and not results.exists()
    wave1 = subprocess.run([*cli, "--print-commands", "--wave", "1"], capture_output=True, text=True, cwd=ROOT)
    assert wave1.stdout.splitlines() == [lines[1]]
    early = subprocess.run([*cli, "--run", "ft"], capture_output=True, text=True, cwd=ROOT)
    assert early.returncode == 2 and "'ft' fine-tunes from 'pre'" in early.stderr and "Traceback" not in early.stderr
    for line in lines:
        argv = shlex.split(line)
        subprocess.run([sys.executable, *argv[1:]], capture_output=True, text=True, cwd=ROOT, check=True)
    assert all((results / n / runs.METRICS).is_file() for n in ("pre", "ft", "scratch"))
    assert not (results / "SUMMARY.md").exists()
    log = []
    reproduce(results, quick=True, progress=False, log=log.append, experiments=exp_dir)
    assert sum("finished earlier, reused" in l for l in log) == 3 and (results / "SUMMARY.md").is_file()


def test_a_finished_ert_run_is_reused_without_its_trees(tmp_path):
    """ERT has no epochs: its finished run (config + metrics + predictions) is reused, even where its model.pt is
    absent (the committed ERT runs ship without their 64 MB trees), instead of being trained again."""
    exp_dir, results = tmp_path / "experiments", tmp_path / "results"
    exp_dir.mkdir()
    tiny = {"version": CONFIG_VERSION, "train_n": 24, "val_n": 6, "test_n": 6, "epochs": 3, "threads": 1}
    _write_exp(exp_dir, "a", tiny, [{"name": "trees", "model": "ert", "loss": "l2", "width": 1.0,
                                     "model_kw": {"cascade_depth": 2, "num_trees_per_cascade_level": 3}}])
    reproduce(results, progress=False, log=lambda _: None, experiments=exp_dir)
    (results / "trees" / runs.MODEL).unlink()
    lines = []
    reproduce(results, progress=False, log=lines.append, experiments=exp_dir)
    assert "trees: finished earlier, reused" in lines and not (results / "trees" / runs.MODEL).exists()
