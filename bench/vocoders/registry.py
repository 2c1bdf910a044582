"""Registered vocoders: one module each, listed here."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.params import ParamSpec, defaults
from bench.registry import Registry, collect
from bench.vocoders.base import LoadOptions, Vocoder
from bench.vocoders.weights import WeightSpec


@dataclass(frozen=True)
class VocoderEntry:
    """Registry metadata of a vocoder; ``factory`` builds it (weights resolved by the caller).

    ``params`` declares every key the vocoder reads from ``LoadOptions.params`` (type, range, default): user
    values are checked against it before a run starts (:func:`bench.params.validate_params`).
    """

    name: str
    factory: Callable[[LoadOptions], Vocoder]
    sample_rate: int
    description: str
    weights: WeightSpec | None = None
    gpu_capable: bool = False
    extra: str | None = None  # pip extra that provides an optional dependency
    params: tuple[ParamSpec, ...] = ()
    family: str = "baseline"  # "reference", "anchor", "baseline", "neural"

    @property
    def uses_precision(self) -> bool:
        """Whether ``--precision`` changes this vocoder's output: only the neural ones run their model in it
        (``NeuralVocoder``); the others ignore it, so it is neither recorded for them nor part of their key."""
        return self.family == "neural"

    @property
    def default_params(self) -> dict[str, Any]:
        """``{name: default}`` of every declared parameter."""
        return defaults(self.params)


#: Modules that define ``ENTRY``; one file per vocoder.
BUILTIN_MODULES = (
    "bench.vocoders.reference",
    "bench.vocoders.anchors",
    "bench.vocoders.griffinlim",
    "bench.vocoders.bigvgan",
    "bench.vocoders.hifigan",
    "bench.vocoders.vocos",
    "bench.vocoders.dac",
    "bench.vocoders.discoder",
)


@functools.lru_cache(maxsize=1)
def vocoder_registry() -> Registry[VocoderEntry]:
    """The registry of built-in and plugin vocoders (built once; immutable afterwards by convention)."""
    from bench.plugins import add_plugins

    return add_plugins(collect("vocoder", BUILTIN_MODULES), VocoderEntry)
