"""`bench run`: dataset -> references -> copy-synthesis per vocoder -> metrics -> results store.

Each stage skips what the store already holds, so a rerun of the same command (for example after the
process was killed) computes only what is missing.
"""

from __future__ import annotations

import gc
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from bench.environment import code_provenance, environment, resolve_device
from bench.errors import AudioError, BenchError, MissingWeightsError
from bench.metrics.base import Metric
from bench.metrics.registry import metric_registry
from bench.params import validate_params
from bench.plugins import resolve_vocoder
from bench.prerendered import FolderReport, import_folder, parse_renders
from bench.references import Reference, load_or_prepare
from bench.results.lock import RunLock
from bench.results.store import ResultsStore
from bench.scoring import ScoreStats, score_all
from bench.synthesis import RenderResult, is_current, render, render_spec
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
    jobs: int | None = None  # worker processes for process-safe metrics; None = 1 when >= 2 cores, else 0
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


def _load(entry: VocoderEntry, opts: LoadOptions) -> Any:
    """``entry.factory(opts)``, or the one-line reason it failed: a plugin's (or a weight file's) error costs
    that vocoder's clips, not the run. BenchError (already one line, e.g. missing weights) still stops the run."""
    try:
        return entry.factory(opts)
    except BenchError:
        raise
    except Exception as err:
        text = str(err).strip().splitlines()
        return f"cannot load {entry.name}: {type(err).__name__}" + (f": {text[0]}" if text else "")


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
    requested = list(names)
    entries = [resolve_vocoder(vreg, n) for n in requested]
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

    # one writer per run folder: a second `bench run` on it stops here, saying who holds it
    with RunLock(cfg.out), ResultsStore.create(cfg.out, provenance=code_provenance()) as store:
        _check_compatible(store, cfg)
        old = store.config()
        record = cfg.record()
        record["vocoders"] = list(dict.fromkeys([*names, *folders, *(old.get("vocoders") or [])]))
        # where each plugin vocoder and metric of this command came from
        plugins = {e.name: f"class {n}" if ":" in n else vreg.origin(e.name)
                   for e, n in zip(entries, requested) if ":" in n or e.name in vreg.origins}
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
        timings: dict[str, float] = {}

        # 1. references
        t0 = time.perf_counter()
        refs: list[Reference] = []
        failed: list[tuple[str, str]] = []
        store.set_meta("skipped", [{"path": k.path, "reason": k.reason} for k in dataset.skipped()])  # this run's
        for skip in dataset.skipped():  # files that could not become clips: listed with the failures
            store.put_failure("reference", skip.reason, clip_id=skip.path)
            failed.append((skip.path, skip.reason))
        for clip in tqdm(clips, desc="references", unit="clip", disable=not cfg.progress):
            try:
                refs.append(load_or_prepare(store, clip, cfg.dataset, cfg.eval_sample_rate, cfg.loudness_lufs))
                for w in refs[-1].warnings:
                    tqdm.write(f"warning: clip {clip.id}: {w}", file=sys.stderr)
            except (AudioError, OSError, ValueError) as err:
                msg = str(err).splitlines()[0] if str(err) else type(err).__name__
                store.put_clip(clip.id, dataset=cfg.dataset, domain=clip.domain, path=clip.path, offset=clip.offset,
                               duration=clip.duration, sha256="", meta=clip.meta, status="error", error=msg,
                               source_sha256=clip.sha256)
                store.put_failure("reference", msg, clip_id=clip.id)
                failed.append((clip.id, msg))
        timings["load"] = time.perf_counter() - t0

        # 2. synthesis, one vocoder loaded at a time
        rendered: dict[str, int] = {}
        render_failures: list[tuple[str, str, str]] = []
        for e in entries:
            t0 = time.perf_counter()
            opts = options[e.name]
            hashes = store.get_meta("weights_sha256", {})  # path -> size, mtime_ns, sha256: each file read once
            spec = render_spec(e, opts, hashes)
            store.set_meta("weights_sha256", hashes)
            pending = [r for r in refs if not is_current(store, e.name, r.clip.id, spec.key)]
            results = []
            vocoder = None
            with tqdm(total=len(refs), initial=len(refs) - len(pending), desc=f"synth {e.name}", unit="clip",
                      disable=not cfg.progress) as bar:
                if pending:
                    vocoder = _load(e, opts)
                if isinstance(vocoder, str):  # it does not load: each of its clips fails with the reason
                    results = []
                    for r in pending:
                        store.put_failure("synthesis", vocoder, vocoder=e.name, clip_id=r.clip.id)
                        results.append(RenderResult(r.clip.id, False, vocoder))
                    bar.update(len(pending))
                elif pending:
                    results = render(store, spec, vocoder, pending, batch_size=batch_size, progress=bar.update)
            rendered[e.name] = sum(r.ok for r in results)
            render_failures += [(e.name, r.clip_id, r.error or "") for r in results if not r.ok]
            timings[f"synthesis:{e.name}"] = time.perf_counter() - t0
            del vocoder
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()

        # 2b. pre-rendered systems: read, checked and aligned like a vocoder's output
        reports = []
        for fname, folder in folders.items():
            rep = import_folder(store, fname, folder, refs, dataset.describe().get("path"))
            store.set_meta("renders_folders", {**store.get_meta("renders_folders", {}), fname: rep.as_dict()})
            rendered[fname] = rep.stored + rep.reused
            reports.append(rep)
        names = [*names, *folders]

        # 3. metrics, reference-side work once per clip
        metrics: dict[str, Metric] = {}
        for me in metric_entries:
            try:
                metrics[me.name] = me.factory(device=device if me.gpu_capable else "cpu")
            except BenchError:
                raise
            except Exception as err:  # a plugin metric that does not build costs its values only
                text = str(err).strip().splitlines()
                store.put_failure("metric", f"cannot build {me.name}: {type(err).__name__}"
                                  + (f": {text[0]}" if text else ""), metric=me.name)
        pooled = [me.name for me in metric_entries if me.process_safe and me.name in metrics]
        workers = cfg.jobs if cfg.jobs is not None else (1 if (os.cpu_count() or 1) >= 2 and pooled else 0)
        metric_timings: dict[str, float] = {}
        # One unit per (clip, metric), so a long clip shows progress metric by metric.
        with tqdm(total=len(refs) * len(metrics), desc="metrics", unit="clip×metric",
                  disable=not cfg.progress) as bar:
            stats = score_all(store, refs, names, metrics, pooled=pooled, workers=workers, progress=bar.update,
                              status=bar.set_postfix_str, timings=metric_timings)
        timings.update({f"metric:{k}": v for k, v in metric_timings.items()})
        store.set_meta("last_timings", timings)
        return RunSummary(cfg.out, len(refs), failed, rendered, render_failures, stats, timings, reports)
