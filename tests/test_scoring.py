"""Scoring stage: reference work once per clip, per-item failure isolation, nothing stored twice."""

import numpy as np

from bench.audio import save_audio
from bench.errors import AudioError
from bench.metrics.base import Metric
from bench.references import Reference
from bench.results.store import ResultsStore
from bench.scoring import Scorer
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


def test_reference_prepared_once_and_failures_isolated(tmp_path, music):
    store = ResultsStore.create(tmp_path / "run")
    x = music(0.5)
    store.put_clip("c", dataset="d", domain="music", path="", offset=0, duration=0.5, sha256="")
    outs = {"a": x * 0.5, "b": x * 2.0, "c": x}
    for v, y in outs.items():
        save_audio(store.audio_path(v, "c"), y, 44100)
        store.put_render(v, "c", sample_rate=44100, n_samples=y.size, sha256="", native_sample_rate=44100,
                         length_diff=0, rtf=None, seconds=None, device="cpu", precision="fp32", batch_size=1,
                         config_hash="k")
    m = Counting()
    ref = Reference(Clip("c", "music", ""), x, 44100)
    with Scorer(store, ["a", "b", "c", "missing"], {"counting": m}) as scorer:
        scorer.score(ref)
    stats = scorer.stats
    assert m.prepared == 1
    assert (stats.computed, stats.failed) == (2, 1)
    fail = store.failures()[0]
    assert fail["vocoder"] == "b" and "too loud" in fail["error"]
    with Scorer(store, ["a", "b", "c"], {"counting": m}) as scorer:
        scorer.score(ref)
    again = scorer.stats
    assert (again.computed, again.skipped, again.failed) == (0, 2, 1)
    assert len(store.scores()) == 2


def test_pooled_metric_gives_the_same_values(tmp_path, audio_folder):
    from bench.runner import RunConfig, run

    def values(out, jobs, pooled):
        import bench.runner as runner

        cfg = RunConfig(out=out, dataset="folder", dataset_options={"path": str(audio_folder), "domain": "music"},
                        vocoders=["reference", "anchor35"], metrics=["mrmel"], device="cpu", progress=False, jobs=jobs)
        entry = runner.metric_registry().get("mrmel")
        original = entry.process_safe
        object.__setattr__(entry, "process_safe", pooled)
        try:
            run(cfg)
        finally:
            object.__setattr__(entry, "process_safe", original)
        with ResultsStore.open(out) as s:
            return {(r["vocoder"], r["clip_id"]): r["value"] for r in s.scores()}

    inproc = values(tmp_path / "a", 0, False)
    pooled = values(tmp_path / "b", 1, True)
    assert len(inproc) == 6 and inproc == pooled


def test_interrupted_scorer_stops_its_busy_workers_at_once(tmp_path):
    """Ctrl-C/SIGTERM inside the metric stage: the pending values would be discarded, so the workers are stopped
    instead of being waited for (before: shutdown waited for the running item, here 60 s)."""
    import time

    import pytest

    store = ResultsStore.create(tmp_path / "run")
    scorer = Scorer(store, ["a"], {}, pooled=["visqol"], workers=1)
    with pytest.raises(KeyboardInterrupt):
        with scorer:
            busy = scorer._pool.submit(time.sleep, 60)
            end = time.monotonic() + 60
            while not busy.running() and time.monotonic() < end:
                time.sleep(0.05)
            time.sleep(0.5)  # the worker has taken the item
            started = time.monotonic()
            raise KeyboardInterrupt
    assert time.monotonic() - started < 15
    store.close()


def test_progress_moves_metric_by_metric_inside_a_clip(tmp_path, music):
    """A long clip shows progress per metric (was: one step per clip, after all its metrics)."""
    from bench.scoring import score_all

    store = ResultsStore.create(tmp_path / "run")
    x = music(0.5)
    refs = []
    for cid in ("c1", "c2"):
        store.put_clip(cid, dataset="d", domain="music", path="", offset=0, duration=0.5, sha256="")
        save_audio(store.audio_path("a", cid), x * 0.5, 44100)
        store.put_render("a", cid, sample_rate=44100, n_samples=x.size, sha256="", native_sample_rate=44100,
                         length_diff=0, rtf=None, seconds=None, device="cpu", precision="fp32", batch_size=1,
                         config_hash="k")
        refs.append(Reference(Clip(cid, "music", ""), x, 44100))

    class Other(Counting):
        name = "other"

    metrics = {"counting": Counting(), "other": Other()}
    seen: list[tuple[int, int]] = []  # (units reported so far, values stored at that moment)
    status: list[str] = []

    def progress(n: int) -> None:
        seen.append((sum(k for k, _ in seen[-1:]) + n if seen else n, len(store.scores())))

    score_all(store, refs, ["a"], metrics, progress=progress, status=status.append)
    assert seen == [(1, 1), (2, 2), (3, 3), (4, 4)]  # one step per (clip, metric), as each value is stored
    assert status == ["counting on c1", "other on c1", "counting on c2", "other on c2"]
    seen.clear()
    score_all(store, refs, ["a"], metrics, progress=progress)  # nothing missing: each clip counts its metrics
    assert [n for n, _ in seen] == [2, 4]
