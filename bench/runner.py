"""`bench run`: dataset -> references -> copy-synthesis per vocoder -> metrics -> results store.

Each stage skips what the store already holds, so a rerun of the same command (for example after the
process was killed) computes only what is missing.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bench.environment import code_provenance, environment, resolve_device
from bench.errors import BenchError, MissingWeightsError
from bench.execution import make_executor
from bench.execution.base import Done, Executor
from bench.execution.units import ReferenceUnit, RenderUnit
from bench.metrics.base import Metric
from bench.metrics.registry import metric_registry
from bench.params import validate_params
from bench.plugins import resolve_vocoder
from bench.prerendered import FolderReport, import_folder, parse_renders
from bench.references import Reference, forget_reference, store_reference, stored_reference
from bench.results.lock import RunLock
from bench.results.store import ResultsStore
from bench.scoring import MetricStage, ScoreStats
from bench.synthesis import RenderResult, RenderSpec, batches, is_current, render_spec, store_rendered
from bench.vocoders.base import LoadOptions
from bench.vocoders.registry import VocoderEntry, vocoder_registry
from bench.vocoders.weights import missing_message, resolve
from bench_datasets.base import Clip, check_unique_ids
from bench_datasets.registry import dataset_registry

EVAL_SR = 44100
DEFAULT_METRICS = ("mrstft", "mrmel", "cdpam", "visqol")


@dataclass
class RunConfig:
    """Everything that defines a run (stored in the run's database)."""

    out: Path
    dataset: str = "demo"
    dataset_options: dict[str, Any] = field(default_factory=dict)
    vocoders: list[str] | None = None  # None = every registered vocoder that is ready
    metrics: list[str] = field(default_factory=lambda: list(DEFAULT_METRICS))
    limit: int | None = None  # clips per domain
    domain: str | None = None  # only this domain
    device: str = "auto"
    precision: str = "fp32"
    batch_size: int | None = None  # clips per synthesis batch; None = 8 on GPU, 1 on CPU
    jobs: int | None = None  # local worker processes for CPU units; None = one per core, 0 = all in-process
    executor: str = "local"  # "local" or "ray" (bench.execution)
    loudness_lufs: float | None = -24.0
    eval_sample_rate: int = EVAL_SR
    weights: dict[str, str] = field(default_factory=dict)
    models_dir: str | None = None
    vocoder_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    progress: bool = True
    #: pre-rendered systems: name -> folder of their outputs (bench.prerendered)
    renders: dict[str, str] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        d = asdict(self)
        d["out"] = str(self.out)
        d.pop("progress")
        d.pop("jobs")  # how values are computed, not what they are
        d.pop("executor")
        d.pop("batch_size")  # batching never changes an item's output
        return d


@dataclass
class RunSummary:
    run_dir: Path
    clips_ok: int
    clips_failed: list[tuple[str, str]]
    rendered: dict[str, int]
    render_failures: list[tuple[str, str, str]]
    scores: ScoreStats
    timings: dict[str, float]
    renders_reports: list[FolderReport] = field(default_factory=list)
    #: units run per stage ("references", "synthesis", "metrics") and where ("main", "worker-1", ...)
    units: dict[str, dict[str, int]] = field(default_factory=dict)
    executor: str = ""  # the executor, in words ("local, 2 worker processes")

    def placement_lines(self) -> list[str]:
        """One line per stage that ran units, e.g. "metrics: 64 units: main 16, worker-1 24, worker-2 24"."""
        out = []
        for stage, where in self.units.items():
            if where:
                parts = ", ".join(f"{w} {n}" for w, n in sorted(where.items(), key=_where_order))
                out.append(f"{stage}: {sum(where.values())} units: {parts}")
        return out


def _where_order(item: tuple[str, int]) -> tuple[int, str, int]:
    """main first, then worker-1, worker-2, ..., worker-10 in numeric order."""
    name = item[0]
    head, _, num = name.rpartition("-")
    return (name != "main", head if num.isdigit() else name, int(num) if num.isdigit() else 0)


def ready_vocoders(models_dir: Path | None = None, weights: dict[str, str] | None = None) -> list[str]:
    """Registered vocoders whose weights are found (vocoders without weights are always ready)."""
    out = []
    for e in vocoder_registry():
        if e.weights is None or resolve(e.name, e.weights, override=(weights or {}).get(e.name),
                                        models_dir=models_dir).ready:
            out.append(e.name)
    return out


def select_clips(clips: Sequence[Clip], limit: int | None, domain: str | None) -> list[Clip]:
    """The first ``limit`` clips of each domain in dataset order (optionally one domain only)."""
    counts: dict[str, int] = {}
    out = []
    for c in clips:
        if domain and c.domain != domain:
            continue
        if limit is not None and counts.get(c.domain, 0) >= limit:
            continue
        counts[c.domain] = counts.get(c.domain, 0) + 1
        out.append(c)
    return out


def load_options(entry: VocoderEntry, cfg: RunConfig, device: str) -> LoadOptions:
    """Resolve weights (raising MissingWeightsError in one line) and parameters of one vocoder."""
    weights_path = None
    if entry.weights is not None:
        models_dir = Path(cfg.models_dir) if cfg.models_dir else None
        res = resolve(entry.name, entry.weights, override=cfg.weights.get(entry.name), models_dir=models_dir,
                      download=True)
        if not res.ready:
            raise MissingWeightsError(missing_message(entry.name, entry.weights, res))
        weights_path = str(res.path)
    # checked here too (the CLI checks before creating --out): RunConfig also comes from Python code
    given = validate_params(entry.name, entry.params, cfg.vocoder_params.get(entry.name, {}))
    params = {**entry.default_params, **given}
    dev = device if entry.gpu_capable else "cpu"
    # --precision only reaches vocoders whose output depends on it; the others run as they always do
    precision = cfg.precision if entry.uses_precision else "fp32"
    return LoadOptions(device=dev, precision=precision, weights_path=weights_path, params=params)


def _check_compatible(store: ResultsStore, cfg: RunConfig) -> None:
    """A run directory holds one dataset/reference definition; vocoders and metrics may be added to it."""
    old = store.config()
    if not old:
        return
    keys = ("dataset", "dataset_options", "loudness_lufs", "eval_sample_rate")
    diff = [k for k in keys if old.get(k) != cfg.record().get(k)]
    if diff:
        raise BenchError(f"{cfg.out} holds a run with different {', '.join(diff)} "
                         f"({', '.join(f'{k}={old.get(k)!r}' for k in diff)}); use another --out")


def run(cfg: RunConfig) -> RunSummary:
    """Execute (or resume) a run. Raises BenchError for bad names/missing weights before any work."""
    device = resolve_device(cfg.device)
    vreg, mreg = vocoder_registry(), metric_registry()
    models_dir = Path(cfg.models_dir) if cfg.models_dir else None
    names = cfg.vocoders if cfg.vocoders is not None else ready_vocoders(models_dir, cfg.weights)
    # a name may be module.path:ClassName (a Vocoder subclass on the Python path, bench.plugins)
    requested_names = list(names)
    entries = [resolve_vocoder(vreg, n) for n in requested_names]
    names = [e.name for e in entries]
    folders = parse_renders(cfg.renders, [*vreg.names(), *names])
    # On CPU, batching measured slower per clip (benchmarks/vocoder_speed.py): convolutions are compute-bound.
    batch_size = cfg.batch_size or (8 if device.startswith("cuda") else 1)
    # Fail fast, in one line, before any audio is touched.
    options = {e.name: load_options(e, cfg, device) for e in entries}
    metric_entries = [mreg.get(m) for m in cfg.metrics]
    dentry = dataset_registry().get(cfg.dataset)
    dataset = dentry.factory(**cfg.dataset_options)
    all_clips = dataset.clips()
    check_unique_ids([c.id for c in all_clips], [c.path for c in all_clips])  # one id = one file, before any work
    clips = select_clips(all_clips, cfg.limit, cfg.domain)
    if not clips:
        raise BenchError(f"dataset {cfg.dataset!r} gave no clips" + (f" for domain {cfg.domain}" if cfg.domain else ""))
    executor = make_executor(cfg.executor, cfg.jobs)  # workers start on first use, inside the run's lock

    # one writer per run folder: a second `bench run` on it stops here, saying who holds it
    with RunLock(cfg.out), ResultsStore.create(cfg.out, provenance=code_provenance()) as store:
        _check_compatible(store, cfg)
        old = store.config()
        record = cfg.record()
        record["vocoders"] = list(dict.fromkeys([*names, *folders, *(old.get("vocoders") or [])]))
        # where each plugin vocoder and metric of this command came from
        plugins = {e.name: f"class {n}" if ":" in n else vreg.origin(e.name)
                   for e, n in zip(entries, requested_names) if ":" in n or e.name in vreg.origins}
        plugins.update({m: mreg.origins[m] for m in cfg.metrics if m in mreg.origins})
        record["plugins"] = {**(old.get("plugins") or {}), **plugins}
        record["renders"] = {**(old.get("renders") or {}), **{n: str(p) for n, p in folders.items()}}
        record["metrics"] = list(dict.fromkeys([*(old.get("metrics") or []), *cfg.metrics]))
        # what this command set; each render and value keeps its own provenance (store.provenance())
        record["vocoder_params"] = {**(old.get("vocoder_params") or {}),
                                    **{n: options[n].params for n in names}}
        record["dataset_description"] = dataset.describe()
        store.set_meta("config", record)
        store.set_meta("environment", environment(device))
        # the clips of this command, in dataset order: tables cover exactly these (older clips stay stored)
        store.set_meta("selection", [c.id for c in clips])

        # dataset -> references -> renders -> metrics -> store; the executor runs the units, this process stores
        # every result as it arrives (the store's only writer), so a killed run keeps what it had.
        timings: dict[str, float] = {}
        units: dict[str, Counter[str]] = {"references": Counter(), "synthesis": Counter(), "metrics": Counter()}
        with executor:
            t0 = time.perf_counter()
            refs, failed = _references(store, dataset, clips, cfg, executor, units["references"])
            timings["load"] = time.perf_counter() - t0

            rendered: dict[str, int] = {}
            render_failures: list[tuple[str, str, str]] = []
            for e, requested in zip(entries, requested_names):
                t0 = time.perf_counter()
                results = _synthesis(store, e, requested, options[e.name], refs, batch_size, cfg.progress, executor,
                                     units["synthesis"])
                rendered[e.name] = sum(r.ok for r in results)
                render_failures += [(e.name, r.clip_id, r.error or "") for r in results if not r.ok]
                timings[f"synthesis:{e.name}"] = time.perf_counter() - t0

            # pre-rendered systems: read, checked and aligned like a vocoder's output
            reports = []
            for fname, folder in folders.items():
                rep = import_folder(store, fname, folder, refs, dataset.describe().get("path"))
                store.set_meta("renders_folders", {**store.get_meta("renders_folders", {}), fname: rep.as_dict()})
                rendered[fname] = rep.stored + rep.reused
                reports.append(rep)
            names = [*names, *folders]

            metrics = _build_metrics(store, metric_entries, device)
            stage = MetricStage(store, names, metrics)
            _metrics(stage, refs, cfg.progress, executor, units["metrics"])
        timings.update({f"metric:{k}": v for k, v in stage.timings.items()})
        store.set_meta("last_timings", timings)
        return RunSummary(cfg.out, len(refs), failed, rendered, render_failures, stage.stats, timings, reports,
                          units={k: dict(v) for k, v in units.items()}, executor=executor.describe())


def _references(store: ResultsStore, dataset: Any, clips: Sequence[Clip], cfg: RunConfig, executor: Executor,
                where: Counter[str]) -> tuple[list[Reference], list[tuple[str, str]]]:
    """Each clip's reference (stored ones reused, the others prepared as units), in dataset order, and the
    (clip or file, reason) of those that cannot be used."""
    failed: list[tuple[str, str]] = []
    store.set_meta("skipped", [{"path": k.path, "reason": k.reason} for k in dataset.skipped()])  # this run's
    for skip in dataset.skipped():  # files that could not become clips: listed with the failures
        store.put_failure("reference", skip.reason, clip_id=skip.path)
        failed.append((skip.path, skip.reason))
    ready: dict[str, Reference] = {}
    todo = []
    for clip in clips:
        ref = stored_reference(store, clip, cfg.eval_sample_rate)
        if ref is not None:
            ready[clip.id] = ref
        else:
            todo.append(ReferenceUnit(clip, cfg.eval_sample_rate, cfg.loudness_lufs))
    errors: dict[str, str] = {}
    with tqdm(total=len(clips), initial=len(ready), desc="references", unit="clip", disable=not cfg.progress) as bar:
        for done in executor.run(todo):
            clip = done.unit.clip
            res = done.result
            if done.error or res.audio is None:
                msg = done.error or res.error or "unusable"
                forget_reference(store, clip)  # nothing computed from an older reference of it outlives it
                store.put_clip(clip.id, dataset=cfg.dataset, domain=clip.domain, path=clip.path, offset=clip.offset,
                               duration=clip.duration, sha256="", meta=clip.meta, status="error", error=msg,
                               source_sha256=clip.sha256)
                store.put_failure("reference", msg, clip_id=clip.id)
                errors[clip.id] = msg
            else:
                ready[clip.id] = store_reference(store, clip, cfg.dataset, cfg.eval_sample_rate, res.audio, res.warnings)
            where[done.where] += 1
            bar.update(1)
    refs = [ready[c.id] for c in clips if c.id in ready]
    for ref in refs:
        for w in ref.warnings:
            tqdm.write(f"warning: clip {ref.clip.id}: {w}", file=sys.stderr)
    return refs, failed + [(c.id, errors[c.id]) for c in clips if c.id in errors]


def _synthesis(store: ResultsStore, entry: VocoderEntry, requested: str, opts: LoadOptions, refs: Sequence[Reference],
               batch_size: int, progress: bool, executor: Executor, where: Counter[str]) -> list[RenderResult]:
    """Render the references that miss a current render of ``entry``, one unit per batch."""
    hashes = store.get_meta("weights_sha256", {})  # path -> size, mtime_ns, sha256: each file read once
    spec = render_spec(entry, opts, hashes)
    store.set_meta("weights_sha256", hashes)
    pending = [r for r in refs if not is_current(store, entry.name, r.clip.id, spec.key)]
    todo = [RenderUnit(requested, entry.name, opts, tuple(b)) for b in batches(pending, batch_size)]
    results: list[RenderResult] = []
    with tqdm(total=len(refs), initial=len(refs) - len(pending), desc=f"synth {entry.name}", unit="clip",
              disable=not progress) as bar:
        for done in executor.run(todo):
            results += _store_renders(store, spec, done)
            where[done.where] += 1
            bar.update(done.unit.size)
    executor.release()  # one vocoder loaded at a time
    return results


def _store_renders(store: ResultsStore, spec: RenderSpec, done: Done) -> list[RenderResult]:
    """Store a finished render unit: each clip's file and row, or its failure."""
    reason = done.error or (done.result.load_error if done.result is not None else None)
    if reason:  # the vocoder did not load there, or the worker was lost: each of the unit's clips fails
        for r in done.unit.items:
            store.put_failure("synthesis", reason, vocoder=spec.name, clip_id=r.clip.id)
        return [RenderResult(r.clip.id, False, reason) for r in done.unit.items]
    return [store_rendered(store, spec, out) for out in done.result.clips]


def _build_metrics(store: ResultsStore, entries: Sequence[Any], device: str) -> dict[str, Metric]:
    """The driver's metric instances (they define each value's variant); one that does not build costs its values."""
    metrics: dict[str, Metric] = {}
    for me in entries:
        try:
            metrics[me.name] = me.factory(device=device if me.gpu_capable else "cpu")
        except BenchError:
            raise
        except Exception as err:  # a plugin metric that does not build costs its values only
            text = str(err).strip().splitlines()
            store.put_failure("metric", f"cannot build {me.name}: {type(err).__name__}"
                              + (f": {text[0]}" if text else ""), metric=me.name)
    return metrics


def _metrics(stage: MetricStage, refs: Sequence[Reference], progress: bool, executor: Executor,
             where: Counter[str]) -> None:
    """Compute and store every missing value; progress counts (clip, metric) units, done or already stored."""
    with tqdm(total=len(refs) * len(stage.metrics), desc="metrics", unit="clip×metric", disable=not progress) as bar:
        def units() -> Iterator[Any]:  # pulled by the executor as it has room: the store is read lazily
            for ref in refs:
                missing = stage.units(ref)
                bar.update(len(stage.metrics) - len(missing))  # nothing missing for these metrics
                yield from missing

        for done in executor.run(units()):
            if done.error:
                stage.lost(done.unit, done.error)
            else:
                stage.put(done.unit, done.result)
            where[done.where] += 1
            bar.update(1)
            bar.set_postfix_str(f"{done.unit.metric} on {done.unit.clip_id} ({done.where})")
