import sqlite3

import pytest

from bench.errors import BenchError
from bench.results.store import ResultsStore, variant_hash


def _store(tmp_path):
    s = ResultsStore.create(tmp_path / "run")
    s.put_clip("c1", dataset="d", domain="music", path="/x.wav", offset=0.0, duration=1.0, sha256="h")
    return s


def test_open_missing_run(tmp_path):
    with pytest.raises(BenchError, match="bench run"):
        ResultsStore.open(tmp_path / "nope")


def test_scores_are_keyed_and_idempotent(tmp_path):
    s = _store(tmp_path)
    v = {"metric": "m", "direction": "lower", "p": 1}
    s.put_score("voc", "c1", "m", 0.5, v)
    s.put_score("voc", "c1", "m", 0.5, v)
    s.put_score("voc", "c1", "m", 0.7, {**v, "p": 2})
    rows = s.scores(all_variants=True)
    assert len(rows) == 2 and {r["value"] for r in rows} == {0.5, 0.7}
    latest = s.scores()
    assert len(latest) == 1 and latest[0]["value"] == 0.7  # a changed variant is not counted twice
    assert s.has_score("voc", "c1", "m", v) and not s.has_score("voc", "c1", "m", {**v, "p": 3})
    assert variant_hash({"a": 1, "b": 2}) == variant_hash({"b": 2, "a": 1})


def test_rerender_invalidates_scores(tmp_path):
    s = _store(tmp_path)
    kw = dict(sample_rate=44100, n_samples=10, sha256="x", native_sample_rate=44100, length_diff=0, rtf=1.0,
              seconds=1.0, device="cpu", precision="fp32", batch_size=1, config_hash="k1")
    s.put_render("voc", "c1", **kw)
    s.put_score("voc", "c1", "m", 0.5, {"metric": "m"})
    s.put_render("voc", "c1", **{**kw, "config_hash": "k2"})
    assert s.scores() == []
    assert s.render("voc", "c1")["config_hash"] == "k2"
    assert s.renders()[0]["domain"] == "music"


def test_failed_transaction_rolls_back(tmp_path):
    s = _store(tmp_path)
    with pytest.raises(RuntimeError):
        with s.transaction() as c:
            c.execute("INSERT INTO meta VALUES ('k', '1')")
            raise RuntimeError
    assert s.get_meta("k") is None


def test_failures_cleared_by_success(tmp_path):
    s = _store(tmp_path)
    s.put_failure("metric", "boom", vocoder="voc", clip_id="c1", metric="m")
    assert len(s.failures()) == 1
    s.put_score("voc", "c1", "m", 1.0, {"metric": "m"})
    assert s.failures() == []


def test_wal_mode(tmp_path):
    s = _store(tmp_path)
    s.close()
    con = sqlite3.connect(tmp_path / "run" / "results.sqlite")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
