import sqlite3

import pytest

from bench.errors import BenchError
from bench.results.store import DB_NAME, ResultsStore


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_open_readonly_creates_and_changes_nothing(tmp_path):
    run = tmp_path / "run"
    writer = ResultsStore.create(run)
    writer.put_clip("c0", dataset="d", domain="music", path="", offset=0, duration=1, sha256="")
    writer.put_score("v", "c0", "mrstft", 1.5, {"direction": "lower"})
    # while a writer holds the store (its -wal file exists) the reader sees the committed values
    before = _files(run)
    with ResultsStore.open_readonly(run) as r:
        assert [s["value"] for s in r.scores()] == [1.5]
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            r.set_meta("x", 1)
    assert _files(run) == before
    writer.close()
    closed = {p.name: p.read_bytes() for p in run.iterdir()}
    assert list(closed) == [DB_NAME]
    with ResultsStore.open_readonly(run) as r:
        assert r.clips()[0]["clip_id"] == "c0"
    assert {p.name: p.read_bytes() for p in run.iterdir()} == closed  # no -wal/-shm left behind


def test_open_readonly_errors(tmp_path):
    with pytest.raises(BenchError, match="no results store"):
        ResultsStore.open_readonly(tmp_path)
    assert not (tmp_path / DB_NAME).exists()
    (tmp_path / DB_NAME).write_bytes(b"")
    with pytest.raises(BenchError, match="holds no results"):
        ResultsStore.open_readonly(tmp_path)
    assert (tmp_path / DB_NAME).read_bytes() == b""
