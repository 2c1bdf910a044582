"""Durable results store: one SQLite database per run directory.

Layout of ``results/<run>/``::

    results.sqlite                 this store (WAL journal; every write is one transaction)
    audio/reference/<clip>.wav     the reference as evaluated (mono float32 at the evaluation rate)
    audio/<vocoder>/<clip>.wav     each vocoder's output aligned to the reference

A value is keyed by (vocoder, clip, metric, variant hash); a rerun computes only missing keys. Audio files
are written atomically before their row, so a run killed at any point leaves either a complete file with
its row, or a complete file without one (recomputed and replaced), never a row pointing at half a file.

A stored value never outlives what it was computed from: a new render of a (vocoder, clip) deletes that
pair's scores, and a clip whose reference or source hash changed loses its renders and scores
(:meth:`ResultsStore.put_clip`). Every render and score keeps its own provenance (what code, packages and
vocoder configuration produced it), deduplicated in the ``provenance`` table; see
:meth:`ResultsStore.provenance`.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.errors import BenchError

DB_NAME = "results.sqlite"
#: 2: provenance table and columns (renders, scores), clips.source_sha256.
SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS clips (
    clip_id TEXT PRIMARY KEY, dataset TEXT, domain TEXT NOT NULL, path TEXT, offset REAL, duration REAL,
    sha256 TEXT, meta TEXT, status TEXT NOT NULL DEFAULT 'ok', error TEXT, created REAL, source_sha256 TEXT);
CREATE TABLE IF NOT EXISTS renders (
    vocoder TEXT NOT NULL, clip_id TEXT NOT NULL, path TEXT NOT NULL, sample_rate INTEGER NOT NULL,
    n_samples INTEGER NOT NULL, sha256 TEXT NOT NULL, native_sample_rate INTEGER, length_diff INTEGER,
    rtf REAL, seconds REAL, device TEXT, precision TEXT, batch_size INTEGER, config_hash TEXT, created REAL,
    provenance TEXT, PRIMARY KEY (vocoder, clip_id));
CREATE TABLE IF NOT EXISTS scores (
    vocoder TEXT NOT NULL, clip_id TEXT NOT NULL, metric TEXT NOT NULL, variant_hash TEXT NOT NULL,
    value REAL NOT NULL, variant TEXT NOT NULL, seconds REAL, created REAL, provenance TEXT,
    PRIMARY KEY (vocoder, clip_id, metric, variant_hash));
CREATE TABLE IF NOT EXISTS failures (
    stage TEXT NOT NULL, vocoder TEXT NOT NULL DEFAULT '', clip_id TEXT NOT NULL DEFAULT '',
    metric TEXT NOT NULL DEFAULT '', error TEXT NOT NULL, created REAL,
    PRIMARY KEY (stage, vocoder, clip_id, metric));
CREATE TABLE IF NOT EXISTS provenance (id TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

#: Columns added after schema 1, by table: an older store gets them with ALTER TABLE when opened.
_ADDED_COLUMNS = {"clips": ("source_sha256 TEXT",), "renders": ("provenance TEXT",), "scores": ("provenance TEXT",)}


def variant_hash(variant: dict[str, Any]) -> str:
    """Stable short hash of a metric variant (sorted-key JSON)."""
    return hashlib.sha256(json.dumps(variant, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})").fetchall()}


class ResultsStore:
    """Access to one run's database. Open with :meth:`create` (new or existing run) or :meth:`open`.

    ``provenance``: what code writes through this connection (``bench.environment.code_provenance()``); it
    is recorded with every render and score written, merged with the per-render vocoder configuration.
    """

    def __init__(self, run_dir: Path, provenance: dict[str, Any] | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.db_path = self.run_dir / DB_NAME
        self.writer_provenance = dict(provenance or {})
        self._conn = sqlite3.connect(self.db_path, timeout=30.0, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as err:  # e.g. "file is not a database"
            self._conn.close()
            raise BenchError(f"{self.db_path}: cannot be used as a results store ({err})") from None
        self._migrate()

    def _migrate(self) -> None:
        """Bring a store written by an older version to :data:`SCHEMA_VERSION` (one transaction)."""
        version = self.get_meta("schema_version")
        if version is not None and int(version) > SCHEMA_VERSION:
            raise BenchError(f"{self.db_path} has schema {version}, newer than this version of the bench "
                             f"({SCHEMA_VERSION}): upgrade vocoder-bench to read it")
        if version is None or int(version) == SCHEMA_VERSION:
            return
        with self.transaction() as c:
            for table, columns in _ADDED_COLUMNS.items():
                have = _columns(c, table)
                for col in columns:
                    if col.split()[0] not in have:
                        c.execute(f"ALTER TABLE {table} ADD COLUMN {col}")
            # schema 1 kept the source hash in the clip's meta only
            c.execute("UPDATE clips SET source_sha256 = json_extract(meta, '$.source_sha256') "
                      "WHERE source_sha256 IS NULL")
            c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)",
                      (json.dumps(SCHEMA_VERSION),))

    # -- lifecycle ---------------------------------------------------------------------------------
    @classmethod
    def create(cls, run_dir: str | Path, provenance: dict[str, Any] | None = None) -> ResultsStore:
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        store = cls(run_dir, provenance)
        if store.get_meta("schema_version") is None:
            store.set_meta("schema_version", SCHEMA_VERSION)
            store.set_meta("created", time.time())
        return store

    @classmethod
    def open(cls, run_dir: str | Path, provenance: dict[str, Any] | None = None) -> ResultsStore:
        run_dir = Path(run_dir)
        if not (run_dir / DB_NAME).is_file():
            raise BenchError(f"no results store at {run_dir / DB_NAME} (run `bench run --out {run_dir}` first)")
        return cls(run_dir, provenance)

    @classmethod
    def open_readonly(cls, run_dir: str | Path) -> ResultsStore:
        """Open for reading only (tables, reports): creates, migrates or alters no file of the run folder.

        Raises BenchError when there is no store, it is not a database, or it holds no results schema."""
        run_dir = Path(run_dir)
        db = run_dir / DB_NAME
        if not db.is_file():
            raise BenchError(f"no results store at {db} (run `bench run --out {run_dir}` first)")
        # A plain mode=ro open of a WAL database creates -wal/-shm files and leaves them behind. Without a -wal
        # file no writer holds uncommitted pages, so immutable=1 reads the file as is; with one, mode=ro reads it.
        wal = db.with_name(DB_NAME + "-wal").exists()
        store = cls.__new__(cls)
        store.run_dir, store.db_path = run_dir, db
        store._conn = sqlite3.connect(db.resolve().as_uri() + ("?mode=ro" if wal else "?mode=ro&immutable=1"),
                                      uri=True, timeout=30.0, isolation_level=None)
        store._conn.row_factory = sqlite3.Row
        try:
            tables = {r[0] for r in store._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as err:
            store.close()
            raise BenchError(f"{db} is not a results database ({err})") from None
        if not {"meta", "clips", "renders", "scores", "failures"} <= tables:
            store.close()
            raise BenchError(f"{db} holds no results (empty or not a bench store)")
        return store

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
                 error: str | None = None, source_sha256: str | None = None) -> None:
        """Record a clip: ``sha256`` is its reference's (the samples evaluated), ``source_sha256`` its source's
        (default: ``meta["source_sha256"]``). When the reference differs from the stored row, or the clip is now an
        error, every render and score of the clip is deleted with its row: they were computed from other audio.
        A changed source alone does not invalidate: renders and values depend only on the reference samples, and
        :func:`bench.references.load_or_prepare` prepares the reference again whenever the source hash changed.
        """
        meta = dict(meta or {})
        source = source_sha256 if source_sha256 is not None else str(meta.get("source_sha256") or "")
        stale: list[Path] = []
        with self.transaction() as c:
            old = c.execute("SELECT sha256, source_sha256, status FROM clips WHERE clip_id = ?", (clip_id,)).fetchone()
            if old is not None and (old["sha256"] != sha256 or status != "ok"):
                stale = [self.run_dir / r["path"] for r in
                         c.execute("SELECT path FROM renders WHERE clip_id = ?", (clip_id,)).fetchall()]
                c.execute("DELETE FROM renders WHERE clip_id = ?", (clip_id,))
                c.execute("DELETE FROM scores WHERE clip_id = ?", (clip_id,))
                c.execute("DELETE FROM failures WHERE clip_id = ? AND stage IN ('synthesis', 'metric')", (clip_id,))
            c.execute(
                "INSERT OR REPLACE INTO clips (clip_id, dataset, domain, path, offset, duration, sha256, meta, status, "
                "error, created, source_sha256) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (clip_id, dataset, domain, path, offset, duration, sha256, json.dumps(meta, default=str),
                 status, error, time.time(), source),
            )
        for p in stale:  # after the commit: a kill in between leaves files without rows, which are redone
            p.unlink(missing_ok=True)

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
                   device: str, precision: str | None, batch_size: int, config_hash: str,
                   provenance: dict[str, Any] | None = None) -> None:
        """Record a render; ``provenance`` (the vocoder's configuration) is stored merged with the writer's."""
        rel = self.audio_path(vocoder, clip_id).relative_to(self.run_dir).as_posix()
        with self.transaction() as c:
            prov = self._provenance_id(c, {**self.writer_provenance, **(provenance or {})})
            c.execute(
                "INSERT OR REPLACE INTO renders (vocoder, clip_id, path, sample_rate, n_samples, sha256, "
                "native_sample_rate, length_diff, rtf, seconds, device, precision, batch_size, config_hash, created, "
                "provenance) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (vocoder, clip_id, rel, sample_rate, n_samples, sha256, native_sample_rate, length_diff, rtf,
                 seconds, device, precision, batch_size, config_hash, time.time(), prov),
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
                  seconds: float | None = None, provenance: dict[str, Any] | None = None) -> None:
        """Record a value; its provenance is the writer's (code and packages), merged with ``provenance``."""
        with self.transaction() as c:
            prov = self._provenance_id(c, {**self.writer_provenance, **(provenance or {})})
            c.execute(
                "INSERT OR REPLACE INTO scores (vocoder, clip_id, metric, variant_hash, value, variant, seconds, "
                "created, provenance) VALUES (?,?,?,?,?,?,?,?,?)",
                (vocoder, clip_id, metric, variant_hash(variant), float(value), json.dumps(variant, sort_keys=True,
                 default=str), seconds, time.time(), prov),
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

    # -- provenance --------------------------------------------------------------------------------
    @staticmethod
    def _provenance_id(c: sqlite3.Connection, prov: dict[str, Any]) -> str | None:
        """Id of ``prov`` in the provenance table (inserted once; identical provenances share a row)."""
        if not prov:
            return None
        text = json.dumps(prov, sort_keys=True, default=str)
        pid = hashlib.sha256(text.encode()).hexdigest()[:16]
        c.execute("INSERT OR IGNORE INTO provenance(id, value) VALUES (?, ?)", (pid, text))
        return pid

    def provenance(self, clip_ids: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
        """What produced each vocoder's stored renders and values (optionally of ``clip_ids`` only).

        Returns ``{vocoder: {"render": [group, ...], "metrics": {metric: [group, ...]}}}`` where a group is
        ``{"provenance": dict | None, "clips": n}``, one per distinct provenance, most clips first. A render's
        provenance holds ``vocoder``, ``params``, ``precision`` (None for vocoders that ignore it), ``weights``
        (file name -> sha256), ``packages``, ``git_commit``, ``git_dirty``; a score's holds ``packages``,
        ``git_commit``, ``git_dirty`` (its metric variant is in the score row). ``None``: written before
        provenance was recorded (schema 1). More than one group means the values were made by different
        configurations or code.
        """
        wanted = set(clip_ids) if clip_ids is not None else None
        if "provenance" not in _columns(self._conn, "renders"):  # a schema-1 store read without migrating it
            return {}
        values = {r["id"]: json.loads(r["value"]) for r in self._conn.execute("SELECT * FROM provenance")}
        out: dict[str, dict[str, Any]] = {}

        def add(groups: list[dict[str, Any]], pid: str | None) -> None:
            prov = values.get(pid) if pid else None
            for g in groups:
                if g["provenance"] == prov:
                    g["clips"] += 1
                    return
            groups.append({"provenance": prov, "clips": 1})

        for r in self._conn.execute("SELECT vocoder, clip_id, provenance FROM renders ORDER BY vocoder, rowid"):
            if wanted is None or r["clip_id"] in wanted:
                add(out.setdefault(r["vocoder"], {"render": [], "metrics": {}})["render"], r["provenance"])
        for r in self._conn.execute("SELECT vocoder, clip_id, metric, provenance FROM scores "
                                    "ORDER BY vocoder, metric, rowid"):
            if wanted is None or r["clip_id"] in wanted:
                entry = out.setdefault(r["vocoder"], {"render": [], "metrics": {}})
                add(entry["metrics"].setdefault(r["metric"], []), r["provenance"])
        for entry in out.values():
            entry["render"].sort(key=lambda g: -g["clips"])
            for groups in entry["metrics"].values():
                groups.sort(key=lambda g: -g["clips"])
        return out

    # -- failures ----------------------------------------------------------------------------------
    def put_failure(self, stage: str, error: str, *, vocoder: str = "", clip_id: str = "", metric: str = "") -> None:
        with self.transaction() as c:
            c.execute("INSERT OR REPLACE INTO failures VALUES (?,?,?,?,?,?)",
                      (stage, vocoder, clip_id, metric, error, time.time()))

    def failures(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._conn.execute("SELECT * FROM failures ORDER BY created").fetchall()]
