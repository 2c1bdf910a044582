"""The Ray executor: a run's units on a Ray cluster (``bench run --executor ray [--ray-address ADDR]``).

Ray places the workers; the units go to them as they arrive:

- every unit runs in a unit actor: an actor that asks Ray for 1 CPU (the CPU pool, at most one actor per CPU of
  the cluster) or for 1 GPU (the GPU pool, units whose device is CUDA: synthesis and CDPAM with ``--device
  cuda``). Ray decides on which node each actor lives. An actor keeps one
  :class:`~bench.execution.worker.WorkerState`: a metric (CDPAM's network, ViSQOL's model) is built once per actor,
  a vocoder is loaded once per actor for the whole synthesis stage (:meth:`RayExecutor.release` then drops it);
- actors are created as units arrive (when every actor of the pool has a unit in flight and the pool is not
  full), and each unit goes to the actor of its pool with the fewest units in flight, at most
  :data:`IN_FLIGHT_PER_ACTOR` each, so that the driver holds a bounded number of units.

Results travel back to the driver, which stores them as they arrive (bench.runner, the only writer of the
store). Faults: an actor whose process dies is restarted and its unit retried (:data:`RETRIES` times each); a unit
never writes anything itself, so a retried unit's values are stored once. Metric units compute with
:data:`bench.execution.worker.METRIC_THREADS` torch threads, like the local executor's, and Ray starts each
actor's process with ``OMP_NUM_THREADS`` = its CPUs (1).

Files: the units read the clips' source files and the run folder's audio by path, so the nodes must see the
dataset and the run folder at the same paths (a shared file system; the nodes of one machine do), or the run is
given an fsspec URL that every node can read (``--audio-url``): then those files are copied there and the nodes
read them from there (bench.execution.shared_files). The results store stays in the run folder on the driver.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.execution.base import Done, Executor
from bench.execution.units import RenderUnit, Result, Unit
from bench.execution.shared_files import LocalCopies, SharedFiles
from bench.execution.worker import WorkerState, compute_threads
from bench.scoring import short_error
from bench.vocoders.base import LoadOptions

#: Retries of a unit whose actor process died: the actor is restarted (``max_restarts``) and the unit sent again
#: (``max_task_retries``).
RETRIES = 3
#: Start of a Done's error when the unit's actor died for good (its restarts spent) or its node was lost.
LOST = "ray worker lost"
#: Units in flight per actor: one running, one queued, so that no actor waits for the driver.
IN_FLIGHT_PER_ACTOR = 2
#: Seconds ray.wait blocks before the loop looks again (keeps Ctrl-C and an early close responsive).
WAIT_SECONDS = 1.0
#: Seconds a node may take to answer the weights check before the run stops.
CHECK_TIMEOUT = 120.0


# -- what runs on the workers -------------------------------------------------------------------------------------
def _where() -> str:
    """This node, as the run summary names it: its IP address and the first characters of its Ray node id."""
    import ray

    return f"node {ray.util.get_node_ip_address()}/{ray.get_runtime_context().get_node_id()[:6]}"


class UnitWorker:
    """A Ray actor that runs units with one :class:`WorkerState` (metrics built once, a vocoder loaded once)."""

    def __init__(self) -> None:
        self._state = WorkerState()
        self._copies: LocalCopies | None = None  # local copies of the URLs units name (``audio_url``)

    def _local(self, unit: Unit) -> Unit:
        if self._copies is None:
            self._copies = LocalCopies()
        return self._copies.local(unit)

    def remove_copies(self) -> None:
        if self._copies is not None:
            self._copies.remove()
            self._copies = None

    def execute(self, unit: Unit, synthesis_threads: int) -> tuple[Result, float, str]:
        """The unit's result, its wall seconds here and where it ran. A CPU synthesis unit computes with
        ``synthesis_threads`` torch threads (see :class:`RayExecutor`)."""
        start = time.perf_counter()
        unit = self._local(unit)
        if isinstance(unit, RenderUnit) and not unit.device.startswith("cuda"):
            with compute_threads(synthesis_threads):
                result = self._state.execute(unit)
        else:
            result = self._state.execute(unit)
        return result, time.perf_counter() - start, _where()

    def release(self) -> None:
        self._state.release()

    def pid(self) -> int:
        return os.getpid()


def check_weights(name: str, path: str, expected: dict[str, str]) -> str | None:
    """On a node: None when ``path`` (relative: to this worker's directory) holds the weight files with the
    content hashes ``expected`` (file name -> sha256), else the one-line problem, naming the node and the path."""
    from bench.synthesis import weights_digest

    here = Path(path)
    where = _where()
    shown = f"{path}" + (f" (relative to {os.getcwd()})" if not here.is_absolute() else "")
    if not here.exists():
        return f"{where}: {name} weights not found at {shown}"
    try:
        found = weights_digest(str(here))
    except OSError as err:
        return f"{where}: {name} weights at {shown} cannot be read: {short_error(err)}"
    differ = sorted(f for f in expected if found.get(f) != expected[f])
    if differ:
        return f"{where}: {name} weights at {shown} differ from the driver's ({', '.join(differ)})"
    return None


# -- the driver's side --------------------------------------------------------------------------------------------
@dataclass
class _Pool:
    """The unit actors that ask Ray for ``resources``: their handles and units in flight on each."""

    resources: dict[str, float]
    size: int  # at most this many actors
    handles: list[Any] = field(default_factory=list)
    busy: list[int] = field(default_factory=list)
    dead: set[int] = field(default_factory=set)  # actors whose restarts are spent: they get no more units


def _resources(device: str) -> dict[str, float]:
    """What a unit on ``device`` asks Ray for: a GPU (and no CPU: it mostly waits for the GPU), or a CPU."""
    return {"num_cpus": 0, "num_gpus": 1} if device.startswith("cuda") else {"num_cpus": 1, "num_gpus": 0}


class RayExecutor(Executor):
    """Runs units on a Ray cluster (see the module docstring).

    Args:
        jobs: CPUs of the local Ray instance started when there is no cluster to join (None = every core);
            ignored when joining a cluster (its nodes say how many CPUs they have).
        address: the cluster's address (``HOST:PORT`` of its head, or ``auto``); None = ``$RAY_ADDRESS`` when
            set, else a local Ray instance is started for the run and stopped after it.
        quiet: print nothing on connecting (the cluster line and the dashboard link).
        synthesis_threads: torch threads of CPU synthesis units; None = the driver's own count, which the local
            executor synthesises with: some models' CPU outputs depend on it in the last bits (oneDNN splits a
            convolution by thread), and with the same count the renders, hence every value, are bit-identical to a
            local run's. An actor still asks Ray for 1 CPU.
        audio_url: an fsspec URL every node can read: the files units read (clip sources, references, renders)
            are copied there and read from there (bench.execution.shared_files); None = the nodes see the
            driver's files at the same paths (one machine, or a shared file system).
    """

    name = "ray"

    def __init__(self, jobs: int | None = None, address: str | None = None, quiet: bool = False,
                 synthesis_threads: int | None = None, audio_url: str | None = None) -> None:
        import torch

        self._files = SharedFiles(audio_url) if audio_url else None
        self.jobs = jobs
        self.synthesis_threads = synthesis_threads or torch.get_num_threads()
        self.address = address
        self.quiet = quiet
        self.dashboard_url: str | None = None
        self._connected = False  # this executor called ray.init (so it calls ray.shutdown)
        self._started = False
        self._slots = {"CPU": 1, "GPU": 0}
        self._nodes: list[dict[str, Any]] = []
        self._pools: dict[str, _Pool] = {}  # "CPU" / "GPU" -> its unit actors
        self._actor_class: Any = None

    # -- lifecycle ------------------------------------------------------------------------------------------------
    def start(self) -> None:
        import logging

        import ray

        if self._started:
            return
        if not ray.is_initialized():
            address = self.address or os.environ.get("RAY_ADDRESS") or None
            kwargs: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
            if address is None:  # a Ray instance of our own, for this run
                kwargs.update(num_cpus=self.jobs, include_dashboard=False)
            try:
                info = ray.init(address=address, **kwargs)
            except ConnectionError as err:
                raise BenchError(f"cannot connect to the Ray cluster at {address}: {short_error(err)}") from None
            self._connected = True
            self.dashboard_url = _dashboard(info)
        self._started = True
        self._nodes = [n for n in ray.nodes() if n["Alive"]]
        total = ray.cluster_resources()
        self._slots = {"CPU": int(total.get("CPU", 0)), "GPU": int(total.get("GPU", 0))}
        self._actor_class = ray.remote(UnitWorker)
        if not self.quiet:
            print(f"ray: {self.describe()}" + (f"; dashboard {self.dashboard_url}" if self.dashboard_url else ""),
                  file=sys.stderr)

    def describe(self) -> str:
        n = len(self._nodes)
        # the dashboard link is printed once as the run connects (it changes with every cluster: not recorded)
        return f"ray, {n} node{'s' if n != 1 else ''}, {self._slots['CPU']} CPUs, {self._slots['GPU']} GPUs"

    def close(self, cancel: bool) -> None:
        import ray

        handles = self.actors()
        if self._files is not None and not cancel and handles:  # their local copies of the shared files
            ray.wait([h.remove_copies.remote() for h in handles], num_returns=len(handles), timeout=30)
        for h in handles:  # their processes end with them (and their models with them)
            ray.kill(h, no_restart=True)
        self._pools = {}
        if self._connected and ray.is_initialized():
            ray.shutdown()  # ends this job's workers on every node; the cluster stays up
        self._connected = self._started = False

    def release(self) -> None:
        """The synthesis stage of a vocoder is over: every actor drops the model it holds (in its order of calls,
        so after the units already sent to it)."""
        for pool in self._pools.values():
            for h in pool.handles:
                h.release.remote()

    def actors(self) -> list[Any]:
        """Handles of the unit actors started so far (CPU pool first)."""
        return [h for kind in sorted(self._pools) for h in self._pools[kind].handles]

    # -- checks before any unit runs ------------------------------------------------------------------------------
    def check_vocoders(self, vocoders: Sequence[tuple[str, LoadOptions]]) -> None:
        """Every node that could host a vocoder's actor (it has the CPU or GPU the vocoder runs on) holds its
        weight files, with the driver's content hashes; else BenchError naming the node(s) and the path."""
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from bench.synthesis import weights_digest

        self.start()
        check = ray.remote(check_weights)
        pending = {}
        for requested, opts in vocoders:
            if not opts.weights_path:
                continue
            expected = weights_digest(opts.weights_path)
            res = _resources(opts.device)
            need = "GPU" if res["num_gpus"] else "CPU"
            hosts = [n for n in self._nodes if n["Resources"].get(need, 0) >= 1]
            if not hosts:
                raise BenchError(f"{requested}: no node of the Ray cluster has a {need} to run it on")
            for node in hosts:
                strategy = NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
                ref = check.options(scheduling_strategy=strategy, max_retries=RETRIES, **res).remote(
                    requested, opts.weights_path, expected)
                pending[ref] = node
        problems = []
        deadline = time.monotonic() + CHECK_TIMEOUT
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=max(deadline - time.monotonic(), 0))
            for ref in ready:
                pending.pop(ref)
                problem = ray.get(ref)
                if problem:
                    problems.append(problem)
            if pending and time.monotonic() >= deadline:
                for ref, node in pending.items():
                    ray.cancel(ref, force=True)
                    problems.append(f"node {node['NodeManagerAddress']}/{node['NodeID'][:6]}: no answer to the "
                                    f"weights check in {CHECK_TIMEOUT:g} s (all its CPUs/GPUs busy?)")
                break
        if problems:
            raise BenchError("; ".join(sorted(problems)))

    # -- running units --------------------------------------------------------------------------------------------
    def _in_flight_limit(self) -> int:
        return IN_FLIGHT_PER_ACTOR * max(self._slots["CPU"] + self._slots["GPU"], 1)

    def _pool(self, device: str) -> _Pool:
        kind = "GPU" if device.startswith("cuda") else "CPU"
        if kind not in self._pools:
            if self._slots[kind] < 1:
                raise BenchError(f"a unit needs a {kind} ({device}) but the Ray cluster has none")
            self._pools[kind] = _Pool(_resources(device), self._slots[kind])
        return self._pools[kind]

    def _submit(self, unit: Unit) -> tuple[Any, _Pool, int]:
        """Send ``unit`` to the least busy actor of its pool (a new actor when all are busy and the pool is not
        full); returns its result reference, the pool and the actor's index."""
        pool = self._pool(unit.device)
        live = [k for k in range(len(pool.handles)) if k not in pool.dead]
        i = min(live, key=lambda k: pool.busy[k]) if live else -1
        if i < 0 or (pool.busy[i] > 0 and len(live) < pool.size):
            pool.handles.append(self._actor_class.options(
                max_restarts=RETRIES, max_task_retries=RETRIES, **pool.resources).remote())
            pool.busy.append(0)
            i = len(pool.handles) - 1
        pool.busy[i] += 1
        sent = self._files.shared(unit) if self._files is not None else unit
        return pool.handles[i].execute.remote(sent, self.synthesis_threads), pool, i

    def run(self, units: Iterable[Unit]) -> Iterator[Done]:
        import ray

        self.start()
        pending: dict[Any, tuple[Unit, _Pool, int]] = {}
        todo = iter(units)
        more = True
        try:
            while more or pending:
                while more and len(pending) < self._in_flight_limit():
                    unit = next(todo, None)
                    if unit is None:
                        more = False
                    else:
                        ref, pool, index = self._submit(unit)
                        pending[ref] = (unit, pool, index)
                if not pending:
                    break
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=WAIT_SECONDS)
                for ref in ready:
                    unit, pool, index = pending.pop(ref)
                    pool.busy[index] -= 1
                    done = self._done(unit, ref)
                    if done.error and done.error.startswith(LOST):
                        pool.dead.add(index)  # a new actor takes its place for the next units
                    yield done
        finally:
            for ref in pending:  # stopped early: nothing in flight will be read
                ray.cancel(ref)

    def _done(self, unit: Unit, ref: Any) -> Done:
        import ray

        try:
            result, seconds, where = ray.get(ref)
        except ray.exceptions.RayTaskError as err:  # the unit raised: BenchError stops the run, a bug costs the unit
            cause = getattr(err, "cause", None)
            if isinstance(cause, BenchError):
                raise BenchError(str(cause)) from None
            return Done(unit, None, "ray", error=f"ray: {short_error(cause or err)}")
        except ray.exceptions.RayError as err:  # its worker died and the retries are spent, or the node was lost
            return Done(unit, None, "ray", error=f"{LOST}: {short_error(err)}")
        return Done(unit, result, where, seconds)


def _dashboard(info: Any) -> str | None:
    """The dashboard's URL from ``ray.init``'s result, when the cluster runs one."""
    url = getattr(info, "dashboard_url", None) or (info.get("webui_url") if isinstance(info, dict) else None)
    if not url:
        return None
    return url if url.startswith("http") else f"http://{url}"
