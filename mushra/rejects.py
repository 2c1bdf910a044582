"""Durable log of rejected submissions (forbidden origin, rate limit, invalid session), for the admin page.

One row per (address, status, reason) with a count and first/last time, so a flood adds counts, not rows; the
number of rows is bounded (:data:`MAX_ROWS`; beyond it rejects are counted on one overflow row). The file lives
beside the results database. Unlike accepted sessions, the client address of a rejected request is kept: it is
what an operator needs to block a flood at the proxy. ``synchronous=NORMAL`` in WAL mode: a row survives a killed
server; only the last rows could be lost on a power cut (this is a log, not results).
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from mushra.storage import connect

#: Distinct (address, status, reason) rows kept at most.
MAX_ROWS = 10_000
#: Longest reason text stored (validation messages can quote input).
MAX_REASON = 300
_OVERFLOW = ("*", 0, f"more than {MAX_ROWS} distinct rejects: counted here")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rejects (
    address TEXT NOT NULL, status INTEGER NOT NULL, reason TEXT NOT NULL, origin TEXT, path TEXT,
    first REAL NOT NULL, last REAL NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (address, status, reason));
"""


def rejects_path(db_path: str | Path) -> Path:
    """The rejects log beside a results database: ``results/<testId>.sqlite`` -> ``results/<testId>.rejects.sqlite``."""
    p = Path(db_path)
    return p.with_name(p.stem + ".rejects.sqlite")


class RejectLog:
    """Rejected submissions of one test in ``path``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return connect(self.path, synchronous="NORMAL")  # a log, not results: no fsync per reject

    def add(self, address: str | None, status: int, reason: str, *, origin: str | None = None,
            path: str | None = None) -> None:
        """Record one rejected request (``status`` the HTTP status answered, ``reason`` one line)."""
        now = time.time()
        key = (address or "?", int(status), " ".join(reason.split())[:MAX_REASON])
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                cur = conn.execute("UPDATE rejects SET count = count + 1, last = ?, origin = ?, path = ? "
                                   "WHERE address = ? AND status = ? AND reason = ?", (now, origin, path, *key))
                if cur.rowcount == 0:
                    n = conn.execute("SELECT COUNT(*) FROM rejects").fetchone()[0]
                    if n >= MAX_ROWS:
                        key, origin, path = _OVERFLOW, None, None
                    conn.execute("INSERT INTO rejects VALUES (?,?,?,?,?,?,?,1) ON CONFLICT(address, status, reason) "
                                 "DO UPDATE SET count = count + 1, last = excluded.last",
                                 (*key, origin, path, now, now))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def rows(self, limit: int = 1000) -> list[dict[str, Any]]:
        """The most recent ``limit`` rows (latest first): address, status, reason, origin, path, first, last, count."""
        with self._connect() as conn:
            rows = conn.execute("SELECT * FROM rejects ORDER BY last DESC LIMIT ?", (limit,)).fetchall()
        return [dict(r) for r in rows]

    def totals(self) -> dict[int, int]:
        """Rejected requests per HTTP status."""
        with self._connect() as conn:
            rows = conn.execute("SELECT status, SUM(count) FROM rejects GROUP BY status ORDER BY status").fetchall()
        return {int(s): int(n) for s, n in rows}
