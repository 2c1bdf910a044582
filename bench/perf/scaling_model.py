"""Wall-time model of a run from measured per-unit costs: which resource bounds it, on 1..N GPUs.

A run is the units of :mod:`bench.execution` (issue 11): per vocoder, ``ceil(clips / batch)`` render units on
a GPU worker; per (clip, metric), one metric unit that scores every vocoder's render of the clip, on a GPU
worker for GPU metrics (CDPAM) and on a CPU core otherwise (ViSQOL, MR-STFT, MR-mel); audio I/O (references
and renders written, each metric unit reading its clip's reference and renders) spread over the GPU nodes'
workers; and one SQLite writer, the driver, storing every value and render serially.

Assumptions (the model is a floor, not a simulation of Ray):

- the stages overlap (metric units start as renders arrive), so the wall time is the largest of the
  resources' busy times (``pipelined_s``); ``staged_s`` adds them up instead (synthesis, then the metrics,
  then the store), the time of an executor that runs the stages one after another;
- units of one resource are list-scheduled longest first onto its workers, so few large units cannot use
  many workers (50 clips in batches of 8 are 7 render units per vocoder, whatever the GPU count);
- costs scale linearly with audio seconds and do not change with the number of workers (no contention for
  memory bandwidth, network, file system beyond ``io_streams``).

Costs are seconds of one worker per second of audio, measured by ``benchmarks/gpu_check.py`` (its
``costs`` section); figures predicted from costs measured on a CPU say so (``UnitCosts.source``).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class UnitCosts:
    """Measured per-unit costs, each for one worker of its kind.

    synthesis_s_per_audio_s: vocoder -> seconds of one GPU per second of audio synthesised (batched).
    metric_s_per_audio_s: metric -> seconds of one worker per second of degraded audio scored (the reference
        side amortised over the vocoders).
    gpu_metrics: metrics that run on the GPU workers (CDPAM); the others run on CPU cores.
    io_s_per_audio_s: seconds to write or read one second of audio (WAV, 44.1 kHz float).
    store_s_per_value: seconds the driver spends storing one value or render row.
    source: where the costs were measured (device name, command), printed with every prediction.
    """

    synthesis_s_per_audio_s: dict[str, float]
    metric_s_per_audio_s: dict[str, float]
    gpu_metrics: frozenset[str] = frozenset({"cdpam"})
    io_s_per_audio_s: float = 0.0
    store_s_per_value: float = 0.0
    source: str = ""


@dataclass(frozen=True)
class Study:
    """What is computed: ``clips`` clips of ``clip_seconds`` through every vocoder and metric."""

    clips: int
    clip_seconds: float
    vocoders: tuple[str, ...]
    metrics: tuple[str, ...]
    batch_size: int = 8  # clips per render unit on a GPU (bench run's default there)


@dataclass(frozen=True)
class Cluster:
    """``gpus`` GPU workers, ``cpu_cores_per_gpu`` CPU cores beside each for the CPU metrics, and ``io_streams``
    parallel audio readers/writers (default: one per GPU worker)."""

    gpus: int
    cpu_cores_per_gpu: int
    io_streams: int | None = None

    @property
    def cpu_cores(self) -> int:
        return self.gpus * self.cpu_cores_per_gpu


@dataclass(frozen=True)
class Prediction:
    """Predicted wall time and what bounds it.

    busy_s: resource ("gpu", "cpu", "io", "store") -> its makespan in seconds.
    work_s: component ("synthesis:NAME", "metric:NAME", "io", "store") -> total worker-seconds.
    bound: the resource with the largest makespan and, for gpu/cpu, its largest component, e.g. "cpu (visqol)".
    """

    pipelined_s: float
    staged_s: float
    busy_s: dict[str, float]
    work_s: dict[str, float]
    bound: str
    units: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def makespan(unit_seconds: Sequence[float], workers: int) -> float:
    """Finish time of ``unit_seconds`` list-scheduled longest first onto ``workers`` identical workers."""
    if workers < 1:
        raise ValueError("workers must be >= 1")
    if not unit_seconds:
        return 0.0
    if workers >= len(unit_seconds):
        return max(unit_seconds)
    loads = [0.0] * workers
    for s in sorted(unit_seconds, reverse=True):
        heapq.heappush(loads, heapq.heappop(loads) + s)
    return max(loads)


def _units(study: Study, costs: UnitCosts) -> dict[str, list[tuple[str, float]]]:
    """Resource -> [(component, seconds of one unit)]."""
    sec, n_voc = study.clip_seconds, len(study.vocoders)
    out: dict[str, list[tuple[str, float]]] = {"gpu": [], "cpu": []}
    for v in study.vocoders:
        per = costs.synthesis_s_per_audio_s[v]
        full, rest = divmod(study.clips, study.batch_size)
        out["gpu"] += [(f"synthesis:{v}", per * study.batch_size * sec)] * full
        if rest:
            out["gpu"].append((f"synthesis:{v}", per * rest * sec))
    for m in study.metrics:
        kind = "gpu" if m in costs.gpu_metrics else "cpu"
        out[kind] += [(f"metric:{m}", costs.metric_s_per_audio_s[m] * sec * n_voc)] * study.clips
    return out


def predict(study: Study, costs: UnitCosts, cluster: Cluster) -> Prediction:
    """Wall time of ``study`` on ``cluster`` with ``costs`` (see the module docstring for the assumptions)."""
    if cluster.gpus < 1 or cluster.cpu_cores_per_gpu < 1:
        raise ValueError("a cluster needs >= 1 GPU and >= 1 CPU core per GPU")
    missing = [v for v in study.vocoders if v not in costs.synthesis_s_per_audio_s] + \
              [m for m in study.metrics if m not in costs.metric_s_per_audio_s]
    if missing:
        raise ValueError(f"no measured cost for {', '.join(missing)}")
    units = _units(study, costs)
    n_voc, n_met = len(study.vocoders), len(study.metrics)
    work: dict[str, float] = {}
    for kind in ("gpu", "cpu"):
        for name, s in units[kind]:
            work[name] = work.get(name, 0.0) + s
    # per clip: reference written once, each render written once, each metric unit reads reference + renders
    audio_moved = study.clips * study.clip_seconds * (1 + n_voc + n_met * (1 + n_voc))
    work["io"] = costs.io_s_per_audio_s * audio_moved
    rows = study.clips * n_voc * (n_met + 1)  # one row per value and one per render
    work["store"] = costs.store_s_per_value * rows
    streams = cluster.io_streams or cluster.gpus
    busy = {
        "gpu": makespan([s for _, s in units["gpu"]], cluster.gpus),
        "cpu": makespan([s for _, s in units["cpu"]], cluster.cpu_cores),
        "io": work["io"] / streams,
        "store": work["store"],  # one writer
    }
    synth = makespan([s for n, s in units["gpu"] if n.startswith("synthesis:")], cluster.gpus)
    gpu_metrics = makespan([s for n, s in units["gpu"] if n.startswith("metric:")], cluster.gpus)
    staged = synth + max(gpu_metrics, busy["cpu"]) + busy["io"] + busy["store"]
    resource = max(busy, key=lambda k: busy[k])
    bound = resource
    if resource in ("gpu", "cpu"):
        parts = {n: s for n, s in work.items() if any(n == u for u, _ in units[resource])}
        if parts:
            bound += f" ({max(parts, key=lambda k: parts[k]).split(':', 1)[1]})"
    counts = {"render_units": sum(math.ceil(study.clips / study.batch_size) for _ in study.vocoders),
              "metric_units": study.clips * n_met, "values": study.clips * n_voc * n_met}
    return Prediction(pipelined_s=max(busy.values()), staged_s=staged, busy_s=busy, work_s=work, bound=bound,
                      units=counts)


def costs_from_run(run_dir: str | Path, *, gpu_metrics: frozenset[str] = frozenset({"cdpam"}),
                   io_s_per_audio_s: float = 0.0, store_s_per_value: float = 0.0) -> UnitCosts:
    """Per-unit costs from a finished run's store: each render's and each value's recorded compute seconds over
    the audio seconds it covers (render length at the evaluation rate).

    Synthesis and metric seconds are what the run measured on its device and with its threads (see the run's
    environment, named in ``source``); audio I/O and the store's write time are not recorded per item, so they
    are passed in (``benchmarks/gpu_check.py`` measures them).
    """
    from bench.results.store import ResultsStore

    with ResultsStore.open_readonly(run_dir) as store:
        renders, scores = store.renders(), store.scores()
        env = store.get_meta("environment") or {}
    audio = {(r["vocoder"], r["clip_id"]): r["n_samples"] / r["sample_rate"] for r in renders}
    synth: dict[str, list[float]] = {}
    for r in renders:
        if r["seconds"] is not None:
            t = synth.setdefault(r["vocoder"], [0.0, 0.0])
            t[0] += r["seconds"]
            t[1] += audio[(r["vocoder"], r["clip_id"])]
    metric: dict[str, list[float]] = {}
    for s in scores:
        key = (s["vocoder"], s["clip_id"])
        if s["seconds"] is not None and key in audio:
            t = metric.setdefault(s["metric"], [0.0, 0.0])
            t[0] += s["seconds"]
            t[1] += audio[key]
    return UnitCosts(synthesis_s_per_audio_s={k: sec / a for k, (sec, a) in synth.items() if a > 0},
                     metric_s_per_audio_s={k: sec / a for k, (sec, a) in metric.items() if a > 0},
                     gpu_metrics=gpu_metrics, io_s_per_audio_s=io_s_per_audio_s,
                     store_s_per_value=store_s_per_value,
                     source=f"run {run_dir} on {env.get('device_name', '?')} ({env.get('device', '?')}, "
                            f"{env.get('torch_threads', '?')} torch threads)")


#: The issue's two sizes: the paper's table and a serious study.
PAPER = dict(clips=50, clip_seconds=10.0)
STUDY_5000 = dict(clips=5000, clip_seconds=10.0)


def scenarios(costs: UnitCosts, vocoders: Sequence[str], metrics: Sequence[str], *, gpus: Sequence[int] = (1, 8, 64),
              cpu_cores_per_gpu: int = 8, batch_size: int = 8) -> list[dict[str, Any]]:
    """Predictions for the paper-size table and the 5,000-clip study on each GPU count."""
    out = []
    for label, size in (("paper table (50 x 10 s)", PAPER), ("5,000-clip study (10 s)", STUDY_5000)):
        study = Study(vocoders=tuple(vocoders), metrics=tuple(metrics), batch_size=batch_size, **size)
        for g in gpus:
            p = predict(study, costs, Cluster(gpus=g, cpu_cores_per_gpu=cpu_cores_per_gpu))
            out.append({"study": label, "gpus": g, "cpu_cores": g * cpu_cores_per_gpu, **p.as_dict()})
    return out


def format_table(rows: Sequence[dict[str, Any]], source: str) -> str:
    """Markdown table of :func:`scenarios`' rows, headed by where the costs come from."""
    lines = [f"Predicted wall time (costs: {source})", "",
             "| study | GPUs | CPU cores | pipelined | staged | bound by | GPU busy | CPU busy | I/O | store |",
             "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|"]
    for r in rows:
        b = r["busy_s"]
        lines.append(f"| {r['study']} | {r['gpus']} | {r['cpu_cores']} | {_hms(r['pipelined_s'])} | "
                     f"{_hms(r['staged_s'])} | {r['bound']} | {_hms(b['gpu'])} | {_hms(b['cpu'])} | "
                     f"{_hms(b['io'])} | {_hms(b['store'])} |")
    return "\n".join(lines)


def _hms(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
