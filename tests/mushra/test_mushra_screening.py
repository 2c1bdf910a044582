"""BS.1534-3 post-screening edge cases and the confidence interval against a hand computation."""

from __future__ import annotations

import math

import pytest

from mushra.screening import screen
from mushra.stats import mean_ci95


def _ratings(listener: str, ref_scores: list[float], anchor_scores: list[float] | None = None) -> list[dict]:
    out = []
    for i, s in enumerate(ref_scores):
        out.append({"listener": listener, "trial_id": f"t{i}", "stimulus": "reference", "score": s})
        out.append({"listener": listener, "trial_id": f"t{i}", "stimulus": "voc", "score": 50})
        if anchor_scores is not None:
            out.append({"listener": listener, "trial_id": f"t{i}", "stimulus": "anchor70", "score": anchor_scores[i]})
    return out


def test_exactly_15_percent_is_kept_just_over_is_excluded() -> None:
    kept = _ratings("a", [89] * 3 + [100] * 17)        # 3/20 = 15 %
    over = _ratings("b", [89] * 4 + [100] * 16)        # 4/20 = 20 %
    small = _ratings("c", [89.9] + [100] * 5)          # 1/6 = 16.7 % > 15 %
    boundary = _ratings("d", [90] * 20)                # 90 is not below 90
    res = {r.listener: r for r in screen(kept + over + small + boundary)}
    assert not res["a"].excluded and res["a"].reference_below == 3 and res["a"].n_items == 20
    assert res["b"].excluded and "4 of 20" in res["b"].reasons[0]
    assert res["c"].excluded
    assert not res["d"].excluded


def test_many_items_exact_fraction() -> None:
    # 15 of 100 is exactly 15 % (0.15 * 100 in floating point must not flip the decision).
    res = screen(_ratings("a", [10] * 15 + [95] * 85) + _ratings("b", [10] * 16 + [95] * 84))
    assert [r.excluded for r in res] == [False, True]


def test_mid_anchor_criterion_and_both() -> None:
    anchor_only = _ratings("a", [100] * 10, [95, 95] + [40] * 8)          # 20 % anchor > 90
    anchor_ok = _ratings("b", [100] * 10, [91] + [90] * 9)                 # 10 % > 90; 90 itself is fine
    both = _ratings("c", [50] * 10, [100] * 10)
    res = {r.listener: r for r in screen(anchor_only + anchor_ok + both)}
    assert res["a"].excluded and len(res["a"].reasons) == 1 and "anchor70" in res["a"].reasons[0]
    assert not res["b"].excluded and res["b"].anchor_above == 1
    assert res["c"].excluded and len(res["c"].reasons) == 2


def test_no_anchor_in_test_only_reference_counts() -> None:
    res = screen(_ratings("a", [100] * 5))
    assert not res[0].excluded and res[0].n_anchor_items == 0


def test_ci_matches_hand_computation() -> None:
    x = [70, 80, 90, 60, 75]
    # mean 75, s^2 = (25+25+225+225+0)/4 = 125, t(0.975, 4) = 2.7764451051977987
    mean, ci = mean_ci95(x)
    assert mean == pytest.approx(75.0)
    assert ci == pytest.approx(2.7764451051977987 * math.sqrt(125) / math.sqrt(5), rel=1e-9)
    assert ci == pytest.approx(13.882, abs=1e-3)


def test_ci_degenerate() -> None:
    assert math.isnan(mean_ci95([])[0])
    m, ci = mean_ci95([42])
    assert m == 42 and math.isnan(ci)
    assert mean_ci95([50, 50, 50]) == (50.0, 0.0)


def test_items_rated_against_the_test_size() -> None:
    ratings = _ratings("full", [100] * 4) + _ratings("part", [100])
    res = {r.listener: r for r in screen(ratings, items_total=4)}
    assert (res["full"].items_rated, res["full"].excluded) == (4, False)
    assert (res["part"].items_rated, res["part"].items_total, res["part"].excluded) == (1, 4, True)
    assert "rated 1 of 4 items" in res["part"].reasons[0]
    lenient = {r.listener: r for r in screen(ratings, items_total=4, require_all=False)}
    assert not lenient["part"].excluded and lenient["part"].items_rated == 1
