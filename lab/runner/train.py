"""One training loop for every registered loss and model, with the Laplace paper's adversarial branch.

Device picked in lab.runner.device (cuda when present); bf16 autocast where it is faster (lab.runner.device.use_amp), losses
always in float32. The recipe's parts (AdamW, warm-up + cosine per step, weight EMA) are in lab.runner.recipe.
Seeded: on the CPU two runs with the same config give identical metrics, and a resumed run continues exactly
(data order and augmentation are drawn from (seed, epoch), dropout's RNG state is checkpointed every epoch).
Model selection on the validation split (never a test split); the selected weights are evaluated on the tests.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, RandomSampler

from lab import metrics
from lab.runner import runs
from lab.atomic import write_json_atomic
from lab.config import RunConfig
from lab.data.dataset import LandmarkDataset
from lab.data.sources import Splits, open_splits
from lab.runner import distributed
from lab.runner.device import pick_device, use_amp
from lab.runner.distributed import World
from lab.runner.progress import progress as progress_bar
from lab.runner.recipe import ModelEMA, build_optimizer, build_scheduler
from lab.runner.evaluate import Decoding, evaluate_run, predict, run_decoding
from lab.heatmaps import to_heatmap_coords
from lab.losses import build_loss, get_loss_spec
from lab.losses.registry import LossSpec
from lab.models import build_discriminator, build_model, load_model_state
from lab.models.fast import keep_freed_memory
from lab.schema import get_scheme


RESUMABLE_CHANGES = ("epochs", "device", "workers", "threads")  # config keys a resumed run may change


class NonFiniteLoss(RuntimeError):
    """Training produced a NaN/inf loss; the offending batch was saved beside the run."""


@dataclass
class Parts:
    """Everything a run trains or evaluates with, built from its config."""

    cfg: RunConfig
    device: torch.device
    splits: Splits
    model: nn.Module
    spec: LossSpec
    loss_fn: nn.Module
    decoding: Decoding
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    per_step: bool = False  # the scheduler steps after every optimiser step (else after every epoch)
    ema: ModelEMA | None = None
    disc: nn.Module | None = None
    disc_optimizer: torch.optim.Optimizer | None = None
    ddp: nn.Module | None = None  # the model inside DistributedDataParallel (torchrun), set by `distribute`
    ddp_disc: nn.Module | None = None  # the same for the discriminator

    @property
    def net(self) -> nn.Module:
        """What a training step calls: the model, or its DistributedDataParallel wrapper under torchrun."""
        return self.model if self.ddp is None else self.ddp

    @property
    def disc_net(self) -> nn.Module | None:
        return self.disc if self.ddp_disc is None else self.ddp_disc


def distribute(parts: Parts, world: World) -> None:
    """Under torchrun: batch norm over the global batch and DistributedDataParallel for the model and the
    discriminator (lab.runner.distributed.wrap); nothing for one process."""
    if world.distributed:
        parts.ddp = distributed.wrap(world, parts.model, parts.device)
        if parts.disc is not None:
            parts.ddp_disc = distributed.wrap(world, parts.disc, parts.device)


def init_run_dir(init_from: str, results_dir: str | Path) -> Path:
    """The run folder named by `init_from`: a path to a run folder, else a run name under results_dir."""
    for candidate in (Path(init_from), Path(results_dir) / init_from):
        if (candidate / runs.MODEL).is_file():
            return candidate
    raise FileNotFoundError(f"init_from {init_from!r}: no run with a {runs.MODEL} at {init_from} or "
                            f"{Path(results_dir) / init_from}; train that run first")


def model_kwargs(cfg: RunConfig) -> dict:
    """The model's keyword arguments: cfg.model_kw, plus the map activation the loss trains with
    (LossSpec.map_activation, lab/models/heads.py) unless model_kw sets head_act."""
    act = get_loss_spec(cfg.loss).map_activation
    return {**({"head_act": act} if act != "none" else {}), **cfg.model_kw}


def build_parts(cfg: RunConfig, device: torch.device | None = None, splits: Splits | None = None,
                results_dir: str | Path = "results") -> Parts:
    """Model, loss, optimiser, schedule, EMA and discriminator for `cfg`; checks names before any work.
    With cfg.init_from the model starts from that run's selected weights (resolved against results_dir)."""
    spec = get_loss_spec(cfg.loss)
    device = device or pick_device(cfg.device)
    splits = splits or open_splits(**cfg.split_args())
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, num_points=splits.num_points, width=cfg.width, **model_kwargs(cfg)).to(device)
    if cfg.init_from:
        source = init_run_dir(cfg.init_from, results_dir) / runs.MODEL
        load_model_state(model, runs.load_torch(source, device), str(source))
    if spec.input == "heatmap" and model.output != "heatmap":
        raise ValueError(f"loss {cfg.loss!r} needs heatmaps but model {cfg.model!r} regresses coordinates; "
                         f"pick a coordinate loss (input='coords') or a heatmap model")
    loss_fn = build_loss(cfg.loss, model=model, **cfg.loss_kw).to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(cfg, model.parameters())
    n_train = len(splits.train)
    steps_per_epoch = max(n_train // cfg.batch_size if n_train > cfg.batch_size else 1, 1)
    scheduler, per_step = build_scheduler(cfg, optimizer, steps_per_epoch)
    parts = Parts(cfg, device, splits, model, spec, loss_fn, run_decoding(cfg), optimizer, scheduler,
                  per_step)
    if cfg.ema:
        parts.ema = ModelEMA(model, cfg.ema)
    if cfg.unlabeled:
        if model.output != "heatmap":
            raise ValueError("the adversarial branch needs a heatmap model (the discriminator sees heatmaps)")
        parts.disc = build_discriminator(num_points=splits.num_points, noise_std=cfg.disc_noise,
                                         channels=cfg.disc_width).to(device)
        parts.disc_optimizer = torch.optim.Adam(parts.disc.parameters(), lr=cfg.disc_lr, betas=(0.5, 0.999))
    return parts


def _dataset(parts: Parts, records, augment: bool, box_jitter=None) -> LandmarkDataset:
    cfg = parts.cfg
    return LandmarkDataset(records, parts.model.input_size, crop_scale=cfg.crop_scale, augment=augment,
                           rotation_deg=cfg.aug_rotation, scale_jitter=cfg.aug_scale, shift_jitter=cfg.aug_shift,
                           flip=cfg.aug_flip, box_jitter=box_jitter, seed=cfg.seed)


def _loader(dataset: LandmarkDataset, batch_size: int, seed: int, epoch: int, workers: int = 0,
            world: World = World()) -> DataLoader:
    """Shuffled loader whose order depends only on (seed, epoch), so a resumed epoch sees the same batches. Under
    torchrun this rank gets its chunk of each of those global batches (lab.runner.distributed.ShardedBatches)."""
    dataset.set_epoch(epoch)
    gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
    batches = BatchSampler(RandomSampler(dataset, generator=gen), batch_size, drop_last=len(dataset) > batch_size)
    if world.distributed:
        batches = distributed.ShardedBatches(batches, world.rank, world.size)
    return DataLoader(dataset, batch_sampler=batches, num_workers=workers, generator=gen, persistent_workers=False,
                      pin_memory=torch.cuda.is_available())


def supervised_loss(parts: Parts, outputs: list[torch.Tensor], batch: dict) -> torch.Tensor:
    """The registered loss summed over every supervised output (intermediate supervision), in float32."""
    model, spec = parts.model, parts.spec
    target = to_heatmap_coords(batch["points"].to(parts.device), model.stride)
    visible = batch["visible"].to(parts.device)
    total = 0.0
    for out in outputs:
        out = out.float()
        if spec.input == "coords":
            out = parts.decoding.points(out, model.output, "soft_argmax")  # differentiable, at the run's T
        total = total + parts.loss_fn(out, target, visible)
    return total


def adversarial_step(parts: Parts, batch: dict, outputs: list[torch.Tensor], unlabeled: dict) -> tuple[torch.Tensor, float]:
    """Update D on real (labels rendered as Laplace maps) vs fake (G's maps on unlabeled faces); return G's term."""
    from lab.losses.adversarial import discriminator_loss, fake_heatmaps, generator_adversarial_loss, real_heatmaps

    cfg, model = parts.cfg, parts.model
    size = tuple(outputs[-1].shape[-2:])
    scale = size[0] * size[1]  # probability maps times the pixel count: O(1) inputs for D, same for real and fake
    target = to_heatmap_coords(batch["points"].to(parts.device), model.stride)
    real = real_heatmaps(target, size, cfg.adv_target_scale, kind="laplace") * scale
    images_u = unlabeled["image"].to(parts.device)
    fake = fake_heatmaps(parts.net(images_u)[-1].float(), parts.decoding.temperature) * scale
    images_l = batch["image"].to(parts.device)
    disc = parts.disc_net
    d_loss = discriminator_loss(disc(images_l, real), disc(images_u, fake.detach()))
    parts.disc_optimizer.zero_grad(set_to_none=True)
    d_loss.backward()
    parts.disc_optimizer.step()
    return generator_adversarial_loss(disc(images_u, fake)), float(d_loss.detach())


def _check_finite(loss: float, run_dir: Path, batch: dict, epoch: int, step: int, cfg: RunConfig,
                  world: World = World()) -> None:
    """Raise NonFiniteLoss for a NaN/inf loss (the mean over the ranks: every rank stops alike), saving the batch
    (rank 0's chunk under torchrun) beside the run."""
    if math.isfinite(loss):
        return
    path = run_dir / "nonfinite_batch.pt"
    if world.main:
        runs.save_torch(path, {k: v for k, v in batch.items() if isinstance(v, torch.Tensor)} | {"epoch": epoch, "step": step})
    raise NonFiniteLoss(f"run {run_dir.name}: loss {cfg.loss!r} became {loss} at epoch {epoch}, step {step} "
                        f"(lr {cfg.lr}); the batch is saved in {path}. The last good checkpoint is kept; "
                        f"lower --lr or check the data, then --resume.")


def _cycle(loader_fn: Callable[[int], DataLoader]):
    """Endless batches from loader_fn(pass) for pass = 0, 1, ...: the unlabeled pool, reshuffled per pass."""
    p = 0
    while True:
        yield from loader_fn(p)
        p += 1


def _eval_model(parts: Parts) -> nn.Module:
    return parts.ema.module if parts.ema is not None else parts.model


def validate(parts: Parts, dataset: LandmarkDataset) -> float:
    """Mean inter-ocular NME of `dataset` with the run's decoder (the validation split: model selection)."""
    pred = predict(_eval_model(parts), dataset, parts.device, parts.decoding, workers=parts.cfg.workers)
    parts.model.train()
    scheme = get_scheme(parts.splits.num_points)
    return float(metrics.nme(pred["points"], pred["gt"], pred["visible"],
                             metrics.normaliser(pred["gt"], scheme, "inter_ocular")).mean())


def _state(parts: Parts, epoch: int, history: list, best: dict) -> dict:
    state = {
        "config": parts.cfg.to_dict(), "epoch": epoch, "history": history, "best": best,
        "model": parts.model.state_dict(), "optimizer": parts.optimizer.state_dict(),
        "scheduler": parts.scheduler.state_dict(), "rng": torch.get_rng_state(),
    }
    if parts.ema is not None:
        state["ema"] = parts.ema.state_dict()
    if parts.disc is not None:
        state["disc"], state["disc_optimizer"] = parts.disc.state_dict(), parts.disc_optimizer.state_dict()
    return state


def _restore(parts: Parts, state: dict, source: Path) -> tuple[int, list, dict]:
    saved = RunConfig.from_dict(state["config"], str(source))
    differ = [k for k, v in saved.to_dict().items() if k not in RESUMABLE_CHANGES and getattr(parts.cfg, k) != v]
    if differ:
        raise ValueError(f"{source}: cannot resume with a different config; changed: {', '.join(differ)}")
    load_model_state(parts.model, state["model"], str(source))
    parts.optimizer.load_state_dict(state["optimizer"])
    parts.scheduler.load_state_dict(state["scheduler"])
    if parts.ema is not None:
        parts.ema.load_state_dict(state["ema"])
    if parts.disc is not None:
        parts.disc.load_state_dict(state["disc"])
        parts.disc_optimizer.load_state_dict(state["disc_optimizer"])
    torch.set_rng_state(state["rng"])
    return int(state["epoch"]), list(state["history"]), dict(state["best"])


def _save_selected(parts: Parts, run_dir: Path) -> None:
    model = _eval_model(parts)
    runs.save_torch(run_dir / runs.MODEL, {"config": model.config, "model": model.state_dict()})


def train(cfg: RunConfig, results_dir: str | Path = "results", resume: bool = False, progress: bool = True,
          log: Callable[[str], None] = print, on_epoch: Callable[[int, dict], None] | None = None) -> runs.Run | None:
    """Train, select on validation, evaluate on the test subsets and write the run folder results_dir/cfg.name.
    cfg.model "ert" (dlib's regression trees, no parameters to optimise) is trained by lab.runner.ert.train_ert.
    Under torchrun (lab.runner.distributed) every rank trains on its chunk of each global batch; rank 0 alone
    logs, writes and returns the run, the other ranks return None."""
    world = distributed.world_from_env()
    if cfg.model == "ert":
        if world.distributed:
            raise ValueError("ert trains in one process (dlib's own threads: --ert-num-threads); run it without torchrun")
        from lab.runner.ert import train_ert

        return train_ert(cfg, results_dir, resume=resume, progress=progress, log=log, on_epoch=on_epoch)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    run_dir = Path(results_dir) / cfg.name
    if (run_dir / runs.CONFIG).exists() and not resume:
        raise FileExistsError(f"{run_dir} already holds a run; pass --resume to continue it or pick another --name")
    distributed.check_batch_size(world, cfg.batch_size)
    device = pick_device(cfg.device)
    distributed.join(world, device)  # every rank has checked the folder before rank 0 writes into it
    if not world.main:
        progress, log, on_epoch = False, (lambda _: None), None
    run = _train(cfg, run_dir, results_dir, resume, progress, log, on_epoch, world, device)
    distributed.leave(world)
    return run


def _train(cfg: RunConfig, run_dir: Path, results_dir: str | Path, resume: bool, progress: bool,
           log: Callable[[str], None], on_epoch: Callable[[int, dict], None] | None, world: World,
           device: torch.device) -> runs.Run | None:
    parts = build_parts(cfg, device=device, results_dir=results_dir)
    distribute(parts, world)
    train_set = _dataset(parts, parts.splits.train, augment=cfg.augment)
    val_set = _dataset(parts, parts.splits.val, augment=False)
    start_epoch, history, best = 0, [], {"val_nme": math.inf, "epoch": -1}
    checkpoint = run_dir / runs.CHECKPOINT
    if resume and checkpoint.exists():
        start_epoch, history, best = _restore(parts, runs.load_torch(checkpoint, device), checkpoint)
        log(f"resuming {run_dir} after epoch {start_epoch}")
    if world.main:
        write_json_atomic(run_dir / runs.CONFIG, cfg.to_dict())  # the device used is in metrics.json
    unl_set = _dataset(parts, parts.splits.unlabeled, augment=cfg.augment) if parts.disc is not None else None
    curve_sets = {name: _dataset(parts, recs, augment=False) for name, recs in parts.splits.tests.items()
                  if cfg.track_tests and recs is not parts.splits.val}
    amp = use_amp(device, cfg.amp)
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    if device.type == "cpu":
        keep_freed_memory()  # else every step page-faults its activations back in (kernel time ~ user time)
    parts.model.train()
    t_train = sum(h.get("seconds", 0.0) for h in history)
    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.perf_counter()
        t_eval = 0.0
        distributed.rank_seed(cfg.seed, epoch, world)
        loader = _loader(train_set, cfg.batch_size, cfg.seed, epoch, cfg.workers, world)
        bar = progress_bar(loader, enabled=progress, desc=f"{cfg.name} {epoch + 1}/{cfg.epochs}", leave=False)
        sums = {"loss": 0.0, "d_loss": 0.0, "nme": 0.0, "n": 0}
        if unl_set is not None:  # per-epoch stream, so a resumed epoch sees the same unlabeled batches
            unl_iter = _cycle(lambda p, e=epoch: _loader(unl_set, cfg.batch_size, cfg.seed + 1, e * 1000 + p,
                                                         cfg.workers, world))
        with distributed.collective(world, f"epoch {epoch + 1}"):
            for step, batch in enumerate(bar):
                images = batch["image"].to(device, non_blocking=True).contiguous(memory_format=memory_format)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                    outputs = parts.net(images)
                loss = supervised_loss(parts, outputs, batch)
                if world.distributed:  # the global batch's masked mean, not a mean of the ranks' means
                    loss = loss * distributed.visible_share(world, batch["visible"])
                d_loss = 0.0
                if parts.disc is not None:
                    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                        g_adv, d_loss = adversarial_step(parts, batch, outputs, next(unl_iter))
                    loss = loss + cfg.adv_weight * g_adv
                # the mean over the ranks (this rank's own values in one process): logged, and checked alike
                value, nme, d_loss = distributed.mean_over_ranks(
                    world, [loss.detach(), _batch_nme(parts, outputs[-1].detach().float(), batch), d_loss])
                _check_finite(value, run_dir, batch, epoch, step, cfg, world)
                parts.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip:
                    nn.utils.clip_grad_norm_(parts.model.parameters(), cfg.grad_clip)
                parts.optimizer.step()
                if parts.per_step:
                    parts.scheduler.step()
                if parts.ema is not None:
                    parts.ema.update(parts.model)
                sums["loss"] += value
                sums["d_loss"] += d_loss
                sums["nme"] += nme
                sums["n"] += 1
                bar.set_postfix(loss=f"{sums['loss'] / sums['n']:.4f}", nme=f"{100 * sums['nme'] / sums['n']:.2f}%")
        if not parts.per_step:
            parts.scheduler.step()
        row = {"epoch": epoch + 1, "train_loss": sums["loss"] / max(sums["n"], 1),
               "train_nme": sums["nme"] / max(sums["n"], 1), "lr": parts.optimizer.param_groups[0]["lr"]}
        if parts.disc is not None:
            row["d_loss"] = sums["d_loss"] / max(sums["n"], 1)
        last = epoch + 1 == cfg.epochs
        if world.main and ((epoch + 1) % cfg.eval_every == 0 or last):  # the other ranks go on to the next epoch
            t1 = time.perf_counter()
            row["val_nme"] = validate(parts, val_set)
            if (row["val_nme"] < best["val_nme"]) if cfg.select_best else last:
                best = {"val_nme": row["val_nme"], "epoch": epoch + 1}
                _save_selected(parts, run_dir)
            for name, dataset in curve_sets.items():  # learning curves only: never used for selection
                row[f"test_nme_{name}"] = validate(parts, dataset)
            t_eval = time.perf_counter() - t1
        row["seconds"] = time.perf_counter() - t0
        row["train_seconds"] = row["seconds"] - t_eval  # optimiser steps only (time-to-accuracy curves)
        t_train += row["seconds"]
        history.append(row)
        if world.main:
            runs.save_torch(checkpoint, _state(parts, epoch + 1, history, best))
            runs.write_log(run_dir / runs.LOG, history)
        log(f"{cfg.name} epoch {epoch + 1}/{cfg.epochs}: loss {row['train_loss']:.4f}, "
            f"train NME {100 * row['train_nme']:.2f}%" + (f", val NME {100 * row['val_nme']:.2f}%" if "val_nme" in row else ""))
        if on_epoch:
            on_epoch(epoch + 1, row)
    if not world.main:
        return None
    if not (run_dir / runs.MODEL).exists():  # zero epochs requested: keep the initial weights
        _save_selected(parts, run_dir)
    extra = {"train_seconds": t_train, "best_epoch": best["epoch"], "best_val_nme": best["val_nme"],
             "epochs": cfg.epochs, "device": str(device)}
    if world.distributed:
        extra["processes"] = world.size
    run = evaluate_run(run_dir, device=device, splits=parts.splits, extra=extra)
    log(f"{cfg.name}: wrote {run_dir}")
    return run


def _batch_nme(parts: Parts, final: torch.Tensor, batch: dict) -> float:
    """Inter-ocular NME of a training batch in crop coordinates (progress display only)."""
    from lab.heatmaps import from_heatmap_coords

    pred = from_heatmap_coords(parts.decoding.points(final, parts.model.output), parts.model.stride)
    gt = batch["points"].numpy()
    norm = metrics.normaliser(gt, get_scheme(gt.shape[1]), "inter_ocular")
    return float(np.mean(metrics.nme(pred.cpu().numpy(), gt, batch["visible"].numpy(), norm)))
