"""What runs a unit, wherever it runs: a worker's state (models built once) and the unit functions.

Any executor runs units through one :class:`WorkerState` per worker (a local process, a Ray actor, the driver
itself): it keeps the metric instances and the last vocoder it loaded, so a model is loaded once per worker,
not once per unit.

Same numbers everywhere: torch's intra-op thread count changes how reductions are split, hence the last bits
of a value (MR-STFT and MR-MEL measured 1 ulp apart with 1 and 2 threads; README, "Running on every core"), so
metric units always compute with :data:`METRIC_THREADS` threads, whichever process runs them and however many
processes there are.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import soundfile as sf

from bench.errors import AudioError, BenchError
from bench.execution.units import (MetricUnit, ReferenceResult, ReferenceUnit, RenderOutput, RenderUnit, Result,
                                   Unit)
from bench.metrics.base import Metric
from bench.references import prepare_reference
from bench.scoring import Outcome, compute, short_error
from bench.synthesis import synthesise, warm_up
from bench.vocoders.base import LoadOptions

#: torch intra-op threads of every metric computation (see the module docstring).
METRIC_THREADS = 1


@contextlib.contextmanager
def compute_threads(n: int) -> Iterator[None]:
    """Within the block torch uses ``n`` intra-op threads and the BLAS/OpenMP pools of numpy and scipy at most
    ``n`` (the previous counts are restored)."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with threadpool_limits(n):
            yield
    finally:
        torch.set_num_threads(before)


def read_audio(path: str) -> np.ndarray:
    """A run file as float32 [T] (the run stores float32 WAV, so these are exactly the samples written)."""
    x, _ = sf.read(path, dtype="float32")
    return x


class WorkerState:
    """Metric instances and the current vocoder of one worker, built on first use and reused."""

    def __init__(self) -> None:
        self._metrics: dict[tuple[str, str], Metric] = {}
        self._vocoder: tuple[tuple[str, str], Any] | None = None  # ((name, options), model or load error)

    def execute(self, unit: Unit) -> Result:
        """Run ``unit``; failures of an item become error text in the result. BenchError (the run cannot go on,
        e.g. a vocoder that asks to stop) propagates."""
        if isinstance(unit, MetricUnit):
            return self.metric_values(unit)
        if isinstance(unit, RenderUnit):
            return self.render(unit)
        if isinstance(unit, ReferenceUnit):
            return reference(unit)
        raise TypeError(f"not a unit: {type(unit).__name__}")

    # -- metrics ---------------------------------------------------------------------------------------------
    def metric(self, name: str, device: str) -> Metric:
        key = (name, device)
        if key not in self._metrics:
            from bench.metrics.registry import metric_registry

            self._metrics[key] = metric_registry().get(name).factory(device=device)
        return self._metrics[key]

    def metric_values(self, unit: MetricUnit) -> Outcome:
        n = len(unit.vocoders)
        try:
            metric = self.metric(unit.metric, unit.device)
        except BenchError:
            raise
        except Exception as err:
            return Outcome([f"cannot build {unit.metric}: {short_error(err)}"] * n, [0.0] * n, 0.0)
        try:
            ref = read_audio(unit.reference)
        except Exception as err:
            return Outcome([f"cannot read reference: {short_error(err)}"] * n, [0.0] * n, 0.0)
        degraded: list[np.ndarray] = []
        unreadable: dict[int, str] = {}
        for i, path in enumerate(unit.degraded):
            try:
                degraded.append(read_audio(path))
            except Exception as err:
                unreadable[i] = f"cannot read render: {short_error(err)}"
        with compute_threads(METRIC_THREADS):
            out = compute(metric, ref, unit.sample_rate, unit.domain, degraded) if degraded else Outcome([], [], 0.0)
        if not unreadable:
            return out
        values, seconds = list(out.values), list(out.seconds)
        for i in sorted(unreadable):
            values.insert(i, unreadable[i])
            seconds.insert(i, 0.0)
        return Outcome(values, seconds, out.ref_seconds)

    # -- synthesis -------------------------------------------------------------------------------------------
    def vocoder(self, requested: str, options: LoadOptions) -> Any:
        """The loaded vocoder (or the one-line reason it does not load), one at a time: loading another one
        frees the previous model."""
        key = (requested, repr(options))
        if self._vocoder is None or self._vocoder[0] != key:
            self.release()
            self._vocoder = (key, _load(requested, options))
        return self._vocoder[1]

    def release(self) -> None:
        """Drop the loaded vocoder (its memory, and cached GPU blocks)."""
        import gc

        import torch

        self._vocoder = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def render(self, unit: RenderUnit) -> RenderOutput:
        fresh = self._vocoder is None or self._vocoder[0] != (unit.vocoder, repr(unit.options))
        model = self.vocoder(unit.vocoder, unit.options)
        if isinstance(model, str):
            return RenderOutput(unit.name, load_error=model)
        if fresh and unit.items:  # first batch of this model here: untimed warm-up (bench.synthesis.warm_up)
            warm_up(model, unit.items[0])
        clips = synthesise(model, unit.items, batch_size=len(unit.items))
        order = {c.clip_id: c for c in clips}  # synthesise groups by length; give them back in the unit's order
        return RenderOutput(unit.name, tuple(order[r.clip.id] for r in unit.items))


def reference(unit: ReferenceUnit) -> ReferenceResult:
    """Prepare the unit's reference; an unusable clip gives its one-line reason."""
    try:
        x, warnings = prepare_reference(unit.clip, unit.sample_rate, unit.loudness_lufs)
    except (AudioError, OSError, ValueError) as err:  # what makes a clip unusable; anything else is a bug
        return ReferenceResult(unit.clip.id, None, error=str(err).splitlines()[0] if str(err) else type(err).__name__)
    return ReferenceResult(unit.clip.id, x, tuple(warnings))


def _load(requested: str, options: LoadOptions) -> Any:
    """The vocoder ``requested`` (registry name or module:Class) loaded with ``options``, or the one-line reason
    it failed: a plugin's (or a weight file's) error costs that vocoder's clips, not the run. BenchError (already
    one line, e.g. missing weights) still stops the run."""
    from bench.plugins import resolve_vocoder
    from bench.vocoders.registry import vocoder_registry

    entry = resolve_vocoder(vocoder_registry(), requested)
    try:
        return entry.factory(options)
    except BenchError:
        raise
    except Exception as err:
        text = str(err).strip().splitlines()
        return f"cannot load {entry.name}: {type(err).__name__}" + (f": {text[0]}" if text else "")

