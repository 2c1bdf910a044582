"""Registered datasets: one module each."""

from __future__ import annotations

import functools

from bench.registry import Registry, collect
from bench_datasets.base import DatasetEntry

BUILTIN_MODULES = (
    "bench_datasets.folder",
    "bench_datasets.demo",
)


@functools.lru_cache(maxsize=1)
def dataset_registry() -> Registry[DatasetEntry]:
    return collect("dataset", BUILTIN_MODULES)
