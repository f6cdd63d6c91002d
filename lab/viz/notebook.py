"""Helpers the notebooks share: the run budget, the results folder, a live training curve, a picture that is
drawn statically and (when ipywidgets is present) also as a widget, small map plots, and the closing
"what the paper claims vs what we measured" section read from the reference results.

Nothing here computes a loss or a metric: the notebooks import those from `lab.losses`, `lab.heatmaps` and
`lab.metrics`; this file only arranges them into pictures and tables.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from lab.config import RunConfig

REPO = Path(__file__).resolve().parents[2]
SHOWN_LANDMARKS = (3, 8, 19, 30, 45, 54)  # 68 points: jaw, chin, brow, nose tip, eye corner, mouth corner
RESULTS_ENV = "LAB_RESULTS"
WIDGETS_ENV = "LAB_WIDGETS"  # "1": always offer sliders and widget progress bars, "0": never (static pictures only)
HEADLESS_RUNNERS = ("nbconvert", "nbclient", "pytest", "nbval", "papermill")

# Live runs in the notebooks. On a CPU a run is ~200 optimiser steps of 16 faces on a small model, 20-30 s with one
# thread: the loss falls and the NME drops from ~80 % to 20-40 % — a model that has started to learn, not a good one
# (the reference results are for that). With CUDA a run is 2000 faces x 12 epochs with a wider model, a few minutes.
# Synthetic faces are rendered on the fly (a few ms each); the CUDA budget renders them in DataLoader workers.
# The live runs use the training recipe's defaults (lab/config.py: AdamW, warm-up + cosine, EMA, fresh faces).
CPU_BUDGET = {"train_n": 1024, "val_n": 32, "test_n": 32, "epochs": 8, "batch_size": 32, "synth_size": 96}
CUDA_BUDGET = {"train_n": 4096, "val_n": 100, "test_n": 100, "epochs": 20, "batch_size": 32, "synth_size": 128,
               "workers": min(8, max((os.cpu_count() or 1) - 1, 0))}
# Backbones per budget. The small hourglass (64 px input, 16 px maps) does several times more steps per CPU second
# than the Laplace paper's RCN (80 px maps at stride 1), so the CPU runs use it for every heatmap loss.
LIVE_MODELS = {
    "hourglass": {"cpu": {"model": "hourglass", "width": 0.5, "model_kw": {"stacks": 1, "input_size": 64, "depth": 3}},
                  "cuda": {"model": "hourglass", "width": 1.0, "model_kw": {"stacks": 2}}},
    "rcn": {"cpu": {"model": "rcn", "width": 0.0625}, "cuda": {"model": "rcn", "width": 0.25}},
    "regressor": {"cpu": {"model": "regressor", "width": 0.5}, "cuda": {"model": "regressor", "width": 1.0}},
}


def setup(seed: int = 0, threads: int | None = 1) -> None:
    """Seed numpy and torch, draw figures inline (Agg when no IPython kernel is around) and set torch's CPU threads.

    threads=1 (default): the live runs are small, and on a shared CPU (CI, several kernels) torch's OpenMP threads
    spin-wait for each other and run several times slower than one thread; None keeps torch's default."""
    import matplotlib

    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:  # pragma: no cover - IPython ships with ipykernel
        shell = None
    if shell is not None and getattr(shell, "kernel", None) is not None:
        shell.run_line_magic("matplotlib", "inline")
    else:
        matplotlib.use("Agg")
    np.random.seed(seed)
    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)


def interactive_frontend() -> bool:
    """Whether a person is looking: False when the kernel was started by a headless runner (nbconvert, nbclient,
    pytest/nbval, papermill: its parent process's command line names one) or when $LAB_WIDGETS is "0".

    Headless runs get the static pictures only: no sliders and no widget progress bars. Widget messages add
    nothing there, cost a second drawing of every picture, and can stall nbclient's message loop
    (jupyter/nbclient#312, jupyter/nbconvert#2029)."""
    flag = os.environ.get(WIDGETS_ENV)
    if flag in ("0", "1"):
        return flag == "1"
    try:
        parent = Path(f"/proc/{os.getppid()}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:  # not Linux: assume a person is there
        return True
    return not any(name in parent for name in HEADLESS_RUNNERS)


def results_dir(path: str | Path | None = None) -> Path:
    """The reference results: `path`, else $LAB_RESULTS, else the repository's results/ folder."""
    return Path(path or os.environ.get(RESULTS_ENV) or REPO / "results").expanduser()


def pick_budget(model: str = "hourglass", cuda: bool | None = None, cpu: dict | None = None, **overrides: Any) -> dict:
    """RunConfig fields for a live run: the CPU budget and a small `model` ("hourglass", "rcn", "regressor"), or,
    when a CUDA device is present (or cuda=True), the CUDA budget and a wider model; `overrides` on top, and
    `cpu` (a dict of fields) on top of those on the CPU budget only (e.g. a smaller run for a costlier method)."""
    if model not in LIVE_MODELS:
        raise ValueError(f"pick_budget: unknown live model {model!r}; valid: {', '.join(LIVE_MODELS)}")
    use_cuda = torch.cuda.is_available() if cuda is None else bool(cuda)
    kind = "cuda" if use_cuda else "cpu"
    budget = CUDA_BUDGET if use_cuda else CPU_BUDGET
    return {**budget, **LIVE_MODELS[model][kind], "device": kind, **overrides, **({} if use_cuda else cpu or {})}


def live_config(name: str, loss: str, model: str = "hourglass", cpu: dict | None = None, **fields: Any) -> RunConfig:
    """A RunConfig for a notebook's live run: pick_budget(model, cpu=cpu) with `fields` (loss_kw, decoder, ...)."""
    return RunConfig(name=name, loss=loss, **pick_budget(model, cpu=cpu, **fields))


class LivePlot:
    """`on_epoch` callback for lab.train.train: redraws loss and NME curves in place after every epoch.

    Draws on a matplotlib Figure that pyplot does not track, so the inline backend does not show it a second time.
    """

    def __init__(self, title: str = ""):
        self.title = title
        self.rows: list[dict] = []
        self._handle = None

    def __call__(self, epoch: int, row: dict) -> None:
        self.rows.append(dict(row))
        fig = history_figure(self.rows, self.title)
        try:
            from IPython.display import display

            if self._handle is None:
                self._handle = display(fig, display_id=True)
            else:
                self._handle.update(fig)
        except ImportError:  # pragma: no cover
            pass


def history_figure(rows: Sequence[dict], title: str = ""):
    """Loss (left) and NME in % (right: train, validation) per epoch from train_log rows (dicts)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 2.8), dpi=100)
    ax_loss, ax_nme = fig.subplots(1, 2)
    epochs = [r["epoch"] for r in rows]
    ax_loss.plot(epochs, [r["train_loss"] for r in rows], "o-", label="train loss")
    if any("d_loss" in r for r in rows):
        ax_loss.plot(epochs, [r.get("d_loss", np.nan) for r in rows], "s--", label="discriminator loss")
    ax_loss.set(xlabel="epoch", ylabel="loss", title=title or "training loss")
    ax_nme.plot(epochs, [100 * r["train_nme"] for r in rows], "o-", label="train")
    val = [(r["epoch"], 100 * float(r["val_nme"])) for r in rows if r.get("val_nme") not in (None, "")]
    if val:
        ax_nme.plot(*zip(*val), "s-", label="validation")
    ax_nme.set(xlabel="epoch", ylabel="NME (% inter-ocular)", title="NME")
    for ax in (ax_loss, ax_nme):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    return fig


def train_live(cfg: RunConfig, folder: str | Path | None = None, plot: bool = True, quiet: bool = True):
    """Train `cfg` into a fresh temporary folder (never results/), with a progress bar (in an interactive
    frontend) and a live curve.

    Returns the finished lab.runs.Run. quiet: keep the per-epoch log lines out of the output (the curve shows them).
    """
    from lab.train import train

    folder = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="lab-notebook-"))
    callback = LivePlot(f"{cfg.name}: {cfg.loss}") if plot else None
    return train(cfg, folder, progress=interactive_frontend(), log=(lambda _: None) if quiet else print,
                 on_epoch=callback)


@dataclass
class Knob:
    """One control of `explore`: a default value and either a (min, max, step) range or a list of options."""

    value: Any
    low: float | None = None
    high: float | None = None
    step: float | None = None
    options: Sequence | None = None
    label: str = ""

    def widget(self, name: str):
        import ipywidgets as w

        desc = self.label or name
        style = {"description_width": "initial"}
        if self.options is not None:
            return w.Dropdown(options=list(self.options), value=self.value, description=desc, style=style)
        cls = w.IntSlider if all(isinstance(v, int) for v in (self.value, self.low, self.high, self.step)) \
            else w.FloatSlider
        return cls(value=self.value, min=self.low, max=self.high, step=self.step, description=desc,
                   continuous_update=False, style=style)


def explore(fn: Callable[..., Any], widgets: bool | None = None, **knobs: Knob) -> Any:
    """Draw fn(**defaults) now (a static picture that needs no widget, so headless runs show it), then, in an
    interactive frontend with ipywidgets installed, offer the same function with sliders to explore.
    widgets: None = interactive_frontend(). Returns the static call's result."""
    import matplotlib.pyplot as plt

    result = fn(**{k: v.value for k, v in knobs.items()})
    plt.show()
    if widgets is None:
        widgets = interactive_frontend()
    if widgets:
        try:
            import ipywidgets
            from IPython.display import display
        except ImportError:  # pragma: no cover - the static picture above is the fallback
            return result
        controls = {k: v.widget(k) for k, v in knobs.items()}
        ui = ipywidgets.VBox(list(controls.values()))
        out = ipywidgets.interactive_output(lambda **kw: (fn(**kw), plt.show()), controls)
        display(ipywidgets.HTML("<i>Move the sliders to redraw the picture above with other values:</i>"), ui, out)
    return result


# ---------------------------------------------------------------------------------------------- small pictures

def gaussian_map(size: int | tuple[int, int], mean: Sequence[float], cov: np.ndarray) -> torch.Tensor:
    """An anisotropic Gaussian map (h, w) exp(-(q - m)^T C^-1 (q - m) / 2), peak 1, pixel-centre coordinates.

    For pictures of distributions the lab's isotropic encoders cannot draw (an elongated heatmap)."""
    h, w = (size, size) if isinstance(size, int) else size
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64),
                            indexing="ij")
    d = torch.stack([xs - mean[0], ys - mean[1]], -1)
    inv = torch.linalg.inv(torch.as_tensor(np.asarray(cov, np.float64)))
    return torch.exp(-0.5 * torch.einsum("...i,ij,...j->...", d, inv, d))


def rotation_cov(major: float, minor: float, angle_deg: float) -> np.ndarray:
    """2x2 covariance with standard deviations `major`, `minor` (px) and the major axis at angle_deg from +x."""
    t = np.radians(angle_deg)
    u = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    return u @ np.diag([major**2, minor**2]) @ u.T


def show_map(ax, heat, title: str = "", mean=None, cov=None, points: dict | None = None, zoom: float | None = None,
             n_sigma: float = 2.0, cmap: str = "magma"):
    """One heatmap (h, w) in pixel coordinates (colours from 0 up), with an optional n-sigma covariance ellipse around `mean` and
    labelled points {label: ((x, y), marker colour)}; zoom: half-size of a window around `mean` (or the map centre)."""
    from lab.viz.overlay import ellipse_points

    heat = heat.detach().cpu().numpy() if isinstance(heat, torch.Tensor) else np.asarray(heat)
    h, w = heat.shape
    ax.imshow(heat, cmap=cmap, extent=(-0.5, w - 0.5, h - 0.5, -0.5), interpolation="nearest",
              vmin=min(0.0, float(heat.min())))  # from 0: a flat floor of probability shows as such
    if mean is not None and cov is not None:
        xy = ellipse_points(np.asarray(mean, np.float64), np.asarray(cov, np.float64), n_sigma)
        ax.plot(xy[:, 0], xy[:, 1], "--", color="cyan", lw=1.2, label=f"{n_sigma:g}σ ellipse")
    for label, (xy, style) in (points or {}).items():
        ax.plot(*np.asarray(xy, np.float64), style, ms=9, mew=2, label=label, ls="none")
    if zoom:
        cx, cy = (mean if mean is not None else ((w - 1) / 2, (h - 1) / 2))
        ax.set(xlim=(cx - zoom, cx + zoom), ylim=(cy + zoom, cy - zoom))
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    if points or cov is not None:
        ax.legend(fontsize=7, loc="lower left", framealpha=0.7)
    return ax


def show_source(*objects) -> None:
    """Print the source of lab functions/classes (the implementation the notebook discusses, never a copy)."""
    import inspect

    for obj in objects:
        name = f"{obj.__module__}.{obj.__qualname__}"
        print(f"# ---- {name}  ({inspect.getsourcefile(obj).split('/lab/')[-1]})")
        print(inspect.getsource(obj))


# ------------------------------------------------------------------------------------------- a run's faces

def run_faces(run, subset: str = "common", indices: Sequence[int] = (0, 1, 2), landmarks: Sequence[int] | None = None):
    """Re-render faces `indices` of a synthetic run's test subset and predict them with the run's model.

    Returns (records, per-face prediction dicts (the keys of lab.evaluate.predict, one face each, image px),
    heat images (H, W) in [0, 1]: the normalised predicted maps, max over `landmarks` (None: all), warped into
    the image; empty for coordinate models)."""
    from lab.data.dataset import LandmarkDataset
    from lab.data.synthetic import SyntheticFaces
    from lab.evaluate import distribution_mode, predict
    from lab.heatmaps import normalize
    from lab.losses import get_loss_spec
    from lab.viz.overlay import heatmap_on_image, landmark_heat

    cfg = run.config
    if cfg.data != "synthetic":
        raise ValueError(f"run {run.name}: run_faces re-renders synthetic test faces; this run used {cfg.data!r}")
    faces = SyntheticFaces(subset, n=cfg.test_n, size=cfg.synth_size, seed=cfg.seed)
    records = [faces[i] for i in indices]
    device = torch.device("cpu")
    model = run.load_model(device)
    ds = LandmarkDataset(records, model.input_size, crop_scale=cfg.crop_scale)
    decoder = cfg.decoder or get_loss_spec(cfg.loss).decoder
    pred = predict(model, ds, device, decoder, cfg.decoder_kw, cfg.softargmax_temperature)
    per_face = [{k: v[j] for k, v in pred.items() if np.ndim(v) > 0} for j in range(len(records))]
    heats = []
    if model.output == "heatmap":
        with torch.no_grad():
            for j, rec in enumerate(records):
                sample = ds[j]
                maps = model(sample["image"][None])[-1][0].float()
                p = normalize(maps, distribution_mode(decoder), cfg.softargmax_temperature).numpy()
                p = p if landmarks is None else p[list(landmarks)]
                heats.append(heatmap_on_image(landmark_heat(p), sample["matrix"].numpy(), model.stride,
                                              rec.image.shape[:2]))
    return records, per_face, heats


def show_faces(run, subset: str = "common", indices: Sequence[int] = (0, 1, 2), options=None, heat: bool = True,
               title: str = "", landmarks: Sequence[int] | None = None):
    """A row of test faces with ground truth, the run's predictions (and, per lab.viz.overlay.OverlayOptions,
    ellipses / Laplace boxes / decoder points) over the predicted heat. landmarks: draw the heat, ellipses, boxes
    and decoder points of these landmarks only (all points are still shown). Returns the figure."""
    import dataclasses

    import matplotlib.pyplot as plt

    from lab.viz.overlay import OverlayOptions, draw_face, draw_layers, face_layers

    opt = options or OverlayOptions()
    records, preds, heats = run_faces(run, subset, indices, landmarks)
    fig, axes = plt.subplots(1, len(records), figsize=(3.8 * len(records), 4.1), squeeze=False)
    name = run.config.loss
    for j, (ax, rec, pred) in enumerate(zip(axes[0], records, preds)):
        base = opt if landmarks is None else dataclasses.replace(opt, cov=False, laplace=False, decoders=())
        draw_face(ax, rec.image, rec.points, rec.visible, {name: pred}, base,
                  heat=heats[j] if heat and heats else None, legend=False)
        if landmarks is not None:
            only = dataclasses.replace(opt, gt=False, points=False, errors=False)
            for k in landmarks:
                draw_layers(ax, face_layers(rec.points, rec.visible, {name: pred}, dataclasses.replace(only, landmark=k)))
        if j == 0:
            handles, labels = ax.get_legend_handles_labels()
            keep = dict(zip(labels, handles))  # one entry per layer name
            ax.legend(keep.values(), keep.keys(), fontsize=7, loc="lower left", framealpha=0.7)
        ax.set_title(f"{subset} #{indices[j]}", fontsize=9)
    shown = "" if landmarks is None else f"; heat, shapes: landmarks {', '.join(map(str, landmarks))}"
    fig.suptitle(title or f"{run.name}: test faces (green: ground truth{shown})", fontsize=10)
    fig.tight_layout()
    return fig


def contour_alignment(pred: dict, min_group: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """For every visible contour point of a prediction dict (cov (N, K, 2, 2), gt (N, K, 2), visible (N, K)):
    the angle in degrees [0, 90] between the major axis of the predicted covariance and the ground-truth contour
    tangent (uniform for random axes), and the anisotropy sqrt(l2 / l1). Contour points: members of the scheme's
    groups with >= min_group points. Returns two (M,) arrays."""
    from lab.data.label_noise import contour_tangents
    from lab.schema import get_scheme

    gt, cov, vis = pred["gt"], pred["cov"], pred["visible"].astype(bool)
    scheme = get_scheme(gt.shape[1])
    on_contour = np.zeros(gt.shape[1], bool)
    for idx in scheme.groups.values():
        if len(idx) >= min_group:
            on_contour[list(idx)] = True
    tangents = np.stack([contour_tangents(g, scheme) for g in gt])  # (N, K, 2)
    values, vectors = np.linalg.eigh(0.5 * (cov + np.swapaxes(cov, -1, -2)))
    major = vectors[..., :, 1]
    keep = vis & on_contour[None, :] & (np.linalg.norm(tangents, axis=-1) > 0)
    cos = np.abs((major * tangents).sum(-1) / np.linalg.norm(tangents, axis=-1).clip(1e-12))[keep]
    ratio = np.sqrt(np.clip(values[..., 1], 0, None) / np.clip(values[..., 0], 1e-12, None))[keep]
    return np.degrees(np.arccos(np.clip(cos, 0.0, 1.0))), ratio


def contour_alignment_figure(run_map: dict, subset: str = "common", only: Sequence[str] | None = None):
    """Histograms of contour_alignment for runs {name: Run} (heatmap runs only; `only` picks names).
    Returns the figure, or None when no run qualifies."""
    import matplotlib.pyplot as plt

    chosen = {n: r for n, r in run_map.items() if (only is None or n in only)}
    data = {}
    for name, run in chosen.items():
        pred = run.predictions.get(subset, {})
        if "cov" in pred:
            data[name] = contour_alignment(pred)
    if not data:
        return None
    fig, (ax_c, ax_a) = plt.subplots(1, 2, figsize=(12, 3.6))
    for name, (angle, ratio) in data.items():
        ax_c.hist(angle, bins=18, range=(0, 90), histtype="step", lw=2, density=True,
                  label=f"{name} (mean {angle.mean():.0f}°)")
        ax_a.hist(np.log2(ratio), bins=30, range=(0, 4), histtype="step", lw=2, density=True,
                  label=f"{name} (median {np.median(ratio):.2f})")
    ax_c.axhline(1 / 90, color="k", ls=":", lw=1, label="random axes (mean 45°)")
    ax_c.set(xlabel="angle between the major axis and the contour tangent (°)", ylabel="density",
             title="alignment with the contour (0° = along)")
    ax_a.set(xlabel="log2 anisotropy  sqrt(λ2 / λ1)", ylabel="density", title="anisotropy of the predicted maps")
    for ax in (ax_c, ax_a):
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(f"contour points, {subset} test faces", fontsize=10)
    fig.tight_layout()
    plt.show()
    return fig


# ------------------------------------------------------------------------------------- claims vs measurements

def experiment_runs(name: str, results: str | Path | None = None):
    """(experiment, finished runs {name: Run}, missing run names) for experiments/*.json entry `name`."""
    from lab.reproduce import finished_runs, load_experiments

    exp = load_experiments(only=[name])[0]
    found = {r.name: r for r in finished_runs(exp, results_dir(results))}
    return exp, found, [c.name for c in exp.runs if c.name not in found]


def claims_vs_measured(name: str, results: str | Path | None = None, show: bool = True, ced: bool = True):
    """Print an experiment's claim and, from the results folder, its measured table (full set), whether each
    expected direction reproduced, and (ced) the runs' CED curves on the full set. Returns (table, verdicts)
    DataFrames, or None with a sentence saying how to produce the runs when some are missing."""
    import pandas as pd

    from lab.compare import comparison_table
    from lab.reproduce import verdicts

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
    table = comparison_table(run_list)
    v = pd.DataFrame(verdicts(exp, root))
    if len(v):
        v = v[["better", "than", "metric", "subset", "value_better", "value_than", "reproduced"]]
    if show:
        from IPython.display import display

        display(table[table.subset == "full"] if "full" in set(table.subset) else table)
        print("Did the direction the paper reports reproduce here?")
        display(v)
        if ced:
            import matplotlib.pyplot as plt

            from lab.compare import ced_curves
            from lab.viz.ced import ced_figure

            curves = ced_curves(run_list, "full")
            if curves:
                t = ced_threshold(curves)
                ced_figure(curves, t=t, title=f"{exp.name}: CED on the full test set (reference runs)"
                           + ("" if t == 0.1 else f"\nsmoke-sized runs: x range and AUC up to {100 * t:g} %"))
                plt.show()
    return table, v


def ced_threshold(curves: dict) -> float:
    """0.1 (the usual AUC@0.1 / FR@0.1 range) unless most faces lie beyond it (e.g. smoke runs); then a range
    that shows the curves: the 90th percentile of the NMEs rounded up to a multiple of 0.1."""
    pooled = np.concatenate([np.asarray(v, np.float64) for v in curves.values()])
    q = float(np.quantile(pooled, 0.9))
    return 0.1 if np.median(pooled) <= 0.1 else float(np.ceil(q * 10) / 10)


def sweep_figure(name: str, results: str | Path | None = None):
    """NME (full set) against the experiment's swept knob (width, unlabeled pool, label noise), one line per group.
    Returns the figure, or None (with no output) when the experiment has no sweep or its runs are missing."""
    import matplotlib.pyplot as plt

    from lab.reproduce import sweep_frame
    from lab.viz.sweeps import line_plot

    exp, found, missing = experiment_runs(name, results)
    if not exp.sweep or missing:
        return None
    df = sweep_frame(exp, results_dir(results))
    fig = line_plot(df[df.subset == "full"], x="x", y="nme", group="group", xlabel=exp.sweep["label"],
                    ylabel="NME (% inter-ocular), full", title=f"{exp.name} (reference runs)",
                    log_x=exp.sweep.get("log_x", False))
    plt.show()
    return fig


def jitter_figure(df, title: str = "NME under box jitter"):
    """NME (%) against box-jitter level, averaged over the test subsets (not "full"): one colour per run, one line
    style per decoder. df: rows with run, level, subset, decoder, nme (lab.robustness.box_jitter_curve, or the
    "box_jitter" records of a run's metrics)."""
    import matplotlib.pyplot as plt
    import pandas as pd

    df = pd.DataFrame(df)
    df = df[df.subset != "full"].groupby(["run", "decoder", "level"], as_index=False)["nme"].mean()
    styles = {"argmax": ":", "soft_argmax": "--", "barycenter": "-"}
    fig, ax = plt.subplots(figsize=(7.5, 4.3))
    for i, run in enumerate(sorted(df.run.unique())):
        for decoder, part in df[df.run == run].groupby("decoder"):
            part = part.sort_values("level")
            ax.plot(part.level, 100 * part.nme, styles.get(decoder, "-."), marker="o", ms=4, lw=2, color=f"C{i}",
                    label=f"{run} + {decoder}")
    ax.set(xlabel="box jitter level (std of shift and log-scale, fraction of the box)",
           ylabel="NME (% inter-ocular), common + challenge", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, bbox_to_anchor=(1.02, 1), loc="upper left")
    fig.tight_layout()
    plt.show()
    return fig


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


# ------------------------------------------------------------------------------------------ comparing runs

def _test_faces(run, subset: str):
    """The synthetic test faces a run was evaluated on (same split, count, size and seed as its config)."""
    from lab.data.synthetic import SyntheticFaces

    cfg = run.config
    if cfg.data != "synthetic":
        raise ValueError(f"run {run.name}: its test faces are not synthetic ({cfg.data!r}); cannot re-render them")
    return SyntheticFaces(subset, n=cfg.test_n, size=cfg.synth_size, seed=cfg.seed)


def ced_by_backbone(run_list: Sequence, subset: str = "full"):
    """One CED panel per backbone (model x width) of the runs, so only comparable runs share a panel."""
    import matplotlib.pyplot as plt

    from lab.compare import ced_curves
    from lab.viz.ced import ced_figure

    groups: dict[str, list] = {}
    for run in run_list:
        groups.setdefault(f"{run.config.model} x{run.config.width:g}", []).append(run)
    cols = min(3, len(groups))
    rows = -(-len(groups) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.6 * cols, 4.2 * rows), squeeze=False)
    for ax in axes.flat[len(groups):]:
        ax.set_axis_off()
    for ax, (name, members) in zip(axes.flat, groups.items()):
        curves = ced_curves(members, subset)
        if curves:
            t = ced_threshold(curves)
            ced_figure(curves, t=t, title=f"{name}: CED ({subset})" + ("" if t == 0.1 else f", AUC@{t:g}"), ax=ax)
    fig.tight_layout()
    plt.show()
    return fig


def all_verdicts(results: str | Path | None = None):
    """One row per expected direction of every experiment whose runs are all in the results folder, and the
    names of the experiments skipped for missing runs."""
    import pandas as pd

    from lab.reproduce import load_experiments, verdicts

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
                         "reproduced": v["reproduced"]})
    return pd.DataFrame(rows), skipped


def attribute_table(run_list: Sequence, subset: str = "challenge"):
    """Mean inter-ocular NME (%) per run over the test faces carrying each attribute flag (pose, expression,
    illumination, make_up, occlusion, blur), plus all faces: a WFLW-style breakdown of synthetic runs."""
    import pandas as pd

    from lab.evaluate import face_nmes

    rows = {}
    flags = None
    for run in run_list:
        pred = run.predictions.get(subset)
        if pred is None or run.config.data != "synthetic":
            continue
        if flags is None:
            faces = _test_faces(run, subset)
            flags = pd.DataFrame([faces[i].attributes for i in range(len(faces))]).astype(bool)
        nmes = 100 * face_nmes(pred, pred["gt"].shape[1])
        row = {"all faces": nmes.mean()}
        row.update({f"{k} ({int(flags[k].sum())})": nmes[flags[k].to_numpy()].mean() if flags[k].any() else np.nan
                    for k in flags.columns})
        rows[run.name] = row
    return pd.DataFrame(rows).T.round(2)


def compare_faces(run_a, run_b, subset: str = "challenge", rank: int = 0, n: int = 3, options=None):
    """The n test faces on which run_b beats run_a by the widest NME margin (rank > 0 skips the first ones), with
    both runs' predictions drawn. Both runs must share their test faces. Returns the figure."""
    import matplotlib.pyplot as plt

    from lab.evaluate import face_nmes
    from lab.viz.overlay import OverlayOptions, draw_face

    keys = ("data", "test_n", "synth_size", "seed")
    if any(getattr(run_a.config, k) != getattr(run_b.config, k) for k in keys):
        raise ValueError(f"runs {run_a.name} and {run_b.name} were tested on different faces ({', '.join(keys)})")
    pa, pb = run_a.predictions[subset], run_b.predictions[subset]
    na, nb_ = face_nmes(pa, pa["gt"].shape[1]), face_nmes(pb, pb["gt"].shape[1])
    order = np.argsort(nb_ - na)[rank:rank + n]
    faces = _test_faces(run_a, subset)
    fig, axes = plt.subplots(1, len(order), figsize=(4.3 * len(order), 4.6), squeeze=False)
    for j, (ax, i) in enumerate(zip(axes[0], order)):
        rec = faces[int(i)]
        preds = {run_a.name: {k: v[i] for k, v in pa.items() if np.ndim(v) > 0},
                 run_b.name: {k: v[i] for k, v in pb.items() if np.ndim(v) > 0}}
        draw_face(ax, rec.image, pa["gt"][i], pa["visible"][i], preds, options or OverlayOptions(errors=True),
                  legend=j == 0)
        ax.set_title(f"{subset} #{i}: NME {100 * na[i]:.1f} % vs {100 * nb_[i]:.1f} %", fontsize=9)
    fig.suptitle(f"where {run_b.name} beats {run_a.name} the most (rank {rank}+)", fontsize=10)
    fig.tight_layout()
    return fig
