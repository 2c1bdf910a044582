"""Results store (SQLite under results/<run>/) and what is rendered from it (tables, plots, report).

``bench.results.load(run_dir)`` returns a run's results as a pandas DataFrame (:func:`bench.results.frame.load`);
it is imported on first use, so that code that only writes the store does not import pandas.
"""

from __future__ import annotations

from typing import Any

__all__ = ["load"]


def __getattr__(name: str) -> Any:
    if name == "load":
        from bench.results.frame import load

        return load
    raise AttributeError(f"module 'bench.results' has no attribute {name!r}")
