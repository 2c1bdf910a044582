"""The durable log of rejected submissions."""

from __future__ import annotations

from pathlib import Path

import mushra.rejects as rj


def test_counts_identical_rejects_on_one_row(tmp_path: Path) -> None:
    log = rj.RejectLog(rj.rejects_path(tmp_path / "results" / "t.sqlite"))
    assert log.path.name == "t.rejects.sqlite"
    for _ in range(3):
        log.add("192.0.2.1", 429, "too many submissions", path="/service/write.php")
    log.add("192.0.2.1", 403, "cross-site submission:\n  Origin https://evil.example", origin="https://evil.example")
    rows = {r["status"]: r for r in rj.RejectLog(log.path).rows()}  # reopened: stored durably
    assert rows[429]["count"] == 3 and rows[429]["path"] == "/service/write.php"
    assert rows[403]["reason"] == "cross-site submission: Origin https://evil.example"  # one line
    assert log.totals() == {403: 1, 429: 3}


def test_row_count_is_bounded(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(rj, "MAX_ROWS", 5)
    monkeypatch.setattr(rj, "_OVERFLOW", ("*", 0, "overflow"))
    log = rj.RejectLog(tmp_path / "r.sqlite")
    for i in range(8):
        log.add(f"192.0.2.{i}", 400, f"reason {i}")
    rows = log.rows()
    assert len(rows) == 6
    assert {r["reason"]: r["count"] for r in rows}["overflow"] == 3
    assert sum(log.totals().values()) == 8
