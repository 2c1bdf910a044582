"""The units of a run: independent pieces of work that an executor may run anywhere, and their results.

A run is three kinds of units (bench.runner builds them, an :class:`~bench.execution.base.Executor` runs them,
the runner stores each result as it arrives):

- :class:`ReferenceUnit` (clip) -> :class:`ReferenceResult`: the clip's evaluation reference;
- :class:`RenderUnit` (vocoder, batch of references) -> :class:`RenderOutput`: its copy-synthesis outputs;
- :class:`MetricUnit` (clip, metric) -> :class:`~bench.scoring.Outcome`: the metric's value for every vocoder
  of the clip that misses one, the reference-side state prepared once.

Units and results are small picklable values. Audio travels as float32 arrays (references to render, renders
to store) or as paths of files in the run folder (the metric units' inputs); costly objects (a vocoder model,
CDPAM's network) never travel: a :class:`bench.execution.worker.WorkerState` builds them once per worker.
No unit touches the results store: the driver is its only writer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Union

import numpy as np

from bench.references import Reference
from bench.scoring import Outcome
from bench.synthesis import RenderedClip
from bench.vocoders.base import LoadOptions
from bench_datasets.base import Clip


@dataclass(frozen=True)
class ReferenceUnit:
    """Prepare ``clip`` as the evaluation reference at ``sample_rate`` Hz (loudness ``loudness_lufs``, None =
    as is). Needs the clip's source file (``clip.path``) readable where it runs."""

    stage: ClassVar[str] = "references"
    clip: Clip
    sample_rate: int
    loudness_lufs: float | None

    @property
    def device(self) -> str:
        return "cpu"

    @property
    def size(self) -> int:
        """Progress steps this unit stands for."""
        return 1


@dataclass(frozen=True)
class ReferenceResult:
    """The prepared reference [T] float32 at the unit's rate with its warnings, or the one-line reason the
    clip cannot be used (``audio`` None)."""

    clip_id: str
    audio: np.ndarray | None = field(repr=False)
    warnings: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class RenderUnit:
    """Copy-synthesis of a batch of references with one vocoder.

    ``vocoder`` is the name as the user gave it (a registry name or ``module.path:ClassName``, resolved again
    where the unit runs), ``name`` the vocoder's registry name (its renders' name in the store), ``options``
    how to load it (weights path, parameters, device, precision). The worker loads the model once for all
    units of the same (vocoder, options) and warms it up before its first timed batch.
    """

    stage: ClassVar[str] = "synthesis"
    vocoder: str
    name: str
    options: LoadOptions
    items: tuple[Reference, ...] = field(repr=False)

    @property
    def device(self) -> str:
        return self.options.device

    @property
    def size(self) -> int:
        return len(self.items)


@dataclass(frozen=True)
class RenderOutput:
    """One outcome per item of a :class:`RenderUnit` (same order), or ``load_error`` (one line) when the
    vocoder does not load there: then every item fails with it and ``clips`` is empty."""

    name: str
    clips: tuple[RenderedClip, ...] = ()
    load_error: str | None = None


@dataclass(frozen=True)
class MetricUnit:
    """One metric on one clip: the value of each of ``vocoders`` (renders in ``degraded``, same order) against
    the reference in ``reference`` (files in the run folder, float32 at the evaluation rate; the stored
    reference is bit for bit the one prepared), computed on ``device`` by the metric named ``metric``."""

    stage: ClassVar[str] = "metrics"
    clip_id: str
    domain: str
    metric: str
    device: str
    reference: str
    sample_rate: int  # of the reference and the renders (the evaluation rate)
    vocoders: tuple[str, ...]
    degraded: tuple[str, ...]
    #: the value's definition (``Metric.variant(domain)``) as the driver saw it; stored with each value
    variant: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def size(self) -> int:
        return 1


Unit = Union[ReferenceUnit, RenderUnit, MetricUnit]
Result = Union[ReferenceResult, RenderOutput, Outcome]
