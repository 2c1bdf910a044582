"""Clips and the dataset interface."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Domain = Literal["music", "speech"]
DOMAINS: tuple[str, ...] = ("music", "speech")


@dataclass(frozen=True)
class Clip:
    """One evaluation item: an excerpt of a source file.

    ``sha256`` is the hash of the excerpt's decoded samples as the loader returns them (float32 mono at
    ``sample_rate``) or of the source file's bytes where noted in ``meta``; it lets a run detect that a
    clip changed under it.
    """

    id: str
    domain: Domain
    path: str  # source audio file (absolute, or relative to the dataset root)
    offset: float = 0.0  # seconds
    duration: float | None = None  # seconds; None = to the end of the file
    sha256: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Dataset(ABC):
    """A list of clips, deterministic for a given set of arguments (including the seed)."""

    name: str

    @abstractmethod
    def clips(self) -> list[Clip]:
        """All clips, in a stable order."""

    def describe(self) -> dict[str, Any]:
        """Arguments that define the clip list (recorded in the run config)."""
        return {"name": self.name}


@dataclass(frozen=True)
class DatasetEntry:
    """Registry metadata. ``factory(**options)`` returns a :class:`Dataset`; ``prepare`` builds files."""

    name: str
    description: str
    factory: Callable[..., Dataset]
    domains: tuple[str, ...] = DOMAINS
    prepare: Callable[..., Path] | None = None
    env_var: str | None = None  # where a local copy is looked for
    how_to_get: str = ""


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_samples(x) -> str:
    """Hash of float32 samples (C order) — the content hash of a decoded excerpt."""
    import numpy as np

    return hashlib.sha256(np.ascontiguousarray(x, dtype=np.float32).tobytes()).hexdigest()
