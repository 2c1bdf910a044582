"""Metrics defined for some domains only (PESQ, the CARGAN pitch metrics, MCD: speech): elsewhere nothing is
computed, nothing fails, and the tables show no column for them there (no cell marked incomplete)."""

from __future__ import annotations

import numpy as np
import pytest

from bench.audio import save_audio
from bench.errors import NotApplicableError
from bench.metrics.registry import metric_registry
from bench.references import Reference
from bench.results.selection import coverage
from bench.results.store import ResultsStore
from bench.results.tables import build_tables, to_markdown
from bench.scoring import MetricStage, compute
from bench_datasets.base import Clip
from testsignals import speech_like

SPEECH_ONLY = ("pesq", "periodicity", "vuv_f1", "mcd")


def test_entries_and_metrics_agree_on_domains() -> None:
    reg = metric_registry()
    for e in reg:
        # the entry states what the metric enforces (instances are cheap: models load on first use)
        assert e.factory(device="cpu").domains == e.domains, e.name
    for name in SPEECH_ONLY:
        if name in reg:
            e = reg.get(name)
            assert e.domains == ("speech",) and e.applies_to("speech") and not e.applies_to("music")
    assert reg.get("mrstft").domains is None and reg.get("mrstft").applies_to("music")


def test_speech_metric_refuses_music_in_one_line() -> None:
    m = metric_registry().get("mcd").factory()
    x = speech_like(1.0, 16000)
    for call in (lambda: m.variant("music"), lambda: m.sample_rate("music"), lambda: m(x, x, 16000, "music")):
        with pytest.raises(NotApplicableError, match="defined for speech only, not for 'music'"):
            call()


def _store_with_two_domains(tmp_path, music) -> tuple[ResultsStore, list[Reference]]:
    store = ResultsStore.create(tmp_path / "run")
    sr = 44100
    clips = {"m1": ("music", music(1.0)), "s1": ("speech", speech_like(1.0, sr, seed=1))}
    refs = []
    rng = np.random.default_rng(0)
    for cid, (domain, x) in clips.items():
        store.put_clip(cid, dataset="d", domain=domain, path="", offset=0, duration=1.0, sha256="")
        for v, y in (("a", x + 0.01 * rng.standard_normal(x.size)), ("b", x + 0.1 * rng.standard_normal(x.size))):
            y = y.astype(np.float32)
            save_audio(store.audio_path(v, cid), y, sr)
            store.put_render(v, cid, sample_rate=sr, n_samples=y.size, sha256="", native_sample_rate=sr,
                             length_diff=0, rtf=None, seconds=None, device="cpu", precision="fp32", batch_size=1,
                             config_hash="k")
        refs.append(Reference(Clip(cid, domain, ""), x, sr))
    store.set_meta("selection", list(clips))
    return store, refs


def test_scorer_skips_other_domains_and_tables_show_no_gap(tmp_path, music) -> None:
    import soundfile as sf

    reg = metric_registry()
    store, refs = _store_with_two_domains(tmp_path, music)
    metrics = {n: reg.get(n).factory() for n in ("mrstft", "mcd")}
    stage = MetricStage(store, ["a", "b"], metrics)
    units = {ref.clip.id: stage.units(ref) for ref in refs}
    assert [u.metric for u in units["m1"]] == ["mrstft"]  # no unit at all for mcd on music
    assert sorted(u.metric for u in units["s1"]) == ["mcd", "mrstft"]
    for ref in refs:
        for unit in units[ref.clip.id]:
            degraded = [sf.read(p, dtype="float32")[0] for p in unit.degraded]
            stage.put(unit, compute(metrics[unit.metric], ref.audio, ref.sample_rate, ref.clip.domain, degraded))
    assert stage.stats.failed == 0 and store.failures() == []
    by_clip = {(s["clip_id"], s["metric"]) for s in store.scores()}
    assert ("s1", "mcd") in by_clip and ("m1", "mcd") not in by_clip
    assert ("m1", "mrstft") in by_clip and ("s1", "mrstft") in by_clip

    tables = {t.domain: t for t in build_tables(store, cover=coverage(store))}
    assert [c.key for c in tables["music"].columns] == ["mrstft"]
    assert sorted(c.key for c in tables["speech"].columns) == ["mcd", "mrstft"]  # order: the run config
    for t in tables.values():
        assert t.incomplete() == []  # nothing marked with a dagger
        assert "†" not in to_markdown(t)
    s = tables["speech"]
    assert s.cells["a"]["mcd"].mean < s.cells["b"]["mcd"].mean  # more noise, larger distance


def test_crepe_metrics_unavailable_without_weights_say_how(monkeypatch) -> None:
    import importlib.util

    from bench.registry import collect

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torchcrepe" else real(name, *a))
    reg = collect("metric", ["bench.metrics.periodicity", "bench.metrics.vuv_f1"])
    for name in ("periodicity", "vuv_f1"):
        assert name not in reg and "--no-deps torchcrepe" in reg.unavailable[name]
