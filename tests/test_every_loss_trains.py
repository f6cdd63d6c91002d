"""Every registered loss can fit 32 training faces: the check that must pass before any comparison means anything.

lab.runner.overfit.overfit trains the notebooks' small hourglass (x0.5, one stack, 64 px crops, 16 px maps) on 32
synthetic faces (full batch, no augmentation) and scores it in eval mode on the same faces with the loss's own
decoder. Budgets are per loss (lab.runner.overfit.CI_STEPS) (the heatmap losses need more steps than the coordinate ones); the runs are spread
over two worker processes (one thread each). benchmarks/overfit.py is the long version (more steps, the RCN).
"""
from __future__ import annotations

import multiprocessing as mp

import pytest

from lab.losses import LOSSES

THRESHOLD = 0.02  # train-set NME_io
SLOW = {"w2_sinkhorn"}  # entropic OT on the grid: minutes per hundred steps on a CPU; in benchmarks/overfit.py
CHECKED = sorted(set(LOSSES) - SLOW)


def _fit(loss: str) -> dict:
    import torch

    from lab.runner.overfit import ci_steps, overfit

    torch.set_num_threads(1)
    return overfit(loss, steps=ci_steps(loss))


@pytest.fixture(scope="module")
def results() -> dict:
    with mp.get_context("spawn").Pool(2) as pool:
        return dict(zip(CHECKED, pool.map(_fit, CHECKED, chunksize=1)))


@pytest.mark.parametrize("loss", CHECKED)
def test_loss_fits_32_faces(loss, results):
    result = results[loss]
    curve = ", ".join(f"step {s}: {100 * n:.2f}%" for s, n, _ in result["curve"])
    assert result["nme"] < THRESHOLD, f"{loss}: train-set NME_io {100 * result['nme']:.2f}% ({curve})"
    assert result["curve"][-1][1] < result["curve"][0][1], f"{loss}: no progress ({curve})"


def test_the_check_can_fail():
    """An untrained model (a learning rate of 1e-9 for a few steps) stays far above the threshold."""
    from lab.runner.overfit import overfit

    assert overfit("laplace_kl", steps=4, lr=1e-9, evals=1)["nme"] > 5 * THRESHOLD
