"""The notebooks' closing sections, read from the reference results (results/, or $LAB_RESULTS): each experiment's
claim against what was measured, its sweep, the robustness of its runs, and every verdict at once."""
from __future__ import annotations

from pathlib import Path

from lab.runner.runs import recipe_note
from lab.runner.verdicts import COLUMNS
from lab.notebook.session import RESULTS_ENV, results_dir
from lab.notebook.widgets import shown
from lab.viz import ced as viz_ced
from lab.viz import sweeps as viz_sweeps

jitter_figure = shown(viz_sweeps.jitter_figure)
ced_by_backbone = shown(viz_ced.ced_by_backbone)


def experiment_runs(name: str, results: str | Path | None = None):
    """(experiment, finished runs {name: Run}, missing run names) for experiments/*.json entry `name`."""
    from lab.runner.reproduce import finished_runs, load_experiments

    exp = load_experiments(only=[name])[0]
    found = {r.name: r for r in finished_runs(exp, results_dir(results))}
    return exp, found, [c.name for c in exp.runs if c.name not in found]


def real_counterpart(name: str, results: str | Path | None = None):
    """The real-face side of a synthetic experiment: the finished runs of the experiments its "real" key names that
    share a (model, loss) with its own runs, plus dlib's ERT (the classic baseline, beside every comparison), and
    those experiments' judged directions between two such runs.
    Returns (runs {name: Run}, verdict dicts, real experiments missing some of those runs)."""
    from lab.runner.reproduce import load_experiments
    from lab.runner.verdicts import verdicts

    root = results_dir(results)
    exp = load_experiments(only=[name])[0]
    methods = {(c.model, c.loss) for c in exp.runs}
    found, judged, incomplete = {}, [], []
    for real in load_experiments(only=exp.real) if exp.real else []:
        wanted = [c.name for c in real.runs if (c.model, c.loss) in methods or c.model == "ert"]
        _, done, missing = experiment_runs(real.name, root)
        found.update({n: done[n] for n in wanted if n in done})
        if any(n in missing for n in wanted):
            incomplete.append(real.name)
        seen = {(v["better"], v["than"], v["metric"], v["subset"]) for v in judged}
        judged += [v for v in verdicts(real, root) if v["better"] in wanted and v["than"] in wanted
                   and (v["better"], v["than"], v["metric"], v["subset"]) not in seen]
    return found, judged, incomplete


def claims_vs_measured(name: str, results: str | Path | None = None, show: bool = True, ced: bool = True):
    """Print an experiment's claim and, from the results folder, its measured table (full set), whether each
    expected direction reproduced, and (ced) the runs' CED curves on the full set. Returns (table, verdicts)
    DataFrames, or None with a sentence saying how to produce the runs when some are missing."""
    import pandas as pd

    from lab.runner.compare import comparison_table
    from lab.runner.verdicts import verdicts

    root = results_dir(results)
    exp, found, missing = experiment_runs(name, root)
    print(f"Experiment {exp.name!r} — {exp.paper}\nClaim: {exp.claim}\n")
    if missing:
        print(f"No finished reference runs for experiment {exp.name!r} in {root} (missing: {', '.join(missing)}). "
              f"Produce them with `python -m lab reproduce --only {exp.name}` (or everything with "
              f"`python -m lab reproduce`; add `--quick` for a minutes-long smoke version), or point ${RESULTS_ENV} "
              f"at a results folder that has them.")
        return None
    run_list = list(found.values())
    quick = [r.name for r in run_list if r.metrics.get("epochs", 0) <= 1]
    if quick:
        print(f"Note: {len(quick)} of these runs trained for a single epoch (a `--quick` smoke run): the numbers "
              f"show the pipeline works, not what the method can do.\n")
    note = recipe_note(run_list)
    if note:
        print(f"Note: {note}\n")
    table = comparison_table(run_list)
    v = pd.DataFrame(verdicts(exp, root))
    if len(v):
        v = v[list(COLUMNS)]
    if show:
        from IPython.display import display

        display(table[table.subset == "full"] if "full" in set(table.subset) else table)
        print("Did the direction the paper reports reproduce here?")
        display(v)
        _show_real(name, root)
        if ced:
            from lab.runner.compare import ced_curves

            curves = ced_curves(run_list, "full")
            if curves:
                t = viz_ced.ced_threshold(curves)
                smoke = "" if t == 0.1 else f"\nsmoke-sized runs: x range and AUC up to {100 * t:g} %"
                title = f"{exp.name}: CED on the full test set (reference runs){smoke}"
                shown(viz_ced.ced_figure)(curves, t=t, title=title)
    return table, v


def _show_real(name: str, root: Path) -> None:
    """Print and display the real-face counterpart of a synthetic experiment (nothing if it names none)."""
    import pandas as pd
    from IPython.display import display

    from lab.runner.compare import comparison_table

    found, judged, incomplete = real_counterpart(name, root)
    if not found and not incomplete:
        return
    print("\nThe same methods on real faces (LFPW validation split, research-only data):")
    if found:
        display(comparison_table(list(found.values())).drop(columns=["decoder"]))
    if judged:
        display(pd.DataFrame(judged)[list(COLUMNS)])
    if incomplete:
        print(f"Real-face runs missing for {', '.join(incomplete)}: `python -m lab reproduce --only "
              f"{','.join(incomplete)}` trains them where the LFPW folder is present.")


def sweep_figure(name: str, results: str | Path | None = None):
    """NME (full set) against the experiment's swept knob (width, unlabeled pool, label noise), one line per group.
    Returns the figure, or None (with no output) when the experiment has no sweep or its runs are missing."""
    from lab.runner.reproduce import sweep_frame

    exp, found, missing = experiment_runs(name, results)
    if not exp.sweep or missing:
        return None
    df = sweep_frame(exp, results_dir(results))
    return shown(viz_sweeps.line_plot)(df[df.subset == "full"], x="x", y="nme", group="group",
                                       xlabel=exp.sweep["label"], ylabel="NME (% inter-ocular), full",
                                       title=f"{exp.name} (reference runs)", log_x=exp.sweep.get("log_x", False))


def reference_robustness(name: str, results: str | Path | None = None):
    """Box-jitter curves and temporal jitter stored in the metrics of an experiment's reference runs (written by
    `python -m lab reproduce`). Prints a sentence instead when they are missing. Returns the temporal table."""
    import pandas as pd
    from IPython.display import display

    exp, found, missing = experiment_runs(name, results)
    if missing:
        return None
    box = [r for run in found.values() for r in run.metrics.get("box_jitter", [])]
    temporal = [r for run in found.values() for r in run.metrics.get("temporal_jitter", [])]
    if not box or not temporal:
        print(f"The reference runs of {exp.name!r} have no robustness metrics yet: `python -m lab reproduce --only "
              f"{exp.name}` adds them (finished runs are reused).")
        return None
    jitter_figure(box, title=f"{exp.name}: NME under box jitter (reference runs)")
    table = pd.DataFrame(temporal).pivot(index="run", columns="decoder", values="temporal_jitter")
    print("temporal jitter J (px², lower is smoother) on smooth synthetic sequences:")
    display(table.round(4))
    return table


def all_verdicts(results: str | Path | None = None):
    """One row per expected direction of every experiment whose runs are all in the results folder, and the
    names of the experiments skipped for missing runs."""
    import pandas as pd

    from lab.runner.reproduce import load_experiments
    from lab.runner.verdicts import verdicts

    rows, skipped = [], []
    for exp in load_experiments():
        _, _, missing = experiment_runs(exp.name, results)
        if missing:
            skipped.append(exp.name)
            continue
        for v in verdicts(exp, results_dir(results)):
            rows.append({"experiment": exp.name, "paper": exp.paper.split(",")[0], "better": v["better"],
                         "than": v["than"], "metric": v["metric"], "subset": v["subset"],
                         "value_better": v["value_better"], "value_than": v["value_than"],
                         "spread": v["spread"], "verdict": v["verdict"], "reproduced": v["reproduced"]})
    return pd.DataFrame(rows), skipped
