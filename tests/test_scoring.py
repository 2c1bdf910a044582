"""Scoring stage: reference work once per clip, per-item failure isolation, nothing stored twice."""

import numpy as np
import soundfile as sf

from bench.audio import save_audio
from bench.errors import AudioError
from bench.metrics.base import Metric
from bench.references import Reference
from bench.results.store import ResultsStore
from bench.metrics.registry import metric_registry
from bench.scoring import MetricStage, compute
from bench_datasets.base import Clip


class Counting(Metric):
    name = "counting"
    direction = "lower"

    def __init__(self):
        super().__init__("cpu")
        self.prepared = 0

    def sample_rate(self, domain):
        return 44100

    def variant(self, domain):
        return self.common_variant(domain)

    def prepare(self, ref, sr, domain):
        self.prepared += 1
        return ref

    def score(self, state, deg, sr, domain):
        if np.max(np.abs(deg)) > 0.9:
            raise AudioError("too loud")
        return float(np.mean(np.abs(state - deg)))


def _put_renders(store, clip_id, outs):
    for v, y in outs.items():
        save_audio(store.audio_path(v, clip_id), y, 44100)
        store.put_render(v, clip_id, sample_rate=44100, n_samples=y.size, sha256="", native_sample_rate=44100,
                         length_diff=0, rtf=None, seconds=None, device="cpu", precision="fp32", batch_size=1,
                         config_hash="k")


def _score(stage, ref, metric):
    """What an executor does with the stage's units, in this process: compute each, store its outcome."""
    for unit in stage.units(ref):
        degraded = [sf.read(p, dtype="float32")[0] for p in unit.degraded]
        stage.put(unit, compute(metric, ref.audio, ref.sample_rate, ref.clip.domain, degraded))


def test_reference_prepared_once_and_failures_isolated(tmp_path, music):
    store = ResultsStore.create(tmp_path / "run")
    x = music(0.5)
    store.put_clip("c", dataset="d", domain="music", path="", offset=0, duration=0.5, sha256="")
    _put_renders(store, "c", {"a": x * 0.5, "b": x * 2.0, "c": x})
    m = Counting()
    ref = Reference(Clip("c", "music", ""), x, 44100)
    stage = MetricStage(store, ["a", "b", "c", "missing"], {"counting": m})
    units = stage.units(ref)
    assert [(u.metric, u.vocoders) for u in units] == [("counting", ("a", "b", "c"))]  # one unit per (clip, metric)
    _score(stage, ref, m)
    stats = stage.stats
    assert m.prepared == 1
    assert (stats.computed, stats.failed) == (2, 1)
    fail = store.failures()[0]
    assert fail["vocoder"] == "b" and "too loud" in fail["error"]
    again = MetricStage(store, ["a", "b", "c"], {"counting": m})
    _score(again, ref, m)
    assert (again.stats.computed, again.stats.skipped, again.stats.failed) == (0, 2, 1)
    assert len(store.scores()) == 2


def test_unreadable_render_fails_only_its_values(tmp_path, music):
    """A render file that cannot be read costs its own values; the metric still scores the others."""
    from bench.execution.worker import METRIC_THREADS, WorkerState, compute_threads

    store = ResultsStore.create(tmp_path / "run")
    x = music(1.0)
    store.put_clip("c", dataset="d", domain="music", path="", offset=0, duration=1.0, sha256="")
    save_audio(store.audio_path("reference", "c"), x, 44100)
    _put_renders(store, "c", {"a": x * 0.5, "b": x * 0.25})
    store.audio_path("a", "c").write_bytes(b"RIFF broken")
    metric = metric_registry().get("mrstft").factory(device="cpu")
    stage = MetricStage(store, ["a", "b"], {"mrstft": metric})
    (unit,) = stage.units(Reference(Clip("c", "music", ""), x, 44100))
    out = WorkerState().execute(unit)
    assert isinstance(out.values[0], str) and out.values[0].startswith("cannot read render")
    with compute_threads(METRIC_THREADS):
        assert out.values[1] == metric(x, x * 0.25, 44100, "music")
    stage.put(unit, out)
    assert (stage.stats.computed, stage.stats.failed) == (1, 1)
