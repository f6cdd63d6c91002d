"""A run's configuration: everything needed to reproduce it, stored as config.json in the run folder."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.data.transforms import AUG_ROTATION_DEG

CONFIG_VERSION = 2
# Keys added by version 2 (the training recipe, the nonlinear heads), with the value a version-1 config meant.
LEGACY_V1 = {"optimizer": "adam", "warmup_steps": 0, "min_lr_ratio": 0.0, "amp": "cuda", "channels_last": False,
             "fresh_faces": False, "aug_rotation": 15.0, "aug_scale": 0.1, "aug_shift": 0.05, "aug_flip": True,
             "select_best": True}
LEGACY_V1_BARYCENTER = {"w2": "barycenter", "w2_sinkhorn": "barycenter"}  # window was 5 (STAR: LEGACY_V1_DECODER)
LEGACY_V1_DECODER = {"heatmap_mse": "argmax", "awing": "argmax",  # version 2 decodes them with "dark"
                     "star": "barycenter"}  # ... and STAR with its official full-map mean, "relu_mean"
LEGACY_V1_MODEL_KW = {"rcn": {"head": "linear"}, "hourglass": {"head": "linear"}}


@dataclass
class RunConfig:
    """Every knob of one training run. Defaults give a small CPU-sized RCN run on the synthetic faces.

    The training recipe (version 2): AdamW, per-step linear warm-up then cosine decay, gradient clipping, an EMA
    of the weights (with warm-up) for evaluation, channels_last on the CPU, fresh synthetic training faces every
    epoch, augmentation strength as settings; bf16 autocast where it is faster (lab.runner.device.use_amp). A config
    saved before version 2 has no "version" key and loads with the values it meant (LEGACY_V1).
    """

    version: int = CONFIG_VERSION
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
    aug_rotation: float = AUG_ROTATION_DEG  # degrees, uniform in [-r, r]
    aug_scale: float = 0.1  # std of the log scale
    aug_shift: float = 0.05  # std of the shift, in box sizes
    aug_flip: bool = True  # mirror half the crops (with the scheme's flip pairs)
    fresh_faces: bool = True  # synthetic data: new training faces every epoch (face i of epoch e = f(seed, e, i))
    # optimisation
    epochs: int = 10
    batch_size: int = 32
    lr: float = 5e-3  # peak learning rate (after the warm-up)
    optimizer: str = "adamw"  # "adamw" (decoupled weight decay) or "adam" (L2 penalty, version 1)
    weight_decay: float = 1e-4
    schedule: str = "warmup_cosine"  # per step: linear warm-up, cosine to lr*min_lr_ratio; "cosine" per epoch (v1); "constant"
    warmup_steps: int = 100
    min_lr_ratio: float = 0.01
    ema: float | None = 0.998  # EMA decay of the weights used for evaluation (None: the raw weights)
    grad_clip: float | None = 5.0
    amp: str = "auto"  # bf16 autocast: "auto" (CUDA, or a CPU with native bf16), "bf16", "off", "cuda" (v1: CUDA only)
    channels_last: bool = True  # NHWC activations on the CPU (measured faster, benchmarks/train.py)
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    workers: int = 0  # DataLoader worker processes (results do not depend on it: augmentation is index-seeded)
    select_best: bool = True  # keep the weights that scored best on validation; False: the last weights
    track_tests: bool = False  # also score the test subsets at each validation (learning curves, never selection)
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

    def __post_init__(self) -> None:
        """One-line errors for values no run can use (e.g. `--epochs -3`), naming the field."""
        positive = ("batch_size", "lr", "width", "synth_size", "crop_scale", "eval_every")
        non_negative = ("epochs", "train_n", "val_n", "test_n", "warmup_steps", "weight_decay", "unlabeled", "workers",
                        "aug_rotation", "aug_scale", "aug_shift", "adv_weight")
        for names, ok, wanted in ((positive, lambda v: v > 0, "a positive number"),
                                  (non_negative, lambda v: v >= 0, ">= 0")):
            for name in names:
                value = getattr(self, name)
                if not isinstance(value, (int, float)) or isinstance(value, bool) or not ok(value):
                    raise ValueError(f"config {self.name!r}: {name} must be {wanted}, got {value!r}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"config {self.name!r}: val_fraction must be in (0, 1), got {self.val_fraction!r}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"config {self.name!r}: threads must be >= 1, got {self.threads!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> "RunConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{source}: unknown config keys {unknown}; valid keys: {sorted(known)}")
        if "version" not in data:  # saved before version 2: the recipe and heads it was trained with
            data = {**LEGACY_V1, **data, "version": 1}
            data["model_kw"] = {**LEGACY_V1_MODEL_KW.get(data.get("model", "rcn"), {}), **data.get("model_kw", {})}
            if data.get("decoder") is None and data.get("loss") in LEGACY_V1_DECODER:
                data["decoder"] = LEGACY_V1_DECODER[data["loss"]]
            decoder = data.get("decoder") or LEGACY_V1_BARYCENTER.get(data.get("loss"))
            if decoder == "barycenter" and "window" not in data.get("decoder_kw", {}):
                data["decoder_kw"] = {**data.get("decoder_kw", {}), "window": 5}
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

    def split_args(self) -> dict[str, Any]:
        """The data settings as `lab.data.sources` takes them: open_splits(**cfg.split_args()),
        evaluation_splits(test_data, **cfg.split_args())."""
        return {"data": self.data, "train_n": self.train_n, "val_n": self.val_n, "test_n": self.test_n,
                "synth_size": self.synth_size, "seed": self.seed, "val_fraction": self.val_fraction,
                "split_seed": self.split_seed, "unlabeled": self.unlabeled, "label_noise": self.label_noise,
                "fresh_faces": self.fresh_faces}
