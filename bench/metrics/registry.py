"""Registered metrics: one module each; optional backends register only when their package imports."""

from __future__ import annotations

import functools

from bench.metrics.base import MetricEntry
from bench.registry import Registry, collect

BUILTIN_MODULES = (
    "bench.metrics.mrstft",
    "bench.metrics.mrmel",
    "bench.metrics.cdpam",
    "bench.metrics.visqol",
    # speech-only metrics of the speech-vocoder papers (README "Speech metrics")
    "bench.metrics.pesq",
    "bench.metrics.periodicity",
    "bench.metrics.vuv_f1",
    "bench.metrics.mcd",
    # paper-comparable variants, named ``metric@variant``
    "bench.metrics.mrstft_variants",
    "bench.metrics.mrmel_variants",
)


@functools.lru_cache(maxsize=1)
def metric_registry() -> Registry[MetricEntry]:
    from bench.plugins import add_plugins  # metrics of other packages (entry points), after the built-in ones

    return add_plugins(collect("metric", BUILTIN_MODULES), MetricEntry)
