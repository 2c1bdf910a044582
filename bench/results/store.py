"""Durable results store: one SQLite database per run directory.

Layout of ``results/<run>/``::

    results.sqlite                 this store (WAL journal; every write is one transaction)
    audio/reference/<clip>.wav     the reference as evaluated (mono float32 at the evaluation rate)
    audio/<vocoder>/<clip>.wav     each vocoder's output aligned to the reference

A value is keyed by (vocoder, clip, metric, variant hash); a rerun computes only missing keys. Audio files
are written atomically before their row, so a run killed at any point leaves either a complete file with
its row, or a complete file without one (recomputed and replaced), never a row pointing at half a file.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.errors import BenchError

DB_NAME = "results.sqlite"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS clips (
    clip_id TEXT PRIMARY KEY, dataset TEXT, domain TEXT NOT NULL, path TEXT, offset REAL, duration REAL,
    sha256 TEXT, meta TEXT, status TEXT NOT NULL DEFAULT 'ok', error TEXT, created REAL);
CREATE TABLE IF NOT EXISTS renders (
    vocoder TEXT NOT NULL, clip_id TEXT NOT NULL, path TEXT NOT NULL, sample_rate INTEGER NOT NULL,
    n_samples INTEGER NOT NULL, sha256 TEXT NOT NULL, native_sample_rate INTEGER, length_diff INTEGER,
    rtf REAL, seconds REAL, device TEXT, precision TEXT, batch_size INTEGER, config_hash TEXT, created REAL,
    PRIMARY KEY (vocoder, clip_id));
CREATE TABLE IF NOT EXISTS scores (
    vocoder TEXT NOT NULL, clip_id TEXT NOT NULL, metric TEXT NOT NULL, variant_hash TEXT NOT NULL,
    value REAL NOT NULL, variant TEXT NOT NULL, seconds REAL, created REAL,
    PRIMARY KEY (vocoder, clip_id, metric, variant_hash));
CREATE TABLE IF NOT EXISTS failures (
    stage TEXT NOT NULL, vocoder TEXT NOT NULL DEFAULT '', clip_id TEXT NOT NULL DEFAULT '',
    metric TEXT NOT NULL DEFAULT '', error TEXT NOT NULL, created REAL,
    PRIMARY KEY (stage, vocoder, clip_id, metric));
"""


def variant_hash(variant: dict[str, Any]) -> str:
    """Stable short hash of a metric variant (sorted-key JSON)."""
    return hashlib.sha256(json.dumps(variant, sort_keys=True, default=str).encode()).hexdigest()[:16]


class ResultsStore:
    """Access to one run's database. Open with :meth:`create` (new or existing run) or :meth:`open`."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.db_path = self.run_dir / DB_NAME
        self._conn = sqlite3.connect(self.db_path, timeout=30.0, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)

    # -- lifecycle ---------------------------------------------------------------------------------
    @classmethod
    def create(cls, run_dir: str | Path) -> ResultsStore:
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        store = cls(run_dir)
        if store.get_meta("schema_version") is None:
            store.set_meta("schema_version", SCHEMA_VERSION)
            store.set_meta("created", time.time())
        return store

    @classmethod
    def open(cls, run_dir: str | Path) -> ResultsStore:
        run_dir = Path(run_dir)
        if not (run_dir / DB_NAME).is_file():
            raise BenchError(f"no results store at {run_dir / DB_NAME} (run `bench run --out {run_dir}` first)")
        return cls(run_dir)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        else:
            self._conn.execute("COMMIT")

    # -- meta --------------------------------------------------------------------------------------
    def set_meta(self, key: str, value: Any) -> None:
        with self.transaction() as c:
            c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, json.dumps(value, default=str)))

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row["value"]) if row else default

    def config(self) -> dict[str, Any]:
        return self.get_meta("config", {})

    # -- clips -------------------------------------------------------------------------------------
    def put_clip(self, clip_id: str, *, dataset: str, domain: str, path: str, offset: float,
                 duration: float | None, sha256: str, meta: dict | None = None, status: str = "ok",
                 error: str | None = None) -> None:
        with self.transaction() as c:
            c.execute(
                "INSERT OR REPLACE INTO clips VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (clip_id, dataset, domain, path, offset, duration, sha256, json.dumps(meta or {}, default=str),
                 status, error, time.time()),
            )

    def clips(self) -> list[dict[str, Any]]:
        rows = self._conn.execute("SELECT * FROM clips ORDER BY rowid").fetchall()
        return [{**dict(r), "meta": json.loads(r["meta"] or "{}")} for r in rows]

    def clip(self, clip_id: str) -> dict[str, Any] | None:
        r = self._conn.execute("SELECT * FROM clips WHERE clip_id = ?", (clip_id,)).fetchone()
        return {**dict(r), "meta": json.loads(r["meta"] or "{}")} if r else None

    def reset_clip(self, clip_id: str) -> None:
        """Forget every render, value and failure of a clip (its reference changed or cannot be prepared)."""
        with self.transaction() as c:
            for table in ("renders", "scores", "failures"):
                c.execute(f"DELETE FROM {table} WHERE clip_id = ?", (clip_id,))

    # -- renders -----------------------------------------------------------------------------------
    def audio_path(self, vocoder: str, clip_id: str) -> Path:
        return self.run_dir / "audio" / vocoder / f"{clip_id}.wav"

    def put_render(self, vocoder: str, clip_id: str, *, sample_rate: int, n_samples: int, sha256: str,
                   native_sample_rate: int, length_diff: int, rtf: float | None, seconds: float | None,
                   device: str, precision: str, batch_size: int, config_hash: str) -> None:
        rel = self.audio_path(vocoder, clip_id).relative_to(self.run_dir).as_posix()
        with self.transaction() as c:
            c.execute(
                "INSERT OR REPLACE INTO renders VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (vocoder, clip_id, rel, sample_rate, n_samples, sha256, native_sample_rate, length_diff, rtf,
                 seconds, device, precision, batch_size, config_hash, time.time()),
            )
            # A new render invalidates every score computed from the old one.
            c.execute("DELETE FROM scores WHERE vocoder = ? AND clip_id = ?", (vocoder, clip_id))
            c.execute("DELETE FROM failures WHERE stage = 'synthesis' AND vocoder = ? AND clip_id = ?",
                      (vocoder, clip_id))

    def renders(self, vocoder: str | None = None) -> list[dict[str, Any]]:
        q = ("SELECT r.*, c.domain FROM renders r JOIN clips c USING (clip_id)"
             + (" WHERE r.vocoder = ?" if vocoder else "") + " ORDER BY c.rowid, r.vocoder")
        rows = self._conn.execute(q, (vocoder,) if vocoder else ()).fetchall()
        return [{**dict(r), "path": self.run_dir / r["path"]} for r in rows]

    def render(self, vocoder: str, clip_id: str) -> dict[str, Any] | None:
        r = self._conn.execute("SELECT * FROM renders WHERE vocoder = ? AND clip_id = ?", (vocoder, clip_id)).fetchone()
        return {**dict(r), "path": self.run_dir / r["path"]} if r else None

    # -- scores ------------------------------------------------------------------------------------
    def put_score(self, vocoder: str, clip_id: str, metric: str, value: float, variant: dict[str, Any],
                  seconds: float | None = None) -> None:
        with self.transaction() as c:
            c.execute(
                "INSERT OR REPLACE INTO scores VALUES (?,?,?,?,?,?,?,?)",
                (vocoder, clip_id, metric, variant_hash(variant), float(value), json.dumps(variant, sort_keys=True,
                 default=str), seconds, time.time()),
            )
            c.execute("DELETE FROM failures WHERE stage = 'metric' AND vocoder = ? AND clip_id = ? AND metric = ?",
                      (vocoder, clip_id, metric))

    def has_score(self, vocoder: str, clip_id: str, metric: str, variant: dict[str, Any]) -> bool:
        return self._conn.execute(
            "SELECT 1 FROM scores WHERE vocoder=? AND clip_id=? AND metric=? AND variant_hash=?",
            (vocoder, clip_id, metric, variant_hash(variant))).fetchone() is not None

    def scores(self, *, all_variants: bool = False) -> list[dict[str, Any]]:
        """Stored values. By default one per (vocoder, clip, metric): the most recent variant, so a metric whose
        definition changed between runs is never counted twice in a table."""
        rows = self._conn.execute(
            "SELECT s.*, c.domain FROM scores s JOIN clips c USING (clip_id) ORDER BY c.rowid, s.vocoder, s.metric, "
            "s.created"
        ).fetchall()
        out = [{**dict(r), "variant": json.loads(r["variant"])} for r in rows]
        if all_variants:
            return out
        latest: dict[tuple[str, str, str], dict[str, Any]] = {}
        for r in out:
            latest[(r["vocoder"], r["clip_id"], r["metric"])] = r  # ordered by created: the last one wins
        return list(latest.values())

    # -- failures ----------------------------------------------------------------------------------
    def put_failure(self, stage: str, error: str, *, vocoder: str = "", clip_id: str = "", metric: str = "") -> None:
        with self.transaction() as c:
            c.execute("INSERT OR REPLACE INTO failures VALUES (?,?,?,?,?,?)",
                      (stage, vocoder, clip_id, metric, error, time.time()))

    def failures(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._conn.execute("SELECT * FROM failures ORDER BY created").fetchall()]
