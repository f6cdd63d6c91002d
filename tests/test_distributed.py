"""Training under torchrun (lab.runner.distributed): 2 processes x 1 thread on the CPU (gloo).

Measured here: the first optimiser step's loss of a 2-process run equals the single-process run's with the same
global batch and seed to 1e-7 (relative; 1.2e-5 with the adversarial branch, whose generator term follows one
AdamW step of the discriminator; the discriminator's input noise, cfg.disc_noise, is drawn per rank, so its
losses agree in distribution only); later steps differ by float rounding amplified by AdamW's first,
sign-like steps, as much as a single-process run on 2 threads differs from one on 1 thread (3e-4 at step 2).
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, RandomSampler

from lab.runner import distributed
from lab.runner.distributed import GlobalBatchNorm2d, ShardedBatches, World

ROOT = Path(__file__).resolve().parents[1]
# one optimiser step per epoch (8 faces, global batch 8), the adversarial branch included
ARGS = ["--model", "hourglass", "--width", "0.125", "--loss", "laplace_kl", "--train-n", "8", "--val-n", "8",
        "--test-n", "8", "--batch-size", "8", "--input-size", "64", "--unlabeled", "8", "--quiet"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **extra}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        if key not in extra:
            env.pop(key, None)
    return env


def _lab(args: list[str], **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lab", "train", *args], cwd=ROOT, env=_env(**env),
                          capture_output=True, text=True, timeout=300)


def _torchrun(args: list[str]) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
           "--rdzv_backend", "c10d", "--rdzv_endpoint", f"127.0.0.1:{_free_port()}", "-m", "lab", "train", *args]
    return subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)


def _losses(run: Path) -> list[float]:
    return pd.read_csv(run / "train_log.csv")["train_loss"].tolist()


def test_sharded_batches_split_each_global_batch():
    batches = [[5, 3, 8, 1, 0, 7], [2, 4, 6, 9]]
    parts = [list(ShardedBatches(batches, r, 2)) for r in range(2)]
    assert parts[0] == [[5, 3, 8], [2, 4]] and parts[1] == [[1, 0, 7], [6, 9]]
    assert len(ShardedBatches(batches, 1, 2)) == 2


def test_one_process_loader_draws_the_single_process_order():
    """The batch sampler behind lab.runner.train._loader gives DataLoader(shuffle=True)'s order (old runs resume)."""
    data = list(range(50))
    old = DataLoader(data, batch_size=8, shuffle=True, drop_last=True, generator=torch.Generator().manual_seed(7))
    gen = torch.Generator().manual_seed(7)
    new = DataLoader(data, batch_sampler=BatchSampler(RandomSampler(data, generator=gen), 8, drop_last=True),
                     generator=gen)
    assert [b.tolist() for b in old] == [b.tolist() for b in new]


def test_global_batch_must_divide_by_the_processes():
    distributed.check_batch_size(World(0, 2, 0), 8)
    with pytest.raises(ValueError, match="does not divide by the 3 processes"):
        distributed.check_batch_size(World(0, 3, 0), 8)


def test_communication_errors_are_told_from_model_errors():
    assert distributed.is_comm_error(RuntimeError("[gloo/transport/tcp/pair.cc:534] Connection closed by peer"))
    assert not distributed.is_comm_error(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    with pytest.raises(distributed.RankLost, match="rank 1 of 2: lost contact with another rank during epoch 3"):
        with distributed.collective(World(1, 2, 1), "epoch 3"):
            raise RuntimeError("Connection closed by peer")
    with pytest.raises(ValueError):  # not a communication error: passed through unchanged
        with distributed.collective(World(1, 2, 1), "epoch 3"):
            raise ValueError("bad")


def test_one_process_is_untouched():
    world = World()
    module = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    assert distributed.wrap(world, module, torch.device("cpu")) is module
    assert type(module[1]) is nn.BatchNorm2d
    assert distributed.visible_share(world, torch.ones(2, 68)) == 1.0
    assert distributed.mean_over_ranks(world, [1.5, torch.tensor(2.0)]) == [1.5, 2.0]


def _bn_rank(rank: int, port: int, x, w, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 3)).double()
    net = distributed.wrap(World(rank, 2, rank), m, torch.device("cpu"))
    assert isinstance(m[1], GlobalBatchNorm2d)
    chunk = slice(4 * rank, 4 * rank + 4)
    y = net(x[chunk])
    (y * w[chunk]).sum().backward()
    out[rank] = (y.detach(), [p.grad.clone() for p in m.parameters()], m[1].running_var.clone())
    dist.destroy_process_group()


def test_global_batchnorm_is_the_full_batch_step():
    """2 ranks x 4 samples through GlobalBatchNorm2d + DDP = 8 samples through BatchNorm2d: outputs, averaged
    gradients and running statistics, in float64 to 1e-12."""
    torch.manual_seed(1)
    x, w = torch.randn(8, 3, 10, 10, dtype=torch.double), torch.randn(8, 4, 8, 8, dtype=torch.double)
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 3)).double()
    y = m(x)
    (y * w).sum().backward()
    out = mp.Manager().dict()
    mp.spawn(_bn_rank, args=(_free_port(), x, w, out), nprocs=2)
    torch.testing.assert_close(torch.cat([out[0][0], out[1][0]]), y.detach(), rtol=1e-12, atol=1e-12)
    for g_single, g_rank0, g_rank1 in zip([p.grad for p in m.parameters()], out[0][1], out[1][1]):
        torch.testing.assert_close(g_rank0, g_single / 2, rtol=1e-10, atol=1e-12)  # DDP: the mean over 2 ranks
        torch.testing.assert_close(g_rank0, g_rank1, rtol=0, atol=0)
    torch.testing.assert_close(out[0][2], m[1].running_var, rtol=1e-12, atol=1e-12)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A single-process run and the same run under torchrun (2 processes x 1 thread), 3 steps each."""
    root = tmp_path_factory.mktemp("ddp")
    single = _lab(ARGS + ["--epochs", "3", "--threads", "1", "--name", "single", "--results", str(root)])
    assert single.returncode == 0, single.stderr[-2000:]
    two = _torchrun(ARGS + ["--epochs", "3", "--name", "two", "--results", str(root)])
    assert two.returncode == 0, two.stdout[-2000:] + two.stderr[-2000:]
    return root, two


def test_torchrun_matches_the_single_process_run(runs):
    root, _ = runs
    one, two = _losses(root / "single"), _losses(root / "two")
    assert len(one) == len(two) == 3
    # the first step: same batch, same weights; its adversarial term follows one discriminator update (1.2e-5)
    assert abs(two[0] - one[0]) <= 5e-5 * abs(one[0])
    for a, b in zip(one[1:], two[1:]):  # then float rounding, amplified by AdamW (module docstring)
        assert abs(a - b) <= 1e-2 * abs(a)
    d_two = pd.read_csv(root / "two" / "train_log.csv")["d_loss"]
    assert d_two.notna().all() and (d_two > 0).all()  # the adversarial branch trained under DDP too


def test_torchrun_writes_a_single_process_run_folder(runs):
    root, two = runs
    assert sorted(p.name for p in (root / "two").iterdir()) == sorted(p.name for p in (root / "single").iterdir())
    metrics = json.loads((root / "two" / "metrics.json").read_text())
    assert metrics["processes"] == 2
    assert json.loads((root / "two" / "config.json").read_text())["name"] == "two"
    assert two.stdout.count("wrote ") == 1  # rank 0 alone logs
    evaluated = subprocess.run([sys.executable, "-m", "lab", "eval", str(root / "two")], cwd=ROOT, env=_env(),
                               capture_output=True, text=True, timeout=120)
    assert evaluated.returncode == 0, evaluated.stderr


def test_a_killed_rank_stops_the_other_and_the_run_resumes(tmp_path):
    """Rank 1 (launched by hand, as torchrun would) is killed after the first epoch: rank 0 ends with the one-line
    message, not a hang; rank 1 wrote nothing (its --results stays empty); torchrun --resume finishes the run."""
    port, results, elsewhere = _free_port(), tmp_path / "results", tmp_path / "rank1"
    elsewhere.mkdir()
    args = ARGS + ["--epochs", "40", "--name", "run"]
    env = dict(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", LAB_DIST_TIMEOUT="60")
    procs = [subprocess.Popen([sys.executable, "-m", "lab", "train", *args, "--results", str(folder)], cwd=ROOT,
                              env=_env(**env, RANK=str(r), LOCAL_RANK=str(r)), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for r, folder in ((0, results), (1, elsewhere))]
    try:
        for line in procs[0].stdout:  # rank 0 logs each epoch
            if "epoch 1/40" in line:
                break
        procs[1].send_signal(signal.SIGKILL)
        t0 = time.monotonic()
        _, err = procs[0].communicate(timeout=120)
        waited = time.monotonic() - t0
    finally:
        for p in procs:
            p.kill()
    assert procs[0].returncode == 2, err[-2000:]
    assert "error: rank 0 of 2: lost contact with another rank" in err and "--resume" in err
    assert "Traceback" not in err
    assert waited < 90
    assert list(elsewhere.iterdir()) == []  # rank 1 never writes
    done = pd.read_csv(results / "run" / "train_log.csv")
    assert 1 <= len(done) < 40
    resumed = _torchrun(args + ["--results", str(results), "--resume"])
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    assert f"resuming {results / 'run'} after epoch" in resumed.stdout
    log = pd.read_csv(results / "run" / "train_log.csv")
    assert log["epoch"].tolist() == list(range(1, 41))
    assert log["train_loss"].iloc[:len(done)].tolist() == done["train_loss"].tolist()
