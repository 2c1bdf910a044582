"""Metric stage: every (vocoder, clip, metric) value missing from the store, reference-side work done once.

One unit per (clip, metric) (:class:`bench.execution.units.MetricUnit`): its reference state (CDPAM's
reference embedding, the reference's mel pyramid, ...) is computed once and reused for every vocoder of the
clip. :func:`compute` runs wherever the executor puts the unit; :class:`MetricStage` is the driver's side:
which units are missing, and storing each outcome as it arrives (one transaction per value).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from bench.errors import BenchError
from bench.metrics.base import Metric
from bench.references import Reference
from bench.results.store import ResultsStore

if TYPE_CHECKING:
    from bench.execution.units import MetricUnit


@dataclass
class ScoreStats:
    computed: int = 0
    skipped: int = 0
    failed: int = 0


@dataclass
class Outcome:
    """Per-vocoder values (or error text) of a :class:`~bench.execution.units.MetricUnit` (in its vocoders'
    order), each one's compute seconds, and the seconds of the reference-side work."""

    values: list[float | str]
    seconds: list[float]
    ref_seconds: float


def short_error(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


def compute(metric: Metric, ref: np.ndarray, sr: int, domain: str, degraded: list[np.ndarray]) -> Outcome:
    """Values of ``degraded`` [T] signals against ``ref`` [T] at ``sr`` Hz; failures become error strings."""
    start = time.perf_counter()
    try:
        state = metric.prepare(ref, sr, domain)
    except Exception as err:
        return Outcome([f"reference: {short_error(err)}"] * len(degraded), [0.0] * len(degraded),
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
                values.append(short_error(err))
            seconds.append(time.perf_counter() - t)
    values = [v if isinstance(v, str) or np.isfinite(v) else short_error(BenchError(f"metric returned {v}"))
              for v in values]
    return Outcome(values, seconds, ref_seconds)


class MetricStage:
    """The driver's side of the metric stage: the missing units of each clip, and storing their outcomes.

    Args:
        metrics: metric instances by name, built in the driver: their ``variant`` decides what is stored
            already and is stored with each value (the workers build their own instances to compute).
        stats, timings: counts of values computed/skipped/failed, and compute seconds per metric, updated as
            outcomes are stored.
    """

    def __init__(self, store: ResultsStore, vocoders: Sequence[str], metrics: dict[str, Metric]) -> None:
        self.store, self.vocoders, self.metrics = store, list(vocoders), metrics
        self.stats = ScoreStats()
        self.timings: dict[str, float] = {}

    def units(self, ref: Reference) -> list[MetricUnit]:
        """The missing values of ``ref``'s clip, one unit per metric that misses any (values already stored are
        counted as skipped)."""
        from bench.execution.units import MetricUnit  # (units.py imports Outcome from here)

        domain, cid = ref.clip.domain, ref.clip.id
        renders = {v: self.store.render(v, cid) for v in self.vocoders}
        reference = str(self.store.audio_path("reference", cid))
        out = []
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
                todo.append(v)
            if todo:
                out.append(MetricUnit(cid, domain, mname, metric.device, reference, ref.sample_rate, tuple(todo),
                                      tuple(str(renders[v]["path"]) for v in todo), variant))
        return out

    def put(self, unit: MetricUnit, out: Outcome) -> None:
        """Store the values (and failures) of one finished unit."""
        self.timings[unit.metric] = self.timings.get(unit.metric, 0.0) + out.ref_seconds + sum(out.seconds)
        share = out.ref_seconds / len(unit.vocoders)
        for v, value, seconds in zip(unit.vocoders, out.values, out.seconds):
            if isinstance(value, str):
                self._fail(v, unit.clip_id, unit.metric, value)
                continue
            self.store.put_score(v, unit.clip_id, unit.metric, float(value), unit.variant, seconds=seconds + share)
            self.stats.computed += 1

    def lost(self, unit: MetricUnit, error: str) -> None:
        """The unit could not run (its worker was lost): each of its values fails with ``error``."""
        for v in unit.vocoders:
            self._fail(v, unit.clip_id, unit.metric, error)

    def _fail(self, vocoder: str, clip_id: str, metric: str, error: str) -> None:
        self.store.put_failure("metric", error, vocoder=vocoder, clip_id=clip_id, metric=metric)
        self.stats.failed += 1
