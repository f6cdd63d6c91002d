"""Training past one process: PyTorch's own distributed engine (torchrun + DistributedDataParallel).

    torchrun --standalone --nproc_per_node N -m lab train ...         one machine, N processes
    torchrun --nnodes M --node_rank I --rdzv_backend c10d --rdzv_endpoint HOST:PORT --nproc_per_node N -m lab train ...

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; without them (plain `python -m lab train`) nothing here does
anything and a run is the single-process run it always was. Under torchrun, lab.runner.train:

- joins the process group: gloo on the CPU, nccl on CUDA (one GPU per process, cuda:LOCAL_RANK, picked in
  lab.runner.device), with a timeout (LAB_DIST_TIMEOUT seconds, default 1800) after which a rank left waiting
  for a stuck or dead peer stops with `RankLost` instead of hanging;
- splits every global batch: the loader draws the single-process run's batches (same seed, same order, same
  augmentation and the same fresh synthetic faces, which are drawn per face index), and rank r takes the r-th
  of WORLD_SIZE equal chunks (`ShardedBatches`). No two ranks see the same face and the union of the ranks'
  chunks is the single-process batch; --batch-size stays the global batch and must divide by WORLD_SIZE;
- normalises BatchNorm over the global batch: torch's SyncBatchNorm on CUDA; on the CPU, where SyncBatchNorm
  does not run, `GlobalBatchNorm2d` (below). With the gradients averaged by DDP, a step is then the
  single-process step up to float rounding (tests/test_distributed.py measures the difference);
- wraps the model and the discriminator (the adversarial branch) in DistributedDataParallel;
- lets rank 0 alone write (config, checkpoints, train log, model, metrics, predictions: the run folder has the
  single-process format) and print; the other ranks read only the checkpoint when resuming (several machines
  therefore need the results folder on a shared file system to --resume);
- weights each rank's loss by its share of the global batch's visible landmarks (`visible_share`), so the
  loss is the global batch's visibility-masked mean, not a mean of the ranks' means;
- averages the logged loss and training NME over the ranks every step, so a NaN stops every rank alike.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.distributed as dist
from torch import nn

DEFAULT_TIMEOUT_S = 1800.0


class RankLost(RuntimeError):
    """A collective failed or timed out: another rank died, hung or was killed."""


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (rank 0 of 1 without torchrun)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def world_from_env() -> World:
    """The World torchrun describes in RANK / WORLD_SIZE / LOCAL_RANK (single process when unset)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    return World(int(os.environ.get("RANK", "0")), size, int(os.environ.get("LOCAL_RANK", "0")))


def timeout_seconds() -> float:
    value = os.environ.get("LAB_DIST_TIMEOUT", "")
    try:
        return float(value) if value else DEFAULT_TIMEOUT_S
    except ValueError:
        raise ValueError(f"LAB_DIST_TIMEOUT={value!r}: expected seconds, e.g. 600") from None


def join(world: World, device: torch.device) -> None:
    """Join the process group (gloo on the CPU, nccl on CUDA) and wait for every rank; no-op for one process."""
    if not world.distributed or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_seconds()))
    barrier(world)


def leave(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()


def barrier(world: World) -> None:
    if world.distributed:
        with collective(world, "barrier"):
            dist.barrier()


COMM_WORDS = ("gloo", "nccl", "connection", "timed out", "timeout", "peer", "socket", "broken pipe")


def is_comm_error(error: BaseException) -> bool:
    """Whether `error` comes from the process group (a peer died, hung or closed its connection), not the model."""
    if isinstance(error, RankLost):
        return False
    if isinstance(error, dist.DistError):
        return True
    return isinstance(error, RuntimeError) and any(w in str(error).lower() for w in COMM_WORDS)


class collective:
    """Context manager: a failed or timed-out collective becomes RankLost with a one-line message."""

    def __init__(self, world: World, what: str):
        self.world, self.what = world, what

    def __enter__(self):
        return self

    def __exit__(self, kind, error, tb):
        if error is None or not self.world.distributed or not is_comm_error(error):
            return False
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise RankLost(f"rank {self.world.rank} of {self.world.size}: lost contact with another rank during "
                       f"{self.what} ({first}); the last checkpoint is kept: rerun the same command with --resume "
                       f"(timeout LAB_DIST_TIMEOUT={timeout_seconds():g} s)") from None


class ShardedBatches:
    """Rank `rank`'s chunk of each batch of `batches` (a batch sampler): chunk r of `size` near-equal chunks."""

    def __init__(self, batches, rank: int, size: int):
        self.batches, self.rank, self.size = batches, rank, size

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.batches:
            n, r, k = len(batch), self.rank, self.size
            yield batch[r * n // k:(r + 1) * n // k]


def check_batch_size(world: World, batch_size: int) -> None:
    if batch_size % world.size:
        raise ValueError(f"batch size {batch_size} does not divide by the {world.size} processes; --batch-size is "
                         f"the global batch, split equally over the ranks")


def mean_over_ranks(world: World, values: list[float | torch.Tensor]) -> list[float]:
    """The mean of each value over the ranks (one all-reduce); the values themselves for one process."""
    flat = torch.stack([torch.as_tensor(v, dtype=torch.float64).detach().cpu().reshape(()) for v in values])
    if world.distributed:
        if dist.get_backend() == "nccl":
            flat = flat.cuda()
        with collective(world, "a training step"):
            dist.all_reduce(flat)
        flat = flat.cpu() / world.size
    return flat.tolist()


def visible_share(world: World, visible: torch.Tensor) -> float:
    """size * V_r / V, V_r this rank's visible landmarks and V the global batch's (one all-reduce).

    Every loss is a mean over the visible landmarks of its batch (lab.losses._reduce.masked_mean), m_r = S_r / V_r
    on rank r. DDP averages the ranks' gradients, so rank r's loss m_r * size * V_r / V makes the step the one of
    the global batch's mean S / V, whatever the visibility of each chunk (with equal chunks the plain mean of the
    m_r would weight a landmark of a half-occluded chunk more)."""
    local = float(visible.sum())
    total = mean_over_ranks(world, [local])[0] * world.size  # the sum over the ranks
    return world.size * local / total if total > 0 else 1.0


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are over the global batch of every rank (any backend, CPU included).

    Per channel c over the N = sum_r B_r H W values of all ranks:
        mean_c = (sum_r S1_rc) / N,   var_c = (sum_r S2_rc) / N - mean_c^2,   S1 = sum x, S2 = sum x^2 (float64)
        y = (x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c
    The sums are all-reduced with torch.distributed.nn.functional.all_reduce, whose backward all-reduces the
    gradient: with DDP's gradient average this is the single-process gradient of the global batch's mean loss
    (as torch.nn.SyncBatchNorm does on CUDA). Running statistics as BatchNorm2d's (unbiased var), identical on
    every rank; in eval mode, or outside a process group, it is BatchNorm2d. Same state_dict keys as BatchNorm2d.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        import warnings

        from torch.distributed.nn.functional import all_reduce  # autograd-aware; its backward all-reduces the grad

        c = x.shape[1]
        xd = x.double()
        local = torch.cat([xd.sum((0, 2, 3)), (xd * xd).sum((0, 2, 3)),
                           xd.new_tensor([x.numel() / c])])
        with warnings.catch_warnings():  # "deprecated" for the functional collectives, which are not autograd-aware
            warnings.simplefilter("ignore", FutureWarning)
            total = all_reduce(local)
        n = total[-1]
        mean = total[:c] / n
        var = (total[c:2 * c] / n - mean * mean).clamp_min(0.0)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                f = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                self.running_mean.lerp_(mean.to(self.running_mean.dtype), f)
                unbiased = var * n / (n - 1).clamp_min(1.0)
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), f)
        y = (xd - mean[None, :, None, None]) * torch.rsqrt(var + self.eps)[None, :, None, None]
        if self.affine:
            y = y * self.weight.double()[None, :, None, None] + self.bias.double()[None, :, None, None]
        return y.to(x.dtype)


def global_batchnorm(module: nn.Module) -> nn.Module:
    """Every nn.BatchNorm2d of `module` replaced by GlobalBatchNorm2d sharing its parameters and buffers."""
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm2d:
            new = GlobalBatchNorm2d(child.num_features, child.eps, child.momentum, child.affine,
                                    child.track_running_stats)
            if child.affine:
                new.weight, new.bias = child.weight, child.bias
            if child.track_running_stats:
                new.running_mean, new.running_var = child.running_mean, child.running_var
                new.num_batches_tracked = child.num_batches_tracked
            new.train(child.training)
            setattr(module, name, new)
        else:
            global_batchnorm(child)
    return module


def wrap(world: World, module: nn.Module, device: torch.device) -> nn.Module:
    """`module` for training: itself for one process; else its BatchNorm synchronised (SyncBatchNorm on CUDA,
    GlobalBatchNorm2d on the CPU, in place: the parameters stay the optimiser's) inside DistributedDataParallel."""
    if not world.distributed:
        return module
    if device.type == "cuda":
        synced = nn.SyncBatchNorm.convert_sync_batchnorm(module)
        if synced is not module:
            raise ValueError("a model whose root module is a BatchNorm cannot be trained distributed")
        return _ddp(module, device_ids=[device.index])
    global_batchnorm(module)
    return _ddp(module)


def _ddp(module: nn.Module, **kw) -> nn.Module:
    """DistributedDataParallel without the per-forward buffer broadcast (the running statistics are global, hence
    equal on every rank); the parameters are broadcast from rank 0 once, here."""
    import warnings

    with warnings.catch_warnings():  # broadcast_buffers=False is the documented way to keep buffers unsynced
        warnings.simplefilter("ignore", FutureWarning)
        return nn.parallel.DistributedDataParallel(module, broadcast_buffers=False, **kw)


def rank_seed(seed: int, epoch: int, world: World) -> None:
    """Ranks other than 0 draw their own dropout masks each epoch (rank 0 keeps the checkpointed RNG stream)."""
    if world.rank:
        torch.manual_seed(seed * 1_000_003 + epoch * 1_009 + world.rank)
