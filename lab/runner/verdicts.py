"""Did a paper's direction reproduce? Each expected direction of an experiment ("run A beats run B on metric M")
judged against the spread between seeds, so that a gap the seeds alone could make reads "within noise".

Seeds of a run are the finished runs in the same results folder whose config is the same but for the name and the
seed (and where it ran: device, workers, threads). The spread of a method is the sample standard deviation
(ddof = 1) of the metric over its seeds. A pair is judged on the means over its seeds; its spread is the larger of
the two methods' own spreads, and, where a method has fewer than two seeds (its own spread unknown), of the
largest spread measured on the same data, metric and subset by any method that has (the suite's seeded pairs:
the noise floor of that benchmark); with no seeded method at all there is no spread and the verdict is a plain
yes / no.

    verdict = "within noise"  if |mean_A - mean_B| < NOISE_FACTOR * spread
              "yes" / "no"    otherwise, by whether A beats B (lower is better for NME, FR, spread and jitter)
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lab.runner import runs

if TYPE_CHECKING:
    from lab.runner.reproduce import Experiment

LOWER_IS_BETTER = ("nme", "fr@", "spread", "jitter")
COLUMNS = ("better", "than", "metric", "subset", "mean_better", "mean_than", "seeds_better", "seeds_than", "spread",
           "spread_from", "verdict")  # what a table of verdicts shows (the notebooks, the dashboard)
NOISE_FACTOR = 2.0  # a gap below twice the seed spread is "within noise"
_NOT_THE_METHOD = ("name", "seed", "device", "workers", "threads")


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


def method_key(run: runs.Run) -> str:
    """What makes two runs the same method: the config without name, seed and where it ran."""
    d = {k: v for k, v in run.config.to_dict().items() if k not in _NOT_THE_METHOD}
    return json.dumps(d, sort_keys=True, default=str)


def seed_groups(pool: list[runs.Run]) -> dict[str, list[runs.Run]]:
    """{method key: its runs} over the pool, each group in name order."""
    groups: dict[str, list[runs.Run]] = {}
    for run in sorted(pool, key=lambda r: r.name):
        groups.setdefault(method_key(run), []).append(run)
    return groups


def _values(group: list[runs.Run], metric: str, subset: str) -> np.ndarray:
    v = np.array([metric_value(r, metric, subset) for r in group], dtype=float)
    return v[np.isfinite(v)]


def _spread(values: np.ndarray) -> float:
    return float(np.std(values, ddof=1)) if len(values) >= 2 else float("nan")


def noise_floor(pool: list[runs.Run], data: str, metric: str, subset: str) -> tuple[float, str]:
    """The largest seed spread of any method on `data` (metric, subset), and which method's it is ("" if none)."""
    best, source = float("nan"), ""
    for group in seed_groups([r for r in pool if r.config.data == data]).values():
        s = _spread(_values(group, metric, subset))
        if np.isfinite(s) and not s <= best:
            best, source = s, group[0].name
    return best, source


def judge(expect: dict, pool: list[runs.Run]) -> dict:
    """One expected direction ({"better", "than", "metric", "subset"}) against the finished runs of `pool`:
    the named runs' values, the means and counts over their seeds, the spread and where it came from, and the
    verdict ("yes", "no", "within noise", "not measured"); "reproduced" is True only for "yes"."""
    by_name = {r.name: r for r in pool}
    groups = seed_groups(pool)
    metric, subset = expect["metric"], expect["subset"]
    out = {**expect}
    means, spreads = [], []
    for side in ("better", "than"):
        run = by_name.get(expect[side])
        vals = _values(groups[method_key(run)], metric, subset) if run else np.array([])
        out[f"value_{side}"] = metric_value(run, metric, subset) if run else float("nan")
        out[f"seeds_{side}"] = len(vals)
        means.append(float(vals.mean()) if len(vals) else float("nan"))
        out[f"mean_{side}"] = means[-1]
        spreads.append(_spread(vals))
    spread, source = (float(np.nanmax(spreads)), "own seeds") if np.isfinite(spreads).any() else (float("nan"), "")
    if not np.isfinite(spreads).all() and expect["better"] in by_name:  # a method with one seed: borrow the floor
        floor, name = noise_floor(pool, by_name[expect["better"]].config.data, metric, subset)
        if np.isfinite(floor) and not floor <= spread:
            spread, source = floor, f"seeds of {name}"
    a, b = means
    lower = any(metric.startswith(p) for p in LOWER_IS_BETTER)
    if not (np.isfinite(a) and np.isfinite(b)):
        verdict = "not measured"
    elif np.isfinite(spread) and abs(a - b) < NOISE_FACTOR * spread:
        verdict = "within noise"
    else:
        verdict = "yes" if (a < b if lower else a > b) else "no"
    return {**out, "spread": spread, "spread_from": source, "verdict": verdict, "reproduced": verdict == "yes"}


def verdicts(exp: "Experiment", results: Path) -> list[dict]:
    """Each expected direction of the experiment, judged (see `judge`) against every finished run in `results`
    (the seeds of a pair need not be runs of this experiment)."""
    pool, _ = runs.list_runs(results)
    return [judge(e, pool) for e in exp.expect]


def describe(v: dict) -> str:
    """One line for a verdict: the named values, the seed means where there are seeds, the spread, the verdict."""
    text = f"{v['value_better']:.4f} vs {v['value_than']:.4f}"
    if v["seeds_better"] > 1 or v["seeds_than"] > 1:
        text += (f" (mean over seeds {v['mean_better']:.4f} [{v['seeds_better']}] vs "
                 f"{v['mean_than']:.4f} [{v['seeds_than']}])")
    if np.isfinite(v["spread"]):
        text += f"; seed spread {v['spread']:.4f} ({v['spread_from']})"
    return f"{text} -> {v['verdict']}"
