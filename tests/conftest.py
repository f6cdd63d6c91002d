"""Test-wide settings: one torch thread (the 2-core CI box thrashes with more once a second process runs, e.g. the
dashboard's server in the browser test), a non-interactive matplotlib backend."""
from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import torch  # noqa: E402

torch.set_num_threads(1)
