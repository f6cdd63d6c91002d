"""Losses of the four papers and their baselines, one file per paper; importing this package fills LOSSES."""
from lab.losses.registry import LOSSES, LossSpec, build_loss, get_loss_spec, register

# Each module registers its losses on import.
from lab.losses import heatmap_mse, coord, wing, laplace_kl, adversarial, star, wasserstein  # noqa: E402,F401

__all__ = ["LOSSES", "LossSpec", "build_loss", "get_loss_spec", "register"]
