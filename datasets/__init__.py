"""Dataset definitions and builders (importable as ``bench_datasets``).

Each dataset is one module with an ``ENTRY`` (:class:`bench_datasets.base.DatasetEntry`) listed in
:mod:`bench_datasets.registry`.
"""

from bench_datasets.base import Clip, Dataset, DatasetEntry

__all__ = ["Clip", "Dataset", "DatasetEntry"]
