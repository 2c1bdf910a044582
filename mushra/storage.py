"""Durable storage of listening-test sessions in SQLite.

One connection per call (safe from any thread or process), WAL journal, ``synchronous=FULL`` so that a session
acknowledged with HTTP 200 survives a killed server, one ``BEGIN IMMEDIATE`` transaction per submission (a session
is stored completely or not at all), idempotent by session uuid: an identical re-post stores nothing and still
succeeds; a different payload under a stored uuid is refused (:class:`SessionConflict`, HTTP 409), never dropped
silently.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from mushra.validate import Submission, SubmissionError

#: Seconds a writer waits for the database lock before giving up (concurrent listeners queue up behind it).
BUSY_TIMEOUT_S = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    uuid TEXT PRIMARY KEY, test_id TEXT NOT NULL, received REAL NOT NULL, remote_addr TEXT,
    participant TEXT NOT NULL, payload TEXT NOT NULL, reposts INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS ratings (
    session_uuid TEXT NOT NULL REFERENCES sessions(uuid), trial_id TEXT NOT NULL, stimulus TEXT NOT NULL,
    score REAL NOT NULL, time_ms REAL, comment TEXT, seq INTEGER NOT NULL,
    PRIMARY KEY (session_uuid, trial_id, stimulus));
CREATE TABLE IF NOT EXISTS choices (
    session_uuid TEXT NOT NULL REFERENCES sessions(uuid), trial_id TEXT NOT NULL, reference TEXT NOT NULL,
    non_reference TEXT NOT NULL, answer TEXT NOT NULL, time_ms REAL, comment TEXT, seq INTEGER NOT NULL,
    PRIMARY KEY (session_uuid, seq));
"""


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


class SessionConflict(SubmissionError):
    """A session uuid that is already stored with different content (answered with HTTP 409)."""

    def __init__(self, uuid: str) -> None:
        super().__init__(f"session {uuid[:80]} is already stored with different content; "
                         "a session can be sent only once", 409)


@contextmanager
def connect(path: Path, *, synchronous: str) -> Iterator[sqlite3.Connection]:
    """A connection to the SQLite file ``path`` (autocommit, rows as sqlite3.Row, waits up to
    :data:`BUSY_TIMEOUT_S` for a writer), closed on exit. ``synchronous``: SQLite's FULL or NORMAL."""
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        yield conn
    finally:
        conn.close()


class Storage:
    """Sessions of one test in ``db_path``."""

    def __init__(self, db_path: str | Path) -> None:
        self.db_path = Path(db_path)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return connect(self.db_path, synchronous="FULL")  # an acknowledged session survives a power cut

    def add(self, sub: Submission, remote_addr: str | None = None) -> bool:
        """Store a validated session in one transaction.

        Returns False (and stores nothing) if the same payload is already stored under its uuid.

        Raises:
            SessionConflict: the uuid is stored with a different payload.
        """
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO sessions(uuid, test_id, received, remote_addr, participant, payload) "
                    "VALUES (?,?,?,?,?,?)",
                    (sub.uuid, sub.test_id, time.time(), remote_addr,
                     json.dumps(sub.participant, ensure_ascii=False),
                     json.dumps(sub.raw, ensure_ascii=False, separators=(",", ":"))),
                )
                if cur.rowcount == 0:
                    stored = conn.execute("SELECT payload FROM sessions WHERE uuid = ?", (sub.uuid,)).fetchone()
                    # Compared as canonical JSON: key order and spacing of the client's text do not matter.
                    if _canonical(json.loads(stored["payload"])) != _canonical(sub.raw):
                        raise SessionConflict(sub.uuid)
                    conn.execute("UPDATE sessions SET reposts = reposts + 1 WHERE uuid = ?", (sub.uuid,))
                    conn.execute("COMMIT")
                    return False
                conn.executemany(
                    "INSERT INTO ratings VALUES (?,?,?,?,?,?,?)",
                    [(sub.uuid, r.trial_id, r.stimulus, r.score, r.time_ms, r.comment, i)
                     for i, r in enumerate(sub.ratings)],
                )
                conn.executemany(
                    "INSERT INTO choices VALUES (?,?,?,?,?,?,?,?)",
                    [(sub.uuid, c.trial_id, c.reference, c.non_reference, c.answer, c.time_ms, c.comment, i)
                     for i, c in enumerate(sub.choices)],
                )
                conn.execute("COMMIT")
                return True
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    # -- reading -----------------------------------------------------------------------------------
    def sessions(self) -> list[dict[str, Any]]:
        """Sessions in arrival order: uuid, test_id, received (unix s), remote_addr, participant [(name, answer)],
        reposts, n_ratings."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT s.uuid, s.test_id, s.received, s.remote_addr, s.participant, s.reposts, "
                "(SELECT COUNT(*) FROM ratings r WHERE r.session_uuid = s.uuid) AS n_ratings "
                "FROM sessions s ORDER BY s.rowid").fetchall()
        return [{**dict(r), "participant": [tuple(p) for p in json.loads(r["participant"])]} for r in rows]

    def ratings(self) -> list[dict[str, Any]]:
        """All mushra ratings: session_uuid, trial_id, stimulus, score, time_ms, comment (session order, then as sent)."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT r.session_uuid, r.trial_id, r.stimulus, r.score, r.time_ms, r.comment FROM ratings r "
                "JOIN sessions s ON s.uuid = r.session_uuid ORDER BY s.rowid, r.seq").fetchall()
        return [dict(r) for r in rows]

    def choices(self) -> list[dict[str, Any]]:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT c.session_uuid, c.trial_id, c.reference, c.non_reference, c.answer, c.time_ms, c.comment "
                "FROM choices c JOIN sessions s ON s.uuid = c.session_uuid ORDER BY s.rowid, c.seq").fetchall()
        return [dict(r) for r in rows]

    def payloads(self) -> list[dict[str, Any]]:
        """The sessions exactly as posted (parsed JSON), arrival order."""
        with self._connect() as conn:
            rows = conn.execute("SELECT payload FROM sessions ORDER BY rowid").fetchall()
        return [json.loads(r["payload"]) for r in rows]

    def counts(self) -> dict[str, int]:
        with self._connect() as conn:
            n_s = conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
            n_r = conn.execute("SELECT COUNT(*) FROM ratings").fetchone()[0]
            n_rep = conn.execute("SELECT COALESCE(SUM(reposts), 0) FROM sessions").fetchone()[0]
        return {"sessions": int(n_s), "ratings": int(n_r), "reposts": int(n_rep)}
