"""Losses of the four papers and their baselines, one file per paper; importing this package fills LOSSES."""
from lab.losses.registry import LOSSES, LossSpec, build_loss, get_loss_spec, register

# Each module registers its losses on import.
from lab.losses import heatmap_mse, coord, wing, laplace_kl, adversarial, star, wasserstein  # noqa: E402,F401
from lab.losses import star_awing  # noqa: E402,F401  (imports star and wing)

__all__ = ["LOSSES", "LossSpec", "build_loss", "get_loss_spec", "register"]
