"""Saving matplotlib figures as PNG files atomically."""
from __future__ import annotations

import io
from pathlib import Path


def save_figure(fig, path: str | Path, dpi: int | None = None) -> Path:
    """fig.savefig into memory, write it with a temp file + rename, and close the figure."""
    import matplotlib.pyplot as plt

    from lab.atomic import write_bytes_atomic

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return write_bytes_atomic(path, buf.getvalue())
