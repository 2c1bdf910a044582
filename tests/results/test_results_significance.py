"""bench.results.significance against scipy (the real counterpart) and statsmodels' Holm on constructed data."""

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from bench.errors import BenchError
from bench.results.significance import (bootstrap_ci, compare_with_best, exact_conditional_p, holm, min_wilcoxon_p,
                                        not_worse_than_best, paired_test, pairwise, with_holm)
from numerics import F64_EPS, assert_close_f32

EXACT = stats.PermutationMethod(n_resamples=np.inf)  # scipy enumerates every sign pattern


def _close(actual, expected, what=""):
    # p-values and statistics of order 1 computed two ways in float64: a few hundred eps of the value's scale
    assert_close_f32(actual, expected, ulps=1000, eps=F64_EPS, scale=max(abs(expected), 1e-300), what=what)


def _t(d, **kw):
    d = np.asarray(d, dtype=float)
    return paired_test("a", d, "b", np.zeros_like(d), higher_is_better=True, **kw)


# -- Wilcoxon ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [6, 7, 10, 20, 50])
def test_wilcoxon_without_ties_is_scipys_exact_test(n):
    rng = np.random.default_rng(n)
    d = rng.normal(0.4, 1.0, n)
    c = _t(d)
    ref = stats.wilcoxon(d, method="exact")
    assert c.method == "exact" and c.n_nonzero == n
    assert c.statistic == ref.statistic
    _close(c.p, ref.pvalue, "p")


@pytest.mark.parametrize("n", [2, 5, 8, 13])
def test_exact_conditional_distribution_equals_scipys_full_permutation_test(n):
    rng = np.random.default_rng(100 + n)
    d = rng.integers(-3, 5, n).astype(float)
    d[d == 0] = 1.0  # no zeros
    d[-1] = -d[0]  # at least one tie in |d|
    ref = stats.wilcoxon(d, method=EXACT)
    _close(exact_conditional_p(d), ref.pvalue, "p")
    c = _t(d)
    assert c.method == "exact (ties)"
    _close(c.p, ref.pvalue)
    assert c.statistic == ref.statistic


def test_exact_conditional_without_ties_is_the_classic_exact_distribution():
    rng = np.random.default_rng(7)
    for n in (6, 15, 30):
        d = rng.normal(0.2, 1.0, n)
        _close(exact_conditional_p(d), stats.wilcoxon(d, method="exact").pvalue)


def test_ties_at_n_30_agree_with_scipys_monte_carlo_permutation_test():
    rng = np.random.default_rng(3)
    d = np.round(rng.normal(0.35, 1.0, 30), 1)
    d[d == 0] = 0.1
    ours = exact_conditional_p(d)
    mc = stats.wilcoxon(d, method=stats.PermutationMethod(n_resamples=20_000, rng=np.random.default_rng(0))).pvalue
    # Monte Carlo standard error sqrt(p(1-p)/N): allow 5 of them
    assert abs(ours - mc) < 5 * math.sqrt(ours * (1 - ours) / 20_000) + 1e-5
    assert 0.001 < ours < 0.5  # a p in the range where the comparison means something


def test_zeros_are_dropped_as_scipys_wilcox_zero_method():
    d = np.array([0.0, 0.0, 1.5, -0.5, 2.0, 2.5, 3.0, 3.5, 0.0, 4.0])
    c = _t(d)
    assert c.n == 10 and c.n_nonzero == 7
    _close(c.p, stats.wilcoxon(d, zero_method="wilcox", method=EXACT).pvalue)
    _close(c.p, stats.wilcoxon(d[d != 0], method="exact").pvalue)


def test_n_below_6_cannot_be_significant_and_says_so():
    c = _t([1.0, 2.0, 3.0, 4.0, 5.0])  # every sign the same: the most extreme outcome
    assert c.p == pytest.approx(0.0625) and c.p == stats.wilcoxon([1.0, 2, 3, 4, 5], method="exact").pvalue
    assert not c.significant and c.better is None
    assert "smallest possible p is 0.0625" in c.note and "cannot be significant" in c.note
    six = _t([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    assert six.p == pytest.approx(0.03125) and six.significant and six.better == "a"
    assert "cannot be significant" not in six.note
    assert [min_wilcoxon_p(k) for k in (1, 5, 6)] == [1.0, 0.0625, 0.03125]


def test_small_n_with_ties_never_uses_the_normal_approximation():
    d = np.array([1.0, 1.0, 2.0, 2.0, 3.0])  # ties, every sign +
    c = _t(d)
    assert c.method == "exact (ties)" and c.p == pytest.approx(0.0625) and not c.significant
    _close(c.p, stats.wilcoxon(d, method=EXACT).pvalue)
    # the normal approximation would call this significant although no outcome of 5 signs can be
    assert stats.wilcoxon(d, method="asymptotic").pvalue < 0.05


def test_n_1_and_all_zero_differences():
    one = _t([2.0])
    assert one.p == stats.wilcoxon([2.0]).pvalue == 1.0 and one.n == 1 and math.isnan(one.ci_low)
    zero = _t([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    assert (zero.p, zero.statistic, zero.effect_size, zero.n_nonzero) == (1.0, 0.0, 0.0, 0)
    assert "all differences zero" in zero.note and not zero.significant
    assert zero.ci_low == zero.ci_high == 0.0
    tz = _t([0.0] * 4, test="t")
    assert (tz.p, tz.effect_size) == (1.0, 0.0)
    t1 = _t([2.0], test="t")
    assert math.isnan(t1.p) and "at least 2" in t1.note and not t1.significant


def test_large_n_uses_scipys_normal_approximation_with_tie_correction():
    rng = np.random.default_rng(11)
    d = np.round(rng.normal(0.1, 1.0, 400), 1)  # ties and zeros
    c = _t(d)
    assert c.method == "normal approximation" and c.n_nonzero == int((d != 0).sum())
    ref = stats.wilcoxon(d, zero_method="wilcox", correction=False, method="asymptotic")
    _close(c.p, ref.pvalue)
    assert c.statistic == ref.statistic
    # scipy's default for n > 50 is the same computation
    _close(c.p, stats.wilcoxon(d).pvalue)


def test_rank_biserial_from_scipys_rank_sum():
    rng = np.random.default_rng(5)
    d = rng.normal(0.3, 1.0, 12)
    t_plus = stats.wilcoxon(d, alternative="greater", method="exact").statistic
    total = 12 * 13 / 2
    c = _t(d)
    _close(c.effect_size, (t_plus - (total - t_plus)) / total)
    assert c.effect_name == "rank-biserial r"
    # by hand: d = [1, -2, 3] -> ranks 1, 2, 3; T+ = 4, T- = 2 -> r = 2/6
    assert _t([1.0, -2.0, 3.0]).effect_size == pytest.approx(1 / 3)


def test_paired_t_is_scipys_ttest_rel_with_cohens_dz():
    rng = np.random.default_rng(9)
    a, b = rng.normal(1.0, 1.0, 15), rng.normal(0.5, 1.0, 15)
    c = paired_test("a", a, "b", b, higher_is_better=True, test="t")
    ref = stats.ttest_rel(a, b)
    _close(c.statistic, ref.statistic)
    _close(c.p, ref.pvalue)
    d = a - b
    _close(c.effect_size, d.mean() / d.std(ddof=1))
    assert c.effect_name == "Cohen's d_z" and c.method == "t"


def test_nan_pairs_are_left_out_and_counted():
    a = np.array([1.0, 2.0, np.nan, 4.0, 5.0, 6.0, 7.0])
    b = np.array([0.0, 0.5, 1.0, 1.0, np.nan, 1.5, 2.0])
    c = paired_test("a", a, "b", b, higher_is_better=True)
    keep = ~(np.isnan(a) | np.isnan(b))
    ref = paired_test("a", a[keep], "b", b[keep], higher_is_better=True)
    assert c.n == 5 and c.p == ref.p and "2 item(s) with a NaN left out" in c.note


def test_bad_input_is_one_error():
    with pytest.raises(BenchError, match="unknown test"):
        _t([1.0, 2.0], test="anova")
    with pytest.raises(BenchError, match="not paired"):
        paired_test("a", np.ones(3), "b", np.ones(4), higher_is_better=True)
    with pytest.raises(BenchError, match="no paired items"):
        paired_test("a", np.array([np.nan]), "b", np.array([1.0]), higher_is_better=True)


# -- bootstrap ----------------------------------------------------------------------------------------------
def test_bootstrap_percentile_interval_agrees_with_scipy():
    rng = np.random.default_rng(2)
    d = rng.gamma(2.0, 1.0, 40) - 1.5  # skewed
    lo, hi = bootstrap_ci(d, n_boot=20000, seed=1)
    ref = stats.bootstrap((d,), np.mean, n_resamples=20000, method="percentile",
                          rng=np.random.default_rng(2)).confidence_interval
    se = d.std(ddof=1) / math.sqrt(d.size)
    # Monte Carlo error of a 2.5% quantile from 20000 resamples is ~0.02 se per estimate: allow 0.1 se
    assert abs(lo - ref.low) < 0.1 * se and abs(hi - ref.high) < 0.1 * se
    assert lo < d.mean() < hi


def test_bootstrap_is_seeded():
    d = np.random.default_rng(4).normal(size=20)
    assert bootstrap_ci(d, n_boot=500, seed=3) == bootstrap_ci(d, n_boot=500, seed=3)
    assert bootstrap_ci(d, n_boot=500, seed=3) != bootstrap_ci(d, n_boot=500, seed=4)
    c = _t(d, n_boot=500, seed=3)
    assert (c.ci_low, c.ci_high, c.n_boot, c.seed) == (*bootstrap_ci(d, n_boot=500, seed=3), 500, 3)
    assert all(math.isnan(x) for x in bootstrap_ci(d, n_boot=0))


def test_small_samples_say_the_bootstrap_interval_undercovers():
    two = _t([1.0, 3.0])
    assert (two.ci_low, two.ci_high) == (1.0, 3.0)  # resample means are 1, 2 or 3: the interval is the range
    assert "bootstrap CI over 2 items" in two.note
    assert "bootstrap" not in _t(np.arange(1.0, 11.0)).note
    assert "bootstrap" not in _t([1.0, 3.0], n_boot=0).note


# -- Holm -----------------------------------------------------------------------------------------------------
def test_holm_by_hand():
    # sorted 0.005, 0.01, 0.03, 0.04 (m=4): x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> monotone 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    out = holm([0.01, math.nan, 0.5])
    assert out[0] == pytest.approx(0.02) and math.isnan(out[1]) and out[2] == pytest.approx(0.5)
    assert holm([0.6, 0.7]) == [1.0, 1.0] and holm([]) == []


@pytest.mark.parametrize("seed", range(5))
def test_holm_matches_statsmodels(seed):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0, 0.1, 12) ** rng.uniform(0.5, 3)
    p[3] = p[7]  # a tie
    reject, ref, _, _ = multipletests(p, alpha=0.05, method="holm")
    ours = holm(p)
    assert_close_f32(ours, ref, ulps=4, eps=F64_EPS)
    assert [x < 0.05 for x in ours] == list(reject)


# -- families -------------------------------------------------------------------------------------------------
def _systems(higher_is_better):
    """best; tied: differences from best +-m in pairs, the minus one 1% larger (p near 1); worse: 0.5 below."""
    rng = np.random.default_rng(0)
    base = rng.normal(0.0, 1.0, 30)
    sign = 1 if higher_is_better else -1
    m = np.repeat(rng.uniform(0.1, 1.0, 15), 2) * np.tile([1.0, -1.01], 15)
    return {
        "tied": {f"c{i}": base[i] + sign * (1.0 + m[i]) for i in range(30)},
        "best": {f"c{i}": base[i] + sign * 1.0 for i in range(30)},
        "worse": {f"c{i}": base[i] - sign * 0.5 + rng.normal(0, 0.1) for i in range(30)},
    }


@pytest.mark.parametrize("higher", [True, False])
def test_compare_with_best(higher):
    best, comps = compare_with_best(_systems(higher), higher_is_better=higher, n_boot=200)
    assert best == "best" and set(comps) == {"tied", "worse"}
    worse = comps["worse"]
    assert (worse.a, worse.b) == ("worse", "best")
    assert worse.significant and worse.better == "best" and worse.worse == "worse"
    assert not not_worse_than_best(worse)
    assert not_worse_than_best(comps["tied"]) and comps["tied"].p > 0.5
    assert (worse.mean_diff < 0) == higher
    raw = [paired_test(s, np.array(list(v.values())), "best", np.array(list(_systems(higher)["best"].values())),
                       higher_is_better=higher, n_boot=0).p for s, v in _systems(higher).items() if s != "best"]
    assert [c.p_holm for c in comps.values()] == pytest.approx(holm(raw))


def test_compare_with_best_pairs_shared_items_only():
    vals = {"x": {"c1": 1.0, "c2": 2.0, "c3": 3.0}, "y": {"c2": 1.0, "c3": 1.0, "c4": 9.0}}
    best, comps = compare_with_best(vals, higher_is_better=True, n_boot=0)
    assert best == "y"  # mean 3.67 over its own items
    assert comps["x"].n == 2 and comps["x"].mean_diff == pytest.approx(1.5)


def test_a_pair_without_shared_items_is_untested_not_an_error():
    vals = {"x": {"c1": 1.0, "c2": 2.0}, "y": {"c3": 1.0, "c4": 2.0}, "z": {"c1": 0.0, "c2": 0.5, "c3": 0.1}}
    comps = pairwise(vals, higher_is_better=True, n_boot=0)
    xy = comps[0]
    assert (xy.a, xy.b, xy.n) == ("x", "y", 0) and math.isnan(xy.p) and math.isnan(xy.p_holm)
    assert xy.note == "no item scored for both: not tested" and not xy.significant
    assert [c.p_holm for c in comps[1:]] == pytest.approx(holm([c.p for c in comps[1:]]))  # family of 2
    best, with_best = compare_with_best({"x": vals["x"], "y": vals["y"]}, higher_is_better=True, n_boot=0)
    assert math.isnan(with_best["y" if best == "x" else "x"].p)


def test_pairwise_holm_across_all_pairs():
    vals = _systems(True)
    comps = pairwise(vals, higher_is_better=True, n_boot=0)
    assert [(c.a, c.b) for c in comps] == [("tied", "best"), ("tied", "worse"), ("best", "worse")]
    assert [c.p_holm for c in comps] == pytest.approx(holm([c.p for c in comps]))
    assert comps[2].better == "best"


def test_with_holm_redecides_significance():
    c = _t([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])  # p = 0.03125
    assert c.significant
    fam = with_holm([c, c, c])
    assert all(x.p_holm == pytest.approx(0.09375) and not x.significant and x.better is None for x in fam)
