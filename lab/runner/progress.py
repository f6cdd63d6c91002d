"""Progress bars that stay sparse in logs: a live bar on a terminal, a line every PIPE_INTERVAL seconds otherwise."""
from __future__ import annotations

import sys
from typing import Iterable

from tqdm.auto import tqdm

PIPE_INTERVAL = 60.0  # seconds between refreshes when stderr is not a terminal (a log file, CI)


def progress(iterable: Iterable | None = None, enabled: bool = True, **kwargs) -> tqdm:
    """tqdm(iterable, **kwargs), disabled when not `enabled`, refreshed at most every PIPE_INTERVAL s off a tty."""
    if not sys.stderr.isatty():
        kwargs.setdefault("mininterval", PIPE_INTERVAL)
        kwargs.setdefault("maxinterval", PIPE_INTERVAL * 10)
    return tqdm(iterable, disable=not enabled, **kwargs)
