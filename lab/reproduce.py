"""`python -m lab reproduce [--quick]`: the reference experiments, from experiments/*.json, into results/.

Each experiment file names a paper, its claim, a base config, the runs (overrides of the base), optionally a
sweep to plot, a robustness protocol, and the expected directions ("expect") that SUMMARY.md checks against the
measured numbers. A run shared by several experiments (same name) must have the same config and is trained once.
Finished runs with an identical config are reused, so an interrupted reproduce continues where it stopped.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from lab import runs
from lab.atomic import write_json_atomic, write_text_atomic
from lab.config import RunConfig

EXPERIMENTS_DIR = Path(__file__).resolve().parents[1] / "experiments"
QUICK = {"train_n": 48, "val_n": 12, "test_n": 12, "epochs": 1, "batch_size": 16, "synth_size": 96}
QUICK_UNLABELED = 16
LOWER_IS_BETTER = ("nme", "fr@", "spread", "jitter")


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


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
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
                               spec.get("robustness"), spec.get("expect", []), str(path)))
    if only and len(exps) != len(set(only)):
        known = [json.loads(p.read_text())["name"] for p in sorted(Path(folder).glob("*.json"))]
        raise ValueError(f"unknown experiment in {only}; valid: {known}")
    return exps


def unique_runs(exps: list[Experiment]) -> list[RunConfig]:
    """Every run once; the same name with two different configs is an error."""
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
        return run.metrics.get("epochs") == cfg.epochs and all(
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
    from lab.robustness import box_jitter_curve, temporal_jitter

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


def metric_value(run: runs.Run, metric: str, subset: str) -> float:
    """A number from a run's metrics: a subset metric, or jitter_nme@LEVEL (own decoder), or temporal_jitter."""
    m = run.metrics
    if metric.startswith("jitter_nme@"):
        level = float(metric.split("@")[1])
        rows = [r for r in m.get("box_jitter", []) if np.isclose(r["level"], level) and r["decoder"] == m["decoder"]
                and (r["subset"] == subset or subset == "full")]
        return float(np.mean([r["nme"] for r in rows])) if rows else float("nan")
    if metric == "temporal_jitter":
        rows = [r for r in m.get("temporal_jitter", []) if r["decoder"] == m["decoder"]]
        return rows[0]["temporal_jitter"] if rows else float("nan")
    return float(m["subsets"].get(subset, {}).get(metric, float("nan")))


def verdicts(exp: Experiment, results: Path) -> list[dict]:
    """Each expected direction with both measured values and whether it reproduced."""
    out = []
    done = {r.name: r for r in finished_runs(exp, results)}
    for e in exp.expect:
        a, b = (metric_value(done[e[k]], e["metric"], e["subset"]) if e[k] in done else float("nan")
                for k in ("better", "than"))
        lower = any(e["metric"].startswith(p) for p in LOWER_IS_BETTER)
        ok = (a < b) if lower else (a > b)
        out.append({**e, "value_better": a, "value_than": b, "reproduced": bool(ok and np.isfinite(a) and np.isfinite(b))})
    return out


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
            rows.append({"run": cfg.name, "x": float(value or 0.0), "group": getattr(cfg, exp.sweep["group"]),
                         "subset": subset, "nme": 100 * m["nme_inter_ocular"]})
    return pd.DataFrame(rows)


def _figures(exp: Experiment, results: Path) -> list[Path]:
    from lab.compare import ced_curves
    from lab.viz.ced import save_ced
    from lab.viz.sweeps import save_line_plot

    fig_dir = results / "figures"
    run_list = finished_runs(exp, results)
    if not run_list:
        return []
    paths = [save_ced(ced_curves(run_list, "full"), fig_dir / f"{exp.name}_ced.png", title=f"{exp.name}: CED (full)")]
    if exp.sweep:
        df = sweep_frame(exp, results)
        paths.append(save_line_plot(df[df.subset == "full"], fig_dir / f"{exp.name}_sweep.png", x="x", y="nme",
                                    group="group", xlabel=exp.sweep["label"], ylabel="NME (% inter-ocular), full",
                                    title=exp.name, log_x=exp.sweep.get("log_x", False)))
    if exp.robustness:
        rows = [r for run in run_list for r in run.metrics.get("box_jitter", []) if r["subset"] != "full"]
        if not rows:
            return paths
        df = pd.DataFrame(rows)
        df = df.groupby(["run", "decoder", "level"], as_index=False)["nme"].mean()
        df["group"] = df["run"] + " + " + df["decoder"]
        df["nme"] *= 100
        paths.append(save_line_plot(df, fig_dir / f"{exp.name}_box_jitter.png", x="level", y="nme", group="group",
                                    xlabel="box jitter (std of shift and log-scale, fraction of the box)",
                                    ylabel="NME (% inter-ocular), common+challenge", title=f"{exp.name}: box jitter"))
    return paths


def _md_table(df: pd.DataFrame) -> str:
    return df.to_markdown(index=False) if len(df) else "(no rows)"


def write_summary(exps: list[Experiment], results: Path, quick: bool, wall: dict[str, float]) -> Path:
    """results/SUMMARY.md: per paper the claim, the measured table, the figures and the verdicts."""
    from lab.compare import comparison_table, ced_curves
    from lab.viz.ced import save_ced

    lines = ["# Reference results", "",
             "Generated by `python -m lab reproduce" + (" --quick" if quick else "") + "` from `experiments/*.json` "
             "on the synthetic benchmark (train; test subsets common / challenge; full = both). NME in % of the "
             "inter-ocular (io) or inter-pupil (ip) distance; FR and AUC at 0.1 (inter-ocular); spread = mean "
             "distance of the predicted distribution from its mean, in model-input pixels. "
             "Every number below is read from the run folders; nothing is typed by hand.", ""]
    all_runs: dict[str, runs.Run] = {}
    for exp in exps:
        run_list = finished_runs(exp, results)
        missing = [c.name for c in exp.runs if c.name not in {r.name for r in run_list}]
        all_runs.update({r.name: r for r in run_list})
        table = comparison_table(run_list)
        devices = sorted({r.metrics.get("device", "?") for r in run_list})
        lines += [f"## {exp.name}", "", f"**Paper.** {exp.paper}", "", f"**Claim.** {exp.claim}", "",
                  f"**Measured** (device: {', '.join(devices)}; training wall time "
                  f"{sum(r.metrics.get('train_seconds', 0) for r in run_list) / 60:.1f} min):", "",
                  _md_table(table.drop(columns=["decoder"])), ""]
        if missing:
            lines += [f"Not run yet (`python -m lab reproduce --only {exp.name}` finishes them): {', '.join(missing)}", ""]
        if exp.robustness:
            rows = []
            for r in run_list:
                for t in r.metrics.get("temporal_jitter", []):
                    rows.append({"run": r.name, "decoder": t["decoder"], "temporal jitter (px^2)": round(t["temporal_jitter"], 4)})
            lines += ["Temporal jitter on smooth sequences (mean squared second difference of the error):", "",
                      _md_table(pd.DataFrame(rows)), ""]
        lines += ["**Did the direction reproduce?**", ""]
        for v in verdicts(exp, results):
            mark = "yes" if v["reproduced"] else ("not measured" if np.isnan(v["value_better"] + v["value_than"]) else "**no**")
            lines.append(f"- {v['better']} vs {v['than']} on {v['metric']} ({v['subset']}): "
                         f"{v['value_better']:.4f} vs {v['value_than']:.4f} -> {mark}")
        lines.append("")
        for p in _figures(exp, results):
            lines.append(f"![{p.stem}](figures/{p.name})")
        lines.append("")
    every = comparison_table(list(all_runs.values()))
    lines += ["## All methods side by side", "", _md_table(every.drop(columns=["decoder"])), "",
              "![all methods](figures/all_methods_ced.png)", ""]
    save_ced(ced_curves(list(all_runs.values()), "full"), results / "figures" / "all_methods_ced.png",
             title="All methods: CED (full)")
    lines += ["## Wall time", "", _md_table(pd.DataFrame([{"step": k, "minutes": round(v / 60, 2)} for k, v in wall.items()])), ""]
    return write_text_atomic(results / "SUMMARY.md", "\n".join(lines))


README_START, README_END = "<!-- results:start -->", "<!-- results:end -->"


def update_readme(results: Path, readme: Path = EXPERIMENTS_DIR.parent / "README.md") -> bool:
    """Replace the README's results block (between the markers) with the verdicts and the all-methods table of
    `results`; only for the repository's own results/ folder. Returns whether the README changed."""
    if results.resolve() != (readme.parent / "results").resolve() or not readme.is_file():
        return False
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        return False
    from lab.compare import comparison_table

    exps = load_experiments()
    rows = []
    for exp in exps:
        for v in verdicts(exp, results):
            mark = "yes" if v["reproduced"] else ("not measured yet" if np.isnan(v["value_better"] + v["value_than"]) else "no")
            rows.append({"experiment": exp.name, "expected": f"{v['better']} < {v['than']}", "metric": v["metric"],
                         "subset": v["subset"], "measured": f"{v['value_better']:.4f} vs {v['value_than']:.4f}",
                         "reproduced": mark})
    done, _ = runs.list_runs(results)
    table = comparison_table(done)
    full = table[table.subset.isin(["full", "val"])].drop(columns=["decoder", "subset"]) if len(table) else table
    block = "\n".join([README_START, "", "Did each paper's direction reproduce on the synthetic benchmark?", "",
                       _md_table(pd.DataFrame(rows)), "", "Every reference run on the full test set (common + challenge):",
                       "", _md_table(full), "", README_END])
    new = text[: text.index(README_START)] + block + text[text.index(README_END) + len(README_END):]
    if new != text:
        write_text_atomic(readme, new)
    return new != text


def reproduce(results: str | Path = "results", quick: bool = False, only: list[str] | None = None,
              device: str | None = None, workers: int = 0, progress: bool = True,
              log: Callable[[str], None] = print) -> Path:
    """Train every run of the suite that is not already finished, add robustness, write SUMMARY.md and figures."""
    from lab.train import train

    results = Path(results)
    exps = load_experiments(quick=quick, only=only)
    wall: dict[str, float] = {}
    t0 = time.perf_counter()
    for cfg in unique_runs(exps):
        cfg = cfg.replace(device=device or cfg.device, workers=workers)
        if _finished(results / cfg.name, cfg):
            log(f"{cfg.name}: finished earlier, reused")
            continue
        t = time.perf_counter()
        train(cfg, results, resume=True, progress=progress, log=log)
        wall[cfg.name] = time.perf_counter() - t
    for exp in exps:
        if exp.robustness:
            t = time.perf_counter()
            _robustness(exp, results, log)
            wall[f"{exp.name} robustness"] = time.perf_counter() - t
    wall["total"] = time.perf_counter() - t0
    path = write_summary(exps, results, quick, wall)
    log(f"wrote {path}")
    if not quick and not only and update_readme(results):
        log("updated the results block of README.md")
    return path
