"""The local executor: every core of one machine, ``jobs`` worker processes beside the driver.

Placement: CPU units that need no model of their own (references, CPU metrics) go to the worker processes;
synthesis (one vocoder model, loaded once, using all of torch's threads, or the GPU) and GPU metric units run
in the driver process. With ``jobs=0`` everything runs in the driver, one unit after another.

Threads: each worker computes with :data:`bench.execution.worker.METRIC_THREADS` torch (and BLAS) threads, so
``jobs`` workers use ``jobs`` cores and never oversubscribe them; metric values do not depend on ``jobs``.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from bench.errors import BenchError
from bench.execution.base import MAIN, Done, Executor
from bench.execution.units import MetricUnit, ReferenceUnit, Result, Unit
from bench.execution.worker import METRIC_THREADS, WorkerState
from bench.lifetime import worker_init
from bench.scoring import short_error

#: Units in flight per worker: one running, one queued, so a worker never waits for the driver.
IN_FLIGHT_PER_WORKER = 2

# The state of a worker process (its metric instances), set by _init_worker. Module-level because a
# ProcessPoolExecutor calls plain functions; it exists only inside worker processes.
_WORKER: WorkerState | None = None


def default_jobs() -> int:
    """The number of cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _init_worker(parent_pid: int, threads: int) -> None:
    global _WORKER
    worker_init(parent_pid)  # dies with the driver; ignores Ctrl-C (the driver stops it)
    import torch
    from threadpoolctl import threadpool_limits

    # jobs workers x this many threads: no more threads than cores (metric units set METRIC_THREADS themselves)
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    threadpool_limits(threads)  # BLAS/OpenMP pools of numpy and scipy
    _WORKER = WorkerState()


def _execute(unit: Unit) -> tuple[Result, float, int]:
    """In a worker: the unit's result, its wall seconds and the worker's pid."""
    assert _WORKER is not None, "not a worker process"
    start = time.perf_counter()
    result = _WORKER.execute(unit)
    return result, time.perf_counter() - start, os.getpid()


class LocalExecutor(Executor):
    """Runs CPU units in ``jobs`` spawned worker processes and the others in the driver (see the module
    docstring). Workers are started on first use and tied to the driver's life (bench.lifetime)."""

    name = "local"

    def __init__(self, jobs: int | None = None) -> None:
        self.jobs = default_jobs() if jobs is None else jobs
        if self.jobs < 0:
            raise BenchError(f"--jobs must be >= 0, not {self.jobs}")
        self._main = WorkerState()
        self._pool: ProcessPoolExecutor | None = None
        self._names: dict[int, str] = {}  # worker pid -> "worker-N", in the order they first finished a unit

    def describe(self) -> str:
        return f"local, {self.jobs} worker process{'es' if self.jobs != 1 else ''}" if self.jobs else "local, in-process"

    def in_worker(self, unit: Unit) -> bool:
        """Whether ``unit`` runs in a worker process (else in the driver)."""
        return self.jobs > 0 and isinstance(unit, (ReferenceUnit, MetricUnit)) and not unit.device.startswith("cuda")

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn, not fork: a forked copy of a process running torch threads can deadlock.
            self._pool = ProcessPoolExecutor(max_workers=self.jobs, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_init_worker, initargs=(os.getpid(), METRIC_THREADS))
        return self._pool

    def run(self, units: Iterable[Unit]) -> Iterator[Done]:
        pending: dict[Future, Unit] = {}
        todo = iter(units)
        more = True
        try:
            while more or pending:
                while more and len(pending) < IN_FLIGHT_PER_WORKER * max(self.jobs, 1):
                    unit = next(todo, None)
                    if unit is None:
                        more = False
                    elif self.in_worker(unit):
                        try:
                            pending[self._ensure_pool().submit(_execute, unit)] = unit
                        except BrokenProcessPool as err:  # a worker died earlier: the pool takes nothing more
                            yield Done(unit, None, "worker", error=f"worker: {short_error(err)}")
                    else:
                        start = time.perf_counter()
                        result = self._main.execute(unit)
                        yield Done(unit, result, MAIN, time.perf_counter() - start)
                        yield from self._collect(pending, block=False)
                if pending:
                    yield from self._collect(pending, block=True)
        finally:
            for fut in pending:  # the caller stopped early: what is still queued will not be read
                fut.cancel()

    def _collect(self, pending: dict[Future, Unit], block: bool) -> Iterator[Done]:
        """Yield the finished worker units (waiting for at least one when ``block``)."""
        if block:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
        else:
            finished = {f for f in pending if f.done()}
        for fut in finished:
            unit = pending.pop(fut)
            try:
                result, seconds, pid = fut.result()
            except BenchError:
                raise
            except Exception as err:  # the worker died (killed, out of memory): this unit's values fail
                yield Done(unit, None, "worker", error=f"worker: {short_error(err)}")
                continue
            where = self._names.setdefault(pid, f"worker-{len(self._names) + 1}")
            yield Done(unit, result, where, seconds)

    def release(self) -> None:
        self._main.release()

    def close(self, cancel: bool) -> None:
        self._main.release()
        if self._pool is None:
            return
        if cancel:
            # Interrupted (Ctrl-C, SIGTERM) or failed: results in flight would be discarded, so stop the workers
            # now instead of waiting for their current unit (minutes on a long clip).
            self._stop_workers()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = None

    def _stop_workers(self) -> None:
        assert self._pool is not None
        terminate = getattr(self._pool, "terminate_workers", None)  # Python >= 3.14
        if terminate is not None:
            terminate()
            return
        for proc in list((getattr(self._pool, "_processes", None) or {}).values()):
            if proc.is_alive():
                proc.terminate()
