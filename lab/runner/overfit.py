"""Can a loss fit a handful of faces? The sanity check every loss must pass before any comparison means anything.

    overfit(loss, model="hourglass", width=0.25, n=32, steps=240) -> {"nme": train-set NME_io, "curve": [...]}

Trains on n synthetic training faces (by default on the small hourglass of the notebooks, x0.5 at 64 px) (no augmentation, the same full batch every step, so BatchNorm's running
statistics equal the batch statistics) with the run recipe's optimiser and schedule, and scores the model in eval
mode on those same faces with the loss's own decoder. A loss that cannot drive this below a few percent has a bug
or a design fault (tests/test_every_loss_trains.py asserts < 2% for every registered loss on the hourglass;
benchmarks/overfit.py prints the table with longer budgets and the RCN).
"""
from __future__ import annotations

import time

import numpy as np
import torch

from lab import metrics
from lab.config import RunConfig
from lab.runner.evaluate import predict
from lab.schema import get_scheme
from lab.runner.train import _dataset, build_parts, supervised_loss


SMALL_HOURGLASS = {"stacks": 1, "input_size": 64, "depth": 3}  # 64 px crops, 16 px maps: the notebooks' CPU model
# Steps per loss for the CI check (tests/test_every_loss_trains.py); the heatmap losses need more than the
# coordinate ones, gaussian_kl (a quadratic pull on the mean, like L2 through a variance term) the most.
CI_STEPS = {"l1": 300, "l2": 300, "smooth_l1": 300, "wing": 300, "heatmap_mse": 700, "star": 500,
            "star_awing": 600, "gaussian_kl": 700}  # margins: each ends >= 0.3 points under 2 % (benchmarks/overfit.py)
CI_DEFAULT_STEPS = 400


def ci_steps(loss: str) -> int:
    return CI_STEPS.get(loss, CI_DEFAULT_STEPS)


def overfit(loss: str, model: str = "hourglass", width: float = 0.5, n: int = 32, steps: int = 400,
            lr: float = 6e-3, model_kw: dict | None = None, loss_kw: dict | None = None, evals: int = 4,
            seed: int = 0, device: str = "cpu") -> dict:
    """Fit n faces for `steps` full-batch steps; returns {"nme": final train NME_io (fraction), "curve":
    [(step, nme, seconds)], "loss": last loss value}. model_kw defaults to SMALL_HOURGLASS for the hourglass."""
    if model_kw is None:
        model_kw = dict(SMALL_HOURGLASS) if model == "hourglass" else {}
    cfg = RunConfig(name="overfit", model=model, width=width, model_kw=model_kw, loss=loss, loss_kw=loss_kw or {},
                    train_n=n, val_n=1, test_n=1, augment=False, fresh_faces=False, batch_size=n, epochs=steps,
                    lr=lr, warmup_steps=min(50, steps // 4), ema=None, seed=seed, device=device)
    parts = build_parts(cfg)
    dataset = _dataset(parts, parts.splits.train, augment=False)
    batch = next(iter(torch.utils.data.DataLoader(dataset, batch_size=n)))
    images = batch["image"].to(parts.device).contiguous(memory_format=torch.channels_last)
    scheme = get_scheme(parts.splits.num_points)
    curve, value, t0 = [], float("nan"), time.perf_counter()
    marks = {int(round(steps * (i + 1) / evals)) for i in range(evals)}
    for step in range(1, steps + 1):
        parts.model.train()
        loss_value = supervised_loss(parts, parts.model(images), batch)
        parts.optimizer.zero_grad(set_to_none=True)
        loss_value.backward()
        torch.nn.utils.clip_grad_norm_(parts.model.parameters(), cfg.grad_clip)
        parts.optimizer.step()
        parts.scheduler.step()
        value = float(loss_value.detach())
        if step in marks:
            pred = predict(parts.model, dataset, parts.device, parts.decoding)
            nme = float(np.mean(metrics.nme(pred["points"], pred["gt"], pred["visible"],
                                            metrics.normaliser(pred["gt"], scheme, "inter_ocular"))))
            curve.append((step, nme, time.perf_counter() - t0))
    return {"nme": curve[-1][1], "curve": curve, "loss": value}
