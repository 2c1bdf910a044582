"""How a run's units are executed: on this machine's cores (``local``) or on a Ray cluster (``ray``).

units.py: the work (reference, render, metric units and their results); worker.py: what runs a unit anywhere;
base.py: the :class:`~bench.execution.base.Executor` interface; local.py and ray_executor.py: the executors.
"""

from __future__ import annotations

from typing import Any

from bench.errors import MissingExtraError, UnknownNameError
from bench.execution.base import Executor

EXECUTORS = ("local", "ray")


def make_executor(name: str, jobs: int | None = None, **options: Any) -> Executor:
    """The executor ``name`` ("local" or "ray"); ``jobs``: worker processes of the local executor (None = one per
    core); ``options``: executor-specific settings (e.g. the Ray cluster's address)."""
    if name == "local":
        from bench.execution.local import LocalExecutor

        return LocalExecutor(jobs, **options)
    if name == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            raise MissingExtraError("--executor ray needs Ray: pip install 'vocoder-bench[ray]'") from None
        from bench.execution.ray_executor import RayExecutor

        return RayExecutor(jobs=jobs, **options)
    raise UnknownNameError(f"unknown executor {name!r}; known: {', '.join(EXECUTORS)}")
