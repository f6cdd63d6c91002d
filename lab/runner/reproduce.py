"""`python -m lab reproduce [--quick]`: the reference experiments, from experiments/*.json, into results/.

Each experiment file names a paper, its claim, a base config, the runs (overrides of the base), optionally a
sweep to plot, a robustness protocol, the experiments that repeat its comparison on real faces ("real": the
notebooks show their runs of the same model and loss beside the synthetic ones), and the expected directions
("expect") that SUMMARY.md checks against the measured numbers (lab.runner.verdicts judges them against the seed
spread). A run shared by several experiments (same name) must have the same config and is trained once.
Finished runs with an identical config are reused, so an interrupted reproduce continues where it stopped.
Experiments on real data name the folder in their configs ("data": "300w:../shared/data/lfpw-train", relative to
the working directory: run reproduce from the repository root); where that folder is absent the experiment is
skipped, visibly, in the log and in SUMMARY.md. A "notice" (e.g. the dataset's research-only terms) is written
as NOTICE.md into each of the experiment's run folders and quoted in SUMMARY.md.
"""
from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from lab.runner import runs
from lab.atomic import write_json_atomic, write_text_atomic
from lab.config import RunConfig

EXPERIMENTS_DIR = Path(__file__).resolve().parents[2] / "experiments"  # the repository's experiments/
QUICK = {"train_n": 48, "val_n": 12, "test_n": 12, "epochs": 1, "batch_size": 16, "synth_size": 96}
QUICK_UNLABELED = 16


@dataclass
class Experiment:
    name: str
    paper: str
    claim: str
    runs: list[RunConfig]
    sweep: dict | None = None
    robustness: dict | None = None
    expect: list[dict] = field(default_factory=list)
    source: str = ""
    notice: str = ""
    discussion: str = ""  # what may explain a direction that does not reproduce (no numbers: they are measured)
    missing_data: str | None = None  # a real-data path the runs need that is not on this machine
    real: list[str] = field(default_factory=list)  # experiments that repeat this comparison on real faces

    @property
    def available(self) -> bool:
        return self.missing_data is None


def _missing_data(configs: list[RunConfig]) -> str | None:
    """The first real-data path of the configs that does not exist here, else None."""
    from lab.data.sources import parse_sources

    for cfg in configs:
        for _, paths in parse_sources(cfg.data):
            if not Path(paths[0]).expanduser().exists():
                return paths[0]
    return None


def _merge(base: dict, override: dict) -> dict:
    """A run's config: the experiment's base with the run's keys on top (dicts merged one level deep). A run that
    names another model than the base's does not inherit the base's model_kw (those are the base model's arguments,
    e.g. the hourglass's stacks for an ERT run beside it)."""
    out = dict(base)
    if override.get("model", base.get("model")) != base.get("model"):
        out.pop("model_kw", None)
    for k, v in override.items():
        out[k] = {**out[k], **v} if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_experiments(folder: str | Path = EXPERIMENTS_DIR, quick: bool = False, only: list[str] | None = None
                     ) -> list[Experiment]:
    """Parse experiments/*.json (sorted); --quick shrinks every run to a seconds-long smoke version."""
    exps = []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            spec = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from None
        missing = {"name", "paper", "claim", "base", "runs"} - set(spec)
        if missing:
            raise ValueError(f"{path}: missing keys {sorted(missing)}")
        if only and spec["name"] not in only:
            continue
        configs = []
        for override in spec["runs"]:
            data = _merge(spec["base"], override)
            if quick:
                data = {**data, **QUICK, "unlabeled": QUICK_UNLABELED if data.get("unlabeled") else 0}
            configs.append(RunConfig.from_dict(data, source=f"{path} run {override.get('name')}"))
        exps.append(Experiment(spec["name"], spec["paper"], spec["claim"], configs, spec.get("sweep"),
                               spec.get("robustness"), spec.get("expect", []), str(path), spec.get("notice", ""),
                               spec.get("discussion", ""), _missing_data(configs), spec.get("real", [])))
    if only and len(exps) != len(set(only)):
        known = [json.loads(p.read_text())["name"] for p in sorted(Path(folder).glob("*.json"))]
        raise ValueError(f"unknown experiment in {only}; valid: {known}")
    return exps


def unique_runs(exps: list[Experiment]) -> list[RunConfig]:
    """Every run once, in file order (a run another one fine-tunes from comes first when its experiment's file
    sorts first); the same name with two different configs is an error."""
    seen: dict[str, RunConfig] = {}
    for exp in exps:
        for cfg in exp.runs:
            if cfg.name in seen and seen[cfg.name] != cfg:
                raise ValueError(f"run {cfg.name!r} is defined twice with different configs ({exp.source})")
            seen[cfg.name] = cfg
    return list(seen.values())


def _finished(run_dir: Path, cfg: RunConfig) -> bool:
    try:
        run = runs.open_run(run_dir)
        saved = run.config.to_dict()
        done = run.metrics.get("epochs") == cfg.epochs
        if cfg.model == "ert":  # trained to completion (no epochs), with its resolved options recorded
            from lab.runner.ert import ert_config

            cfg, done = ert_config(cfg, log=lambda _: None), True
        return done and all(
            saved[k] == v for k, v in cfg.to_dict().items() if k not in ("device", "workers", "threads"))
    except runs.RunError:
        return False


def finished_runs(exp: Experiment, results: Path) -> list[runs.Run]:
    """The experiment's runs that have finished (metrics and predictions written), in config order."""
    done, _ = runs.list_runs(results)
    by_name = {r.name: r for r in done}
    return [by_name[c.name] for c in exp.runs if c.name in by_name]


def _robustness(exp: Experiment, results: Path, log: Callable[[str], None]) -> None:
    """Box-jitter curves and temporal jitter per run and decoder, stored in each run's metrics.json."""
    from lab.runner.robustness import box_jitter_curve, temporal_jitter

    spec = exp.robustness
    for run in finished_runs(exp, results):
        if "box_jitter" in run.metrics and "temporal_jitter" in run.metrics:
            continue
        log(f"{exp.name}: robustness of {run.name}")
        curve = box_jitter_curve(run.path, spec["box_jitter"], decoders=spec.get("decoders"))
        temporal = spec.get("temporal", {})
        tj = temporal_jitter(run.path, temporal.get("sequences", 4), temporal.get("frames", 48),
                             decoders=spec.get("decoders"))
        metrics = run.metrics | {"box_jitter": curve.to_dict("records"), "temporal_jitter": tj.to_dict("records")}
        write_json_atomic(run.path / runs.METRICS, metrics)


def sweep_frame(exp: Experiment, results: Path) -> pd.DataFrame:
    """Rows (run, x = the swept value, group, subset, nme in %) for the experiment's finished runs."""
    rows = []
    key = exp.sweep["x"]
    for run in finished_runs(exp, results):
        cfg = run.config
        value: Any = cfg.to_dict()
        for part in key.split("."):
            value = (value or {}).get(part, 0.0) if isinstance(value, dict) else 0.0
        for subset, m in run.metrics["subsets"].items():
            group = getattr(cfg, exp.sweep["group"])
            rows.append({"run": cfg.name, "x": float(value or 0.0),
                         "group": exp.sweep.get("labels", {}).get(str(group), str(group)),
                         "subset": subset, "nme": 100 * m["nme_inter_ocular"]})
    return pd.DataFrame(rows)


def _train_timed(cfg: RunConfig, results: Path, progress: bool = False, log: Callable[[str], None] = print
                 ) -> tuple[str, float]:
    """Train (or resume) one run; (name, wall seconds). Module level, so worker processes can run it."""
    from lab.runner.train import train

    t = time.perf_counter()
    train(cfg, results, resume=True, progress=progress, log=log)
    return cfg.name, time.perf_counter() - t


def _train_parallel(pending: list[RunConfig], results: Path, jobs: int, log: Callable[[str], None]) -> dict[str, float]:
    """Train the runs in `jobs` worker processes; a run fine-tuned from another pending run waits for it."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    wall: dict[str, float] = {}
    pending = list(pending)
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        running: dict = {}
        while pending or running:
            blocked = {c.name for c in pending} | set(running.values())
            for cfg in [c for c in pending if c.init_from not in blocked][: jobs - len(running)]:
                pending.remove(cfg)
                log(f"{cfg.name}: training in a worker process")
                running[pool.submit(_train_timed, cfg, results)] = cfg.name
            if not running:
                raise ValueError(f"runs {[c.name for c in pending]} wait on each other through init_from")
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                running.pop(future)
                name, seconds = future.result()  # a failed run raises here, with its own message
                wall[name] = seconds
                log(f"{name}: finished in {seconds / 60:.1f} min")
    return wall


def dependency_order(configs: list[RunConfig]) -> list[RunConfig]:
    """The configs with every run after the run it fine-tunes from (init_from naming another run of the list);
    otherwise in the given order. A cycle is an error."""
    names = {c.name for c in configs}
    done: set[str] = set()
    out: list[RunConfig] = []
    left = list(configs)
    while left:
        cfg = next((c for c in left if c.init_from not in names or c.init_from in done), None)
        if cfg is None:
            raise ValueError(f"runs {[c.name for c in left]} wait on each other through init_from")
        left.remove(cfg)
        out.append(cfg)
        done.add(cfg.name)
    return out


def run_commands(results: str | Path = "results", quick: bool = False, only: list[str] | None = None,
                 experiments: str | Path = EXPERIMENTS_DIR, device: str | None = None) -> list[dict]:
    """One self-contained shell command per run of the suite, in dependency order: dicts with "name", "command"
    (`python -m lab reproduce --run NAME ...`), "after" (the run it fine-tunes from, or None) and "wave" (0 for a
    run that waits for none, else its source's wave + 1): what `reproduce --print-commands` prints for a cluster
    scheduler, one wave after another. Runs whose data folder is not here are left out."""
    exps = [e for e in load_experiments(experiments, quick=quick, only=only) if e.available]
    wave: dict[str, int] = {}
    out = []
    for cfg in dependency_order(unique_runs(exps)):
        argv = ["python", "-m", "lab", "reproduce", "--run", cfg.name, "--results", str(results)]
        argv += ["--quick"] if quick else []
        argv += ["--experiments", str(experiments)] if Path(experiments) != EXPERIMENTS_DIR else []
        argv += ["--device", device] if device else []
        after = cfg.init_from if cfg.init_from in wave else None
        wave[cfg.name] = wave[after] + 1 if after else 0
        out.append({"name": cfg.name, "command": shlex.join(argv), "after": after, "wave": wave[cfg.name]})
    return out


@dataclass
class Suite:
    """What `run_suite` finished: the experiments, their results folder, whether they were the --quick versions,
    wall seconds per step, and whether this was the full official suite (which may update the README's block)."""

    experiments: list[Experiment]
    results: Path
    quick: bool
    wall: dict[str, float]
    official: bool = False


def run_suite(results: str | Path = "results", quick: bool = False, only: list[str] | None = None,
              device: str | None = None, workers: int = 0, progress: bool = True,
              log: Callable[[str], None] = print, experiments: str | Path = EXPERIMENTS_DIR, jobs: int = 1,
              run_names: list[str] | None = None) -> Suite:
    """Train every run of the suite that is not already finished and add the robustness protocols; no pictures
    (lab.reproduce = this + lab.viz.report.write_report). jobs > 1 trains that many runs at once in worker
    processes (same results: every run is seeded alone). run_names: train only these runs (one line of
    `run_commands` each); no robustness protocol then -- the final `reproduce` without run names adds it."""

    results = Path(results)
    exps = load_experiments(experiments, quick=quick, only=only)
    t0 = time.perf_counter()
    for exp in exps:
        if not exp.available:
            log(f"{exp.name}: skipped, its data folder {exp.missing_data} is not on this machine")
    selected = unique_runs([e for e in exps if e.available])
    if run_names is not None:
        selected = _select_runs(selected, run_names, results)
    pending = []
    for cfg in selected:
        cfg = cfg.replace(device=device or cfg.device, workers=workers)
        if _finished(results / cfg.name, cfg):
            log(f"{cfg.name}: finished earlier, reused")
        else:
            pending.append(cfg)
    if jobs > 1 and len(pending) > 1:
        wall = _train_parallel(pending, results, jobs, log)
    else:
        wall = {cfg.name: _train_timed(cfg, results, progress, log)[1] for cfg in pending}
    for exp in exps if run_names is None else []:
        if exp.notice:
            for run in finished_runs(exp, results):
                if not (run.path / "NOTICE.md").is_file():
                    write_text_atomic(run.path / "NOTICE.md", f"# {run.name}\n\n{exp.notice}\n")
        if exp.robustness:
            t = time.perf_counter()
            _robustness(exp, results, log)
            wall[f"{exp.name} robustness"] = time.perf_counter() - t
    wall["total"] = time.perf_counter() - t0
    return Suite(exps, results, quick, wall, official=not quick and not only and run_names is None
                 and Path(experiments) == EXPERIMENTS_DIR)


def _select_runs(configs: list[RunConfig], run_names: list[str], results: Path) -> list[RunConfig]:
    """The named runs; ValueError for an unknown name or a run whose init_from run is neither finished nor named."""
    by_name = {c.name: c for c in configs}
    unknown = [n for n in run_names if n not in by_name]
    if unknown:
        raise ValueError(f"unknown run {unknown[0]!r}; valid: {', '.join(by_name)}")
    chosen = [by_name[n] for n in run_names]
    for cfg in chosen:
        parent = by_name.get(cfg.init_from or "")
        if parent and parent.name not in run_names and not _finished(results / parent.name, parent):
            raise ValueError(f"run {cfg.name!r} fine-tunes from {parent.name!r}, which has not finished in "
                             f"{results}: run `python -m lab reproduce --run {parent.name}` first")
    return dependency_order(chosen)
