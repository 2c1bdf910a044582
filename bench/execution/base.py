"""The executor interface: how the driver hands units out and gets their results back.

The driver (bench.runner, the main process) builds units (bench.execution.units), gives them to an executor
and stores each :class:`Done` as it arrives; it is the only writer of the run's store, so a run killed at any
moment keeps every result already stored and a rerun computes only the rest. An executor decides where each
unit runs (a local worker process, the driver itself, a Ray worker on another node) and reports it in
:attr:`Done.where`, so that the run summary can say how many units ran where.

Contract of :meth:`Executor.run`:

- it yields exactly one :class:`Done` per unit given, in the order they finish (not the order given);
- it pulls units from the iterable lazily and keeps a bounded number in flight, so that a stage of thousands
  of units holds only a few in memory;
- the result of a unit is what :meth:`bench.execution.worker.WorkerState.execute` returns for it. A unit that
  could not run at all (its worker died and retries, if any, are spent) yields a Done with ``error`` set (one
  line) and ``result`` None: the driver records a failure for each of its items and the run goes on. A
  :class:`bench.errors.BenchError` raised by a unit (the run cannot go on) is raised by ``run`` in the driver;
- closing the generator early, or leaving the executor's ``with`` block by an exception (Ctrl-C, SIGTERM:
  bench.lifetime), stops the units in flight promptly: their results would be discarded anyway.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from bench.execution.units import Result, Unit

#: ``Done.where`` of a unit that ran in the driver process itself.
MAIN = "main"


@dataclass(frozen=True)
class Done:
    """A finished unit: its result (or why it could not run), where it ran and its wall seconds there."""

    unit: Unit
    result: Result | None
    where: str  # "main", "worker-2", "node 10.0.0.3 pid 4711", ...: one name per process (or node) that ran units
    seconds: float = 0.0
    error: str | None = None  # the unit did not run (worker lost): one line; ``result`` is None


class Executor(ABC):
    """Runs units somewhere and hands their results back to the driver as they finish.

    Use as a context manager: ``__enter__`` starts the workers (or connects to a cluster), ``__exit__`` stops
    them, at once when the block is left by an exception.
    """

    #: shown in the run summary, e.g. "local" or "ray"
    name: str = ""

    def __enter__(self) -> Executor:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self.close(cancel=exc_type is not None)

    def start(self) -> None:
        """Start workers or connect (called by ``__enter__``)."""

    @abstractmethod
    def run(self, units: Iterable[Unit]) -> Iterator[Done]:
        """Run ``units``, yielding one :class:`Done` per unit as each finishes (see the module docstring)."""

    @abstractmethod
    def close(self, cancel: bool) -> None:
        """Stop the workers; ``cancel``: do not wait for units in flight (interrupted or failed run)."""

    def release(self) -> None:
        """A synthesis stage is over: workers may free the vocoder model they hold (the next stage loads another)."""

    def describe(self) -> str:
        """One line for the run summary, e.g. "local, 2 worker processes"."""
        return self.name
