"""Metric stage: every (vocoder, clip, metric) value missing from the store, reference-side work done once.

The loop is clip-major: a clip's reference state for a metric (CDPAM's reference embedding, the reference's
mel pyramid, ...) is computed once and reused for every vocoder.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from bench.errors import BenchError
from bench.metrics.base import Metric
from bench.references import Reference
from bench.results.store import ResultsStore


@dataclass
class ScoreStats:
    computed: int = 0
    skipped: int = 0
    failed: int = 0


def _short(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


def score_clip(store: ResultsStore, ref: Reference, vocoders: Sequence[str], metrics: dict[str, Metric],
               stats: ScoreStats, timings: dict[str, float] | None = None) -> None:
    """Compute the missing values of one clip for ``vocoders`` x ``metrics``."""
    domain = ref.clip.domain
    degraded: dict[str, np.ndarray] = {}
    for mname, metric in metrics.items():
        variant = metric.variant(domain)
        todo = []
        for v in vocoders:
            row = store.render(v, ref.clip.id)
            if row is None:
                continue  # synthesis failed or vocoder not run: recorded in failures already
            if store.has_score(v, ref.clip.id, mname, variant):
                stats.skipped += 1
                continue
            todo.append((v, row))
        if not todo:
            continue
        start = time.perf_counter()
        try:
            state = metric.prepare(ref.audio, ref.sample_rate, domain)
        except Exception as err:
            for v, _ in todo:
                store.put_failure("metric", f"reference: {_short(err)}", vocoder=v, clip_id=ref.clip.id, metric=mname)
                stats.failed += 1
            continue
        ref_seconds = time.perf_counter() - start
        if timings is not None:
            timings[mname] = timings.get(mname, 0.0) + ref_seconds
        loaded = []
        for v, row in todo:
            try:
                if v not in degraded:
                    degraded[v], _ = sf.read(str(row["path"]), dtype="float32")
                loaded.append(v)
            except Exception as err:
                store.put_failure("metric", f"cannot read render: {_short(err)}", vocoder=v, clip_id=ref.clip.id,
                                  metric=mname)
                stats.failed += 1
        if not loaded:
            continue
        start = time.perf_counter()
        try:
            values = metric.score_many(state, [degraded[v] for v in loaded], ref.sample_rate, domain)
            per_item = [(time.perf_counter() - start) / len(loaded)] * len(loaded)
        except Exception:  # isolate the item that fails; the others still get their values
            values, per_item = [], []
            for v in loaded:
                t = time.perf_counter()
                try:
                    values.append(metric.score(state, degraded[v], ref.sample_rate, domain))
                except Exception as err:
                    values.append(err)
                per_item.append(time.perf_counter() - t)
        if timings is not None:
            timings[mname] = timings.get(mname, 0.0) + sum(per_item)
        for v, value, seconds in zip(loaded, values, per_item):
            if not isinstance(value, Exception) and not np.isfinite(value):
                value = BenchError(f"metric returned {value}")
            if isinstance(value, Exception):
                store.put_failure("metric", _short(value), vocoder=v, clip_id=ref.clip.id, metric=mname)
                stats.failed += 1
                continue
            store.put_score(v, ref.clip.id, mname, float(value), variant, seconds=seconds + ref_seconds / len(todo))
            stats.computed += 1


def score_all(store: ResultsStore, refs: Sequence[Reference], vocoders: Sequence[str], metrics: dict[str, Metric],
              progress: Callable[[int], None] | None = None,
              timings: dict[str, float] | None = None) -> ScoreStats:
    stats = ScoreStats()
    for ref in refs:
        score_clip(store, ref, vocoders, metrics, stats, timings)
        if progress:
            progress(1)
    return stats
