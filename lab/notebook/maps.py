"""Maps for the notebooks' pictures of distributions the lab's isotropic encoders cannot draw: an anisotropic
Gaussian of a given covariance (lab.viz.maps.show_map draws it)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch


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
