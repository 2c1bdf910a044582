"""Metric stage: every (vocoder, clip, metric) value missing from the store, reference-side work done once.

The loop is clip-major: a clip's reference state for a metric (CDPAM's reference embedding, the reference's
mel pyramid, ...) is computed once and reused for every vocoder. Metrics whose entry is ``process_safe``
(single-threaded numpy code such as ViSQOL) can run in worker processes while the torch metrics use the
main process, so both cores work; values are always written by the main process, one transaction each.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import soundfile as sf

from bench.errors import BenchError
from bench.lifetime import worker_init
from bench.metrics.base import Metric
from bench.references import Reference
from bench.results.store import ResultsStore


@dataclass
class ScoreStats:
    computed: int = 0
    skipped: int = 0
    failed: int = 0


@dataclass
class Job:
    """The missing values of one (clip, metric): vocoders and their rendered audio."""

    clip_id: str
    metric: str
    variant: dict
    vocoders: list[str]
    degraded: list[np.ndarray] = field(repr=False)


@dataclass
class Outcome:
    """Per-vocoder values (or error text) of a :class:`Job`, and compute seconds."""

    values: list[float | str]
    seconds: list[float]
    ref_seconds: float


def _short(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


def compute(metric: Metric, ref: np.ndarray, sr: int, domain: str, degraded: list[np.ndarray]) -> Outcome:
    """Values of ``degraded`` [T] signals against ``ref`` [T] at ``sr`` Hz; failures become error strings."""
    start = time.perf_counter()
    try:
        state = metric.prepare(ref, sr, domain)
    except Exception as err:
        return Outcome([f"reference: {_short(err)}"] * len(degraded), [0.0] * len(degraded),
                       time.perf_counter() - start)
    ref_seconds = time.perf_counter() - start
    start = time.perf_counter()
    try:
        values: list[float | str] = list(metric.score_many(state, degraded, sr, domain))
        seconds = [(time.perf_counter() - start) / len(degraded)] * len(degraded)
    except Exception:  # isolate the failing item; the others still get their values
        values, seconds = [], []
        for d in degraded:
            t = time.perf_counter()
            try:
                values.append(metric.score(state, d, sr, domain))
            except Exception as err:
                values.append(_short(err))
            seconds.append(time.perf_counter() - t)
    values = [v if isinstance(v, str) or np.isfinite(v) else _short(BenchError(f"metric returned {v}"))
              for v in values]
    return Outcome(values, seconds, ref_seconds)


@functools.lru_cache(maxsize=8)
def _worker_metric(name: str, device: str) -> Metric:
    """One metric instance per worker process (models and compiled code loaded once)."""
    from bench.metrics.registry import metric_registry

    return metric_registry().get(name).factory(device=device)


def _compute_in_worker(name: str, device: str, ref: np.ndarray, sr: int, domain: str,
                       degraded: list[np.ndarray]) -> Outcome:
    return compute(_worker_metric(name, device), ref, sr, domain, degraded)


class Scorer:
    """Computes and stores the missing values of a run, clip by clip.

    Args:
        metrics: metric instances by name (used in this process).
        pooled: names of metrics to run in ``workers`` worker processes instead (0 workers = all in-process).
        progress: called with the number of (clip, metric) units just finished (values stored, or nothing was
            missing), so that progress moves inside a clip, metric by metric, not only between clips.
        status: called with "METRIC on CLIP" before each in-process computation (shown beside the progress bar).
    """

    def __init__(self, store: ResultsStore, vocoders: Sequence[str], metrics: dict[str, Metric],
                 pooled: Sequence[str] = (), workers: int = 0, timings: dict[str, float] | None = None,
                 progress: Callable[[int], None] | None = None, status: Callable[[str], None] | None = None) -> None:
        self.store, self.vocoders, self.metrics = store, list(vocoders), metrics
        self._progress = progress or (lambda n: None)
        self._status = status or (lambda text: None)
        self.pooled = set(pooled) if workers > 0 else set()
        self.workers = workers
        self.timings = timings if timings is not None else {}
        self.stats = ScoreStats()
        self._pool: ProcessPoolExecutor | None = None
        self._pending: list[tuple[Job, Future, float]] = []

    def __enter__(self) -> Scorer:
        if self.pooled:
            # spawn, not fork: a forked copy of a process running torch threads can deadlock. The initializer
            # ties each worker's life to this process (see bench.lifetime).
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=worker_init, initargs=(os.getpid(),))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if self._pool is None:
            return
        finished = False
        try:
            if exc_type is None:
                self.drain(wait=True)
                finished = True
        finally:
            if not finished:
                # Interrupted (Ctrl-C, SIGTERM) or failed: the workers' pending values would be discarded, so
                # stop them now instead of waiting for their current item (minutes on a long clip).
                self._stop_workers()
            self._pool.shutdown(wait=True, cancel_futures=True)

    def _stop_workers(self) -> None:
        terminate = getattr(self._pool, "terminate_workers", None)  # Python >= 3.14
        if terminate is not None:
            terminate()
            return
        processes = getattr(self._pool, "_processes", None) or {}
        for proc in list(processes.values()):
            if proc.is_alive():
                proc.terminate()

    def jobs(self, ref: Reference) -> list[Job]:
        """The missing values of ``ref``'s clip, one job per metric."""
        domain, cid = ref.clip.domain, ref.clip.id
        renders = {v: self.store.render(v, cid) for v in self.vocoders}
        loaded: dict[str, np.ndarray] = {}
        jobs = []
        for mname, metric in self.metrics.items():
            if not metric.applies_to(domain):
                continue  # not defined for this domain (PESQ on music): no value and no failure, by design
            variant = metric.variant(domain)
            todo = []
            for v, row in renders.items():
                if row is None:
                    continue  # synthesis failed or was not run: recorded as a failure already
                if self.store.has_score(v, cid, mname, variant):
                    self.stats.skipped += 1
                    continue
                if v not in loaded:
                    try:
                        loaded[v], _ = sf.read(str(row["path"]), dtype="float32")
                    except Exception as err:
                        self._fail(v, cid, mname, f"cannot read render: {_short(err)}")
                        continue
                todo.append(v)
            if todo:
                jobs.append(Job(cid, mname, variant, todo, [loaded[v] for v in todo]))
        return jobs

    def score(self, ref: Reference) -> None:
        jobs = self.jobs(ref)
        if len(jobs) < len(self.metrics):  # metrics with nothing missing for this clip are done already
            self._progress(len(self.metrics) - len(jobs))
        for job in jobs:
            if job.metric in self.pooled:
                fut = self._pool.submit(_compute_in_worker, job.metric, self.metrics[job.metric].device, ref.audio,
                                        ref.sample_rate, ref.clip.domain, job.degraded)
                self._pending.append((job, fut, time.perf_counter()))
            else:
                self._status(f"{job.metric} on {job.clip_id}")
                self._store(job, compute(self.metrics[job.metric], ref.audio, ref.sample_rate, ref.clip.domain,
                                         job.degraded))
        self.drain(wait=False)

    def drain(self, wait: bool) -> None:
        """Store the finished worker results (all of them when ``wait``)."""
        still = []
        for job, fut, _ in self._pending:
            if wait or fut.done():
                try:
                    out = fut.result()
                except Exception as err:  # the worker died: every value of the job fails, the run goes on
                    out = Outcome([f"worker: {_short(err)}"] * len(job.vocoders), [0.0] * len(job.vocoders), 0.0)
                self._store(job, out)
            else:
                still.append((job, fut, 0.0))
        self._pending = still

    def _fail(self, vocoder: str, clip_id: str, metric: str, error: str) -> None:
        self.store.put_failure("metric", error, vocoder=vocoder, clip_id=clip_id, metric=metric)
        self.stats.failed += 1

    def _store(self, job: Job, out: Outcome) -> None:
        self.timings[job.metric] = self.timings.get(job.metric, 0.0) + out.ref_seconds + sum(out.seconds)
        share = out.ref_seconds / len(job.vocoders)
        for v, value, seconds in zip(job.vocoders, out.values, out.seconds):
            if isinstance(value, str):
                self._fail(v, job.clip_id, job.metric, value)
                continue
            self.store.put_score(v, job.clip_id, job.metric, float(value), job.variant, seconds=seconds + share)
            self.stats.computed += 1
        self._progress(1)


def score_all(store: ResultsStore, refs: Sequence[Reference], vocoders: Sequence[str], metrics: dict[str, Metric],
              *, pooled: Sequence[str] = (), workers: int = 0, progress: Callable[[int], None] | None = None,
              status: Callable[[str], None] | None = None, timings: dict[str, float] | None = None) -> ScoreStats:
    """Compute and store every missing value of ``refs`` x ``vocoders`` x ``metrics``.

    ``progress`` counts (clip, metric) units: ``len(refs) * len(metrics)`` in all (see :class:`Scorer`).
    """
    with Scorer(store, vocoders, metrics, pooled=pooled, workers=workers, timings=timings, progress=progress,
                status=status) as scorer:
        for ref in refs:
            scorer.score(ref)
    return scorer.stats
