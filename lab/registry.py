"""The one registry type behind LOSSES, DECODERS and MODELS: a dict of name -> entry that refuses a name twice and
names the valid choices when asked for an unknown one (the lists every front-end reads)."""
from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownName(KeyError, ValueError):
    """An unknown registry name; a KeyError for dict-like callers and a ValueError for argument checks."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Registry(dict, Generic[T]):
    """name -> entry. `kind` ("loss", "decoder", "model") words the errors."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def add(self, name: str, entry: T) -> T:
        if name in self:
            raise ValueError(f"{self.kind} {name!r} registered twice")
        self[name] = entry
        return entry

    def lookup(self, name: str) -> T:
        try:
            return self[name]
        except KeyError:
            raise UnknownName(f"unknown {self.kind} {name!r}; valid: {', '.join(sorted(self))}") from None
