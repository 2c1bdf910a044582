"""The metric interface. A metric owns its sample rate: it resamples a copy and never mutates inputs."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from bench.audio.resample import RESAMPLER, resample
from bench.cuda_numerics import use_exact_fp32
from bench.errors import NotApplicableError

Direction = Literal["lower", "higher"]


class Metric(ABC):
    """Scores a degraded signal against a reference.

    The reference-side work (:meth:`prepare`) is split from :meth:`score` so that a run computes it once per
    clip and reuses it for every vocoder. Inputs are mono float32 [T] arrays, each at its own rate (``prepare``'s
    ``sr`` for the reference, ``score``'s ``sr`` for the degraded signal: they may differ); the metric resamples
    its own copy of each to :meth:`sample_rate`, once. Lengths: the harness gives equal durations unless the
    metric's entry says ``handles_unequal_lengths`` (then `bench score` passes the files as they are).
    """

    name: str
    direction: Direction
    #: domains the metric is defined for; None = every domain. Elsewhere it computes nothing: no value and no
    #: failure (so a table shows no column for it there, rather than a cell marked incomplete)
    domains: tuple[str, ...] | None = None

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        use_exact_fp32(device)  # float32 on a GPU must match the CPU: TF32 off (bench.cuda_numerics)

    @abstractmethod
    def sample_rate(self, domain: str) -> int:
        """Rate in Hz the metric computes at for ``domain``."""

    @abstractmethod
    def variant(self, domain: str) -> dict[str, Any]:
        """Exact definition of the value (package, version, parameters); stored with every value."""

    @abstractmethod
    def prepare(self, ref: np.ndarray, sr: int, domain: str) -> Any:
        """Reference-side state for ``ref`` [T] at ``sr`` Hz."""

    @abstractmethod
    def score(self, state: Any, deg: np.ndarray, sr: int, domain: str) -> float:
        """Value for ``deg`` [T] at ``sr`` Hz against the reference prepared as ``state``."""

    def score_many(self, state: Any, degs: list[np.ndarray], sr: int, domain: str) -> list[float]:
        """Values for several degraded signals of the same reference (metrics override this to batch)."""
        return [self.score(state, d, sr, domain) for d in degs]

    def __call__(self, ref: np.ndarray, deg: np.ndarray, sr: int, domain: str = "music") -> float:
        return self.score(self.prepare(ref, sr, domain), deg, sr, domain)

    def applies_to(self, domain: str) -> bool:
        """Whether this metric is defined for ``domain`` (see :attr:`domains`)."""
        return self.domains is None or domain in self.domains

    def require_domain(self, domain: str) -> None:
        """Raise a one-line :class:`NotApplicableError` when the metric is not defined for ``domain``."""
        if not self.applies_to(domain):
            raise NotApplicableError(
                f"metric {self.name!r} is defined for {'/'.join(self.domains or ())} only, not for {domain!r}"
            )

    def to_rate(self, x: np.ndarray, sr: int, domain: str) -> np.ndarray:
        """A copy of ``x`` [T] at this metric's rate for ``domain``."""
        return resample(x, sr, self.sample_rate(domain))

    def common_variant(self, domain: str) -> dict[str, Any]:
        return {"metric": self.name, "direction": self.direction, "sample_rate": self.sample_rate(domain),
                "resampler": RESAMPLER}


@dataclass(frozen=True)
class MetricEntry:
    """Registry metadata of a metric."""

    name: str
    factory: Callable[..., Metric]  # factory(device=...) -> Metric
    direction: Direction
    description: str
    perfect: float  # value for identical signals
    gpu_capable: bool = False
    requires: tuple[str, ...] = ()  # modules that must import (optional backends)
    extra: str | None = None
    cost: str = ""  # rough CPU cost, shown by `bench metrics`
    #: single-threaded CPU code (no torch threads of its own). Informational since bench.execution: the local
    #: executor runs every CPU metric in worker processes, one thread each
    process_safe: bool = False
    #: full-reference metric (all four of the paper are); a no-reference metric would ignore ``prepare``'s input
    needs_reference: bool = True
    #: the metric defines its value for signals of different lengths itself (ViSQOL aligns them; CDPAM averages
    #: each signal's embedding over its own length): `bench score` then neither trims nor pads
    handles_unequal_lengths: bool = False
    #: where the definition comes from (repository, file, function) for a paper-comparable ``name@variant``
    source: str = ""
    #: domains the metric is defined for (None = every domain); must equal the metric class's ``domains``.
    #: ``bench run`` computes nothing elsewhere: no value, no failure, no table column
    domains: tuple[str, ...] | None = None
    #: install command for a missing backend that ``extra`` cannot install (shown by `bench metrics`)
    install: str = ""

    def applies_to(self, domain: str) -> bool:
        return self.domains is None or domain in self.domains
