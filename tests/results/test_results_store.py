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


_RENDER = dict(sample_rate=44100, n_samples=10, sha256="x", native_sample_rate=44100, length_diff=0, rtf=1.0,
               seconds=1.0, device="cpu", precision=None, batch_size=1, config_hash="k1")
_CLIP = dict(dataset="d", domain="music", path="/x.wav", offset=0.0, duration=1.0)


def _with_values(s):
    for v in ("voc", "other"):
        s.put_render(v, "c1", **_RENDER)
        s.put_score(v, "c1", "m", 0.5, {"metric": "m"})
    s.put_clip("c2", **_CLIP, sha256="h2")
    s.put_render("voc", "c2", **_RENDER)
    s.put_score("voc", "c2", "m", 0.5, {"metric": "m"})


def test_changed_reference_invalidates_the_clip_a_changed_source_alone_does_not(tmp_path):
    s = ResultsStore.create(tmp_path / "run")
    s.put_clip("c1", **_CLIP, sha256="h", meta={"source_sha256": "s1"})
    _with_values(s)
    s.audio_path("voc", "c1").parent.mkdir(parents=True)
    s.audio_path("voc", "c1").write_bytes(b"old render")
    s.put_clip("c1", **_CLIP, sha256="h", meta={"source_sha256": "s1"})  # the same audio again: kept
    assert len(s.renders()) == 3 and len(s.scores()) == 3
    assert s.clip("c1")["source_sha256"] == "s1"
    s.put_clip("c1", **_CLIP, sha256="h-new", meta={"source_sha256": "s1"})  # another reference
    assert {(r["vocoder"], r["clip_id"]) for r in s.renders()} == {("voc", "c2")}
    assert {r["clip_id"] for r in s.scores()} == {"c2"}
    assert not s.audio_path("voc", "c1").exists()  # the stale file goes with its row
    _with_values(s)
    s.put_clip("c1", **_CLIP, sha256="h-new", source_sha256="s2")  # another source, same reference samples:
    assert len(s.renders()) == 3 and len(s.scores()) == 3  # the values were computed from these samples: kept
    assert s.clip("c1")["source_sha256"] == "s2"
    _with_values(s)
    s.put_failure("metric", "boom", vocoder="voc", clip_id="c1", metric="m2")
    s.put_clip("c1", **_CLIP, sha256="", source_sha256="s2", status="error", error="unreadable")
    assert {r["clip_id"] for r in s.scores()} == {"c2"} and s.failures() == []


def test_provenance_per_render_and_score(tmp_path):
    code = {"packages": {"torch": "2.x"}, "git_commit": "abc", "git_dirty": False}
    s = ResultsStore.create(tmp_path / "run", provenance=code)
    for c in ("c1", "c2", "c3"):
        s.put_clip(c, **_CLIP, sha256=c)
    gl = {"vocoder": "griffinlim", "params": {"iterations": 2}, "precision": None, "weights": {}}
    s.put_render("griffinlim", "c1", **_RENDER, provenance=gl)
    s.put_render("griffinlim", "c2", **_RENDER, provenance=gl)
    s.put_score("griffinlim", "c1", "m", 0.5, {"metric": "m"})
    s.close()
    later = {**code, "git_commit": "def", "git_dirty": True}
    s = ResultsStore.open(tmp_path / "run", provenance=later)
    s.put_render("griffinlim", "c3", **_RENDER, provenance={**gl, "params": {"iterations": 4}})
    s.put_score("griffinlim", "c2", "m", 0.6, {"metric": "m"})
    p = s.provenance()["griffinlim"]
    assert [(g["provenance"]["params"]["iterations"], g["provenance"]["git_commit"], g["clips"]) for g in p["render"]] \
        == [(2, "abc", 2), (4, "def", 1)]
    assert [(g["provenance"]["git_commit"], g["provenance"]["git_dirty"], g["clips"]) for g in p["metrics"]["m"]] \
        == [("abc", False, 1), ("def", True, 1)]
    only = s.provenance(clip_ids=["c1", "c2"])["griffinlim"]
    assert [g["clips"] for g in only["render"]] == [2]
    rows = s._conn.execute("SELECT COUNT(*) FROM provenance").fetchone()[0]
    assert rows == 4  # identical provenances share one row


_SCHEMA_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE clips (
    clip_id TEXT PRIMARY KEY, dataset TEXT, domain TEXT NOT NULL, path TEXT, offset REAL, duration REAL,
    sha256 TEXT, meta TEXT, status TEXT NOT NULL DEFAULT 'ok', error TEXT, created REAL);
CREATE TABLE renders (
    vocoder TEXT NOT NULL, clip_id TEXT NOT NULL, path TEXT NOT NULL, sample_rate INTEGER NOT NULL,
    n_samples INTEGER NOT NULL, sha256 TEXT NOT NULL, native_sample_rate INTEGER, length_diff INTEGER,
    rtf REAL, seconds REAL, device TEXT, precision TEXT, batch_size INTEGER, config_hash TEXT, created REAL,
    PRIMARY KEY (vocoder, clip_id));
CREATE TABLE scores (
    vocoder TEXT NOT NULL, clip_id TEXT NOT NULL, metric TEXT NOT NULL, variant_hash TEXT NOT NULL,
    value REAL NOT NULL, variant TEXT NOT NULL, seconds REAL, created REAL,
    PRIMARY KEY (vocoder, clip_id, metric, variant_hash));
CREATE TABLE failures (
    stage TEXT NOT NULL, vocoder TEXT NOT NULL DEFAULT '', clip_id TEXT NOT NULL DEFAULT '',
    metric TEXT NOT NULL DEFAULT '', error TEXT NOT NULL, created REAL, PRIMARY KEY (stage, vocoder, clip_id, metric));
INSERT INTO meta VALUES ('schema_version', '1');
INSERT INTO clips VALUES ('c1', 'd', 'music', '/x.wav', 0, 1, 'h', '{"source_sha256": "s1"}', 'ok', NULL, 0);
INSERT INTO renders VALUES ('voc', 'c1', 'audio/voc/c1.wav', 44100, 10, 'x', 44100, 0, 1, 1, 'cpu', 'fp32', 1, 'k', 0);
INSERT INTO scores VALUES ('voc', 'c1', 'm', 'vh', 0.5, '{}', 1, 0);
"""


def test_schema_1_store_is_migrated(tmp_path):
    (tmp_path / "run").mkdir()
    con = sqlite3.connect(tmp_path / "run" / "results.sqlite")
    con.executescript(_SCHEMA_1)
    con.close()
    s = ResultsStore.open(tmp_path / "run")
    assert s.get_meta("schema_version") == 2
    assert s.clip("c1")["source_sha256"] == "s1"  # taken from the clip's meta
    p = s.provenance()["voc"]
    assert p["render"] == [{"provenance": None, "clips": 1}] and p["metrics"]["m"] == [{"provenance": None, "clips": 1}]
    s.put_clip("c1", **_CLIP, sha256="h", meta={"source_sha256": "s1"})  # unchanged clip: its values stay
    assert len(s.scores()) == 1
    s.put_render("voc", "c1", **_RENDER, provenance={"params": {}})
    assert s.provenance()["voc"]["render"][0]["provenance"] == {"params": {}}
    s.close()
    ResultsStore.open(tmp_path / "run").close()  # opening again is a no-op


def test_provenance_of_an_unmigrated_store_is_empty(tmp_path, monkeypatch):
    """A reader that does not migrate (read-only open) gets no provenance rather than an SQL error."""
    (tmp_path / "run").mkdir()
    con = sqlite3.connect(tmp_path / "run" / "results.sqlite")
    con.executescript(_SCHEMA_1)
    con.close()
    monkeypatch.setattr(ResultsStore, "_migrate", lambda self: None)
    monkeypatch.setattr("bench.results.store._SCHEMA", "")
    assert ResultsStore.open(tmp_path / "run").provenance() == {}


def test_newer_schema_is_refused(tmp_path):
    s = ResultsStore.create(tmp_path / "run")
    s.set_meta("schema_version", 99)
    s.close()
    with pytest.raises(BenchError, match="newer"):
        ResultsStore.open(tmp_path / "run")
