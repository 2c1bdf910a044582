"""Registered datasets: one module each."""

from __future__ import annotations

import functools

from bench.registry import Registry, collect
from bench_datasets.base import DatasetEntry

BUILTIN_MODULES = (
    "bench_datasets.folder",
    "bench_datasets.manifest",
    "bench_datasets.demo",
    "bench_datasets.musdb",
    "bench_datasets.jamendo",
    "bench_datasets.libritts",
    "bench_datasets.vctk",
)


@functools.lru_cache(maxsize=1)
def dataset_registry() -> Registry[DatasetEntry]:
    from bench.plugins import add_plugins  # datasets of other packages (entry points), after the built-in ones

    return add_plugins(collect("dataset", BUILTIN_MODULES), DatasetEntry)
