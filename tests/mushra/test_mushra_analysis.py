"""Analysis over stored sessions: screening applied, per-domain rows, written reports, condition_summary."""

from __future__ import annotations

import json
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
