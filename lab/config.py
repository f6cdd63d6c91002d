"""A run's configuration: everything needed to reproduce it, stored as config.json in the run folder."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class RunConfig:
    """Every knob of one training run. Defaults give a small CPU-sized RCN run on the synthetic faces."""

    name: str = "run"
    # model
    model: str = "rcn"
    width: float = 0.25
    model_kw: dict = field(default_factory=dict)
    # loss and decoding
    loss: str = "laplace_kl"
    loss_kw: dict = field(default_factory=dict)
    decoder: str | None = None  # None: the loss's default decoder
    decoder_kw: dict = field(default_factory=dict)
    softargmax_temperature: float = 1.0  # for coordinate losses on heatmap models
    # data
    data: str = "synthetic"  # "synthetic" or "300w:PATH", "wflw:PATH", "cofw:PATH", "aflw:PATH"
    train_n: int = 2000
    val_n: int = 200
    test_n: int = 300  # per synthetic test subset
    synth_size: int = 128
    label_noise: dict | None = None  # {"kind": "isotropic"|"tangential", "sigma": px}
    val_fraction: float = 0.1  # real folders: share of faces held out for validation
    split_seed: int = 0
    crop_scale: float = 1.25
    augment: bool = True
    # optimisation
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "cosine"  # "cosine" or "constant"
    ema: float | None = None  # EMA decay of the weights used for evaluation, e.g. 0.99
    grad_clip: float | None = 5.0
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    workers: int = 0  # DataLoader worker processes (results do not depend on it: augmentation is index-seeded)
    eval_every: int = 1  # validate (and select the best weights) every N epochs; = epochs: keep the last weights
    init_from: str | None = None  # fine-tune: a run folder (or a run name under the results folder) whose
    #                               selected weights (model.pt) initialise the model; same model and K required
    # adversarial branch (Laplace paper Sec. 3.2)
    unlabeled: int = 0  # size N of the unlabeled pool; 0 disables the discriminator
    adv_weight: float = 0.01
    adv_target_scale: float = 1.0  # real heatmaps: Laplace maps of this scale (heatmap px)
    disc_lr: float = 1e-4
    disc_noise: float = 0.1
    disc_width: int = 64

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> "RunConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{source}: unknown config keys {unknown}; valid keys: {sorted(known)}")
        return cls(**data)

    @classmethod
    def load(cls, path: str | Path) -> "RunConfig":
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: no such config file") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from None
        return cls.from_dict(data, source=str(path))

    def replace(self, **changes) -> "RunConfig":
        return dataclasses.replace(self, **changes)
