"""Paired significance between systems scored on the same items (clips, or assessors in a listening test).

Every clip is scored for every vocoder, so two vocoders are compared by their per-item differences
``d = a - b``. The rules (also in the README, "Significance"):

- **Test.** Wilcoxon signed-rank by default (no normality assumption), paired t optional. Two-sided.
- **Zero differences** (both systems scored the same on an item) are dropped before ranking (Wilcoxon's own
  rule, scipy's ``zero_method="wilcox"``); ``n_nonzero`` says how many items were ranked. If every difference is
  zero the systems are identical on these items: statistic 0, p = 1, effect 0, with a note.
- **p-value of the Wilcoxon test.** For up to :data:`EXACT_MAX_N` non-zero differences the p-value is exact:
  without ties in ``|d|`` scipy's exact null distribution (``method="exact"``); with ties the exact *conditional*
  distribution of the signed midranks (each sign + or - with probability 1/2; enumerated here by convolution,
  checked against scipy's permutation test). Above that, scipy's normal approximation with the tie correction of
  the variance and no continuity correction (``method="asymptotic"``). The normal approximation is never used
  for small samples: there it can fall below the smallest p the exact test can give.
- **Small n.** With ``k`` non-zero differences the smallest two-sided Wilcoxon p is ``2 / 2**k`` (every sign the
  same); for ``k <= 5`` that is >= 0.0625, so no difference can be significant at alpha = 0.05, whatever the
  data. The comparison says so in its ``note``. The paired t test needs n >= 2 (p is NaN below).
- **Effect size.** Wilcoxon: the matched-pairs rank-biserial correlation ``(T+ - T-) / (T+ + T-)`` over the
  ranks of the non-zero differences (Kerby 2014; -1..1, positive when ``a`` tends to score higher). Paired t:
  Cohen's ``d_z = mean(d) / sd(d)`` (ddof=1).
- **Which is better.** Only when the (Holm-corrected) test is significant: the system favoured by the sign of the
  effect size (the quantity the test looked at), given the metric's direction.
- **CI.** Percentile bootstrap 95% interval of the mean paired difference: ``n_boot`` resamples of the items with
  replacement from ``numpy.random.default_rng(seed)``; NaN for n < 2 or ``n_boot=0``. Below 10 items the note
  says that the interval undercovers (it can never be wider than the range of the differences).
- **NaN.** An item with a NaN (or missing) value on either side is not a pair: it is left out and counted in
  the note.
- **Holm.** :func:`holm` over a family of p-values; NaN p-values (no test possible) are not part of the family.
  A comparison is significant when its Holm-adjusted p is below alpha.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats as _st

from bench.errors import BenchError

TESTS = ("wilcoxon", "t")
#: Largest number of non-zero differences whose Wilcoxon p-value is computed exactly.
EXACT_MAX_N = 50
#: Below this many items the percentile bootstrap interval is noted as too narrow.
SMALL_BOOTSTRAP_N = 10
#: Effect size names, per test.
EFFECT_NAMES = {"wilcoxon": "rank-biserial r", "t": "Cohen's d_z"}


@dataclass(frozen=True)
class Comparison:
    """``a`` vs ``b`` over ``n`` paired items; ``diff = a - b`` (units of the metric).

    ``statistic`` is Wilcoxon's ``min(T+, T-)`` or the paired t; ``p`` two-sided, ``p_holm`` after Holm across the
    family it was tested in (``p`` itself for a single comparison). ``better`` names the better system given the
    metric's direction, only when ``significant`` (``p_holm < alpha``).
    """

    a: str
    b: str
    n: int
    mean_diff: float
    ci_low: float
    ci_high: float
    test: str
    statistic: float
    p: float
    p_holm: float
    effect_size: float
    effect_name: str
    significant: bool
    better: str | None
    # -- extensions (defaults keep the agreed constructor working) --
    mean_a: float = math.nan
    mean_b: float = math.nan
    higher_is_better: bool = True
    alpha: float = 0.05
    method: str = ""          # how p was computed: "exact", "exact (ties)", "normal approximation", "t"
    n_nonzero: int = -1       # Wilcoxon: items with a non-zero difference (ranked); -1 for the t test
    n_boot: int = 0
    seed: int = 0
    note: str = ""            # why a comparison cannot be significant, dropped pairs, ...

    @property
    def worse(self) -> str | None:
        """The significantly worse system, if any."""
        if self.better is None:
            return None
        return self.b if self.better == self.a else self.a


def holm(p: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the order given.

    With the m finite p-values sorted ascending, ``p_adj(i) = max_{j <= i} min(1, (m - j + 1) * p(j))``
    (1-based). NaN entries (comparisons that could not be tested) stay NaN and do not count in m.
    """
    arr = np.asarray(p, dtype=np.float64)
    out = np.full(arr.shape, math.nan)
    idx = np.flatnonzero(~np.isnan(arr))
    m = idx.size
    if m:
        order = idx[np.argsort(arr[idx], kind="stable")]
        scaled = np.minimum(1.0, (m - np.arange(m)) * arr[order])
        out[order] = np.maximum.accumulate(scaled)
    return [float(x) for x in out]


# -- Wilcoxon ---------------------------------------------------------------------------------------------
def _signed_rank_sums(d: np.ndarray) -> tuple[float, float, np.ndarray]:
    """(T+, T-, midranks of |d|) of non-zero differences ``d``."""
    ranks = _st.rankdata(np.abs(d))
    return float(ranks[d > 0].sum()), float(ranks[d < 0].sum()), ranks


def exact_conditional_p(d: np.ndarray) -> float:
    """Two-sided p of the Wilcoxon signed-rank test on non-zero differences ``d`` (shape (k,)), exact given the
    observed midranks: under H0 each rank's sign is + or - with probability 1/2, independently.

    Midranks are multiples of 1/2, so ``2 * T+`` is an integer; its null distribution is the convolution of
    k two-point distributions {0, 2 r_i}, computed on an integer grid of size k (k + 1) + 1.
    """
    t_plus, _, ranks = _signed_rank_sums(d)
    twice = np.rint(2 * ranks).astype(np.int64)
    dist = np.zeros(int(twice.sum()) + 1)
    dist[0] = 1.0
    for r in twice:
        # each sign pattern with this rank negative (no shift) or positive (shift by r), probability 1/2 each
        shifted = np.zeros_like(dist)
        shifted[r:] = dist[: dist.size - r]
        dist = 0.5 * (dist + shifted)
    k = int(round(2 * t_plus))
    p_low = float(dist[: k + 1].sum())   # P(2T+ <= observed)
    p_high = float(dist[k:].sum())       # P(2T+ >= observed)
    return min(1.0, 2.0 * min(p_low, p_high))


def _wilcoxon(d: np.ndarray) -> tuple[float, float, float, str, int]:
    """(statistic min(T+, T-), p, rank-biserial r, method, k) of the paired differences ``d``."""
    nz = d[d != 0]
    k = int(nz.size)
    if k == 0:
        return 0.0, 1.0, 0.0, "all differences zero", 0
    t_plus, t_minus, ranks = _signed_rank_sums(nz)
    r = (t_plus - t_minus) / (t_plus + t_minus)
    ties = np.unique(ranks).size < k
    if k <= EXACT_MAX_N and not ties:
        res = _st.wilcoxon(nz, zero_method="wilcox", method="exact")
        return float(res.statistic), float(res.pvalue), r, "exact", k
    if k <= EXACT_MAX_N:
        return min(t_plus, t_minus), exact_conditional_p(nz), r, "exact (ties)", k
    res = _st.wilcoxon(nz, zero_method="wilcox", correction=False, method="asymptotic")
    return float(res.statistic), float(res.pvalue), r, "normal approximation", k


def min_wilcoxon_p(k: int) -> float:
    """Smallest two-sided p the exact Wilcoxon test can give with ``k`` non-zero differences: 2 / 2**k."""
    return min(1.0, 2.0 ** (1 - k)) if k > 0 else 1.0


# -- paired t -------------------------------------------------------------------------------------------
def _paired_t(d: np.ndarray) -> tuple[float, float, float, str]:
    """(t, p, Cohen's d_z, note) of the paired differences ``d``."""
    n = d.size
    if n < 2:
        return math.nan, math.nan, math.nan, f"n={n}: the paired t test needs at least 2 items"
    if np.all(d == 0):
        return 0.0, 1.0, 0.0, "all differences zero"
    sd = float(d.std(ddof=1))
    mean = float(d.mean())
    res = _st.ttest_1samp(d, 0.0)
    dz = math.copysign(math.inf, mean) if sd == 0 else mean / sd
    note = "every difference is the same (sd = 0)" if sd == 0 else ""
    return float(res.statistic), float(res.pvalue), dz, note


# -- bootstrap --------------------------------------------------------------------------------------------
def bootstrap_ci(d: np.ndarray, *, n_boot: int = 10000, seed: int = 0, level: float = 0.95,
                 chunk: int = 2000) -> tuple[float, float]:
    """Percentile bootstrap interval of mean(d): ``n_boot`` resamples of the n items with replacement.

    ``d`` shape (n,). NaN, NaN for n < 2 or n_boot = 0. Resamples are drawn ``chunk`` at a time (memory
    ``chunk * n`` indices); the draws depend only on ``seed``, ``n_boot`` and n.
    """
    d = np.asarray(d, dtype=np.float64)
    n = d.size
    if n < 2 or n_boot <= 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = d[idx].mean(axis=1)
    tail = (1.0 - level) / 2 * 100
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return float(lo), float(hi)


# -- comparisons --------------------------------------------------------------------------------------------
def _decide(c: Comparison) -> Comparison:
    """``significant`` and ``better`` from ``p_holm``, ``alpha``, the effect's sign and the metric's direction."""
    significant = bool(c.p_holm < c.alpha) if not math.isnan(c.p_holm) else False
    better = None
    if significant and c.effect_size != 0 and not math.isnan(c.effect_size):
        a_higher = c.effect_size > 0
        better = c.a if a_higher == c.higher_is_better else c.b
    return replace(c, significant=significant, better=better)


def paired_test(a_name: str, a: np.ndarray, b_name: str, b: np.ndarray, *, higher_is_better: bool,
                test: str = "wilcoxon", n_boot: int = 10000, seed: int = 0, alpha: float = 0.05) -> Comparison:
    """Compare ``a`` and ``b`` (shape (n,), same item order) by a paired two-sided test; ``p_holm = p``.

    Pairs with a NaN on either side are left out (counted in the note). Raises :class:`BenchError` for an unknown
    test, unequal lengths or no pair left.
    """
    if test not in TESTS:
        raise BenchError(f"unknown test {test!r}: use one of {', '.join(TESTS)}")
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise BenchError(f"{a_name} vs {b_name}: {a.size} and {b.size} values are not paired items")
    keep = ~(np.isnan(a) | np.isnan(b))
    notes = []
    if not keep.all():
        notes.append(f"{int((~keep).sum())} item(s) with a NaN left out")
    a, b = a[keep], b[keep]
    n = int(a.size)
    if n == 0:
        raise BenchError(f"{a_name} vs {b_name}: no paired items")
    d = a - b
    if test == "wilcoxon":
        stat, p, effect, method, k = _wilcoxon(d)
        if k and min_wilcoxon_p(k) >= alpha:
            notes.append(f"{k} non-zero difference(s): the smallest possible p is {min_wilcoxon_p(k):.4g} "
                         f">= alpha {alpha:g}, cannot be significant")
        if k == 0:
            notes.append("all differences zero")
    else:
        stat, p, effect, why = _paired_t(d)
        method, k = "t", -1
        if why:
            notes.append(why)
    lo, hi = bootstrap_ci(d, n_boot=n_boot, seed=seed)
    if 2 <= n < SMALL_BOOTSTRAP_N and n_boot > 0:
        notes.append(f"bootstrap CI over {n} items: it cannot be wider than the range of the differences and "
                     "covers less than 95%")
    c = Comparison(a_name, b_name, n, float(d.mean()), lo, hi, test, stat, p, p, effect, EFFECT_NAMES[test],
                   False, None, mean_a=float(a.mean()), mean_b=float(b.mean()), higher_is_better=higher_is_better,
                   alpha=alpha, method=method, n_nonzero=k, n_boot=n_boot if n >= 2 else 0, seed=seed,
                   note="; ".join(notes))
    return _decide(c)


def with_holm(comparisons: Sequence[Comparison]) -> list[Comparison]:
    """The comparisons with ``p_holm`` adjusted across all of them (one family) and decisions redone."""
    adjusted = holm([c.p for c in comparisons])
    return [_decide(replace(c, p_holm=p)) for c, p in zip(comparisons, adjusted)]


def _pair(values: Mapping[str, Mapping[str, float]], a: str, b: str) -> tuple[np.ndarray, np.ndarray]:
    shared = [i for i in values[a] if i in values[b]]
    return (np.array([values[a][i] for i in shared], dtype=np.float64),
            np.array([values[b][i] for i in shared], dtype=np.float64))


def _compare(values: Mapping[str, Mapping[str, float]], a_name: str, b_name: str, **kw) -> Comparison:
    """:func:`paired_test` over the shared items of two systems; with no pair left, an untested comparison (NaN p,
    outside the Holm family) whose note says so, so that one such pair does not stop a whole family."""
    a, b = _pair(values, a_name, b_name)
    keep = ~(np.isnan(a) | np.isnan(b))
    if not keep.any():
        return Comparison(a_name, b_name, 0, math.nan, math.nan, math.nan, kw["test"], math.nan, math.nan, math.nan,
                          math.nan, EFFECT_NAMES[kw["test"]], False, None,
                          mean_a=_mean(values[a_name]), mean_b=_mean(values[b_name]),
                          higher_is_better=kw["higher_is_better"], alpha=kw["alpha"], n_boot=0, seed=kw["seed"],
                          note="no item scored for both: not tested")
    return paired_test(a_name, a, b_name, b, **kw)


def _mean(v: Mapping[str, float]) -> float:
    x = np.array([x for x in v.values() if not math.isnan(x)], dtype=np.float64)
    return float(x.mean()) if x.size else math.nan


def best_system(values: Mapping[str, Mapping[str, float]], *, higher_is_better: bool) -> str:
    """The system with the best mean over its items (first in order on a tie)."""
    means = {s: _mean(v) for s, v in values.items()}
    ranked = [s for s in values if not math.isnan(means[s])]
    if not ranked:
        raise BenchError("no system has a value")
    pick = max if higher_is_better else min
    return pick(ranked, key=lambda s: means[s])


def compare_with_best(values: Mapping[str, Mapping[str, float]], *, higher_is_better: bool, test: str = "wilcoxon",
                      alpha: float = 0.05, n_boot: int = 10000, seed: int = 0,
                      correct: bool = True) -> tuple[str, dict[str, Comparison]]:
    """Compare every system with the best one (``values``: system -> item -> value), paired over shared items.

    Returns (best, {system: Comparison(a=system, b=best)}) for every other system, Holm-corrected across these
    comparisons (``correct=False`` leaves ``p_holm = p``, for a caller that corrects across a larger family
    with :func:`with_holm`). A system sharing no item with the best gets an untested comparison (NaN p, a note).
    """
    best = best_system(values, higher_is_better=higher_is_better)
    out = {}
    for s in values:
        if s == best:
            continue
        out[s] = _compare(values, s, best, higher_is_better=higher_is_better, test=test, n_boot=n_boot, seed=seed,
                          alpha=alpha)
    if correct:
        out = dict(zip(out, with_holm(list(out.values()))))
    return best, out


def pairwise(values: Mapping[str, Mapping[str, float]], *, higher_is_better: bool, test: str = "wilcoxon",
             alpha: float = 0.05, n_boot: int = 10000, seed: int = 0) -> list[Comparison]:
    """Every pair (a, b) with a before b in ``values``' order, paired over shared items, Holm across all pairs (a
    pair sharing no item is an untested comparison, as in :func:`compare_with_best`)."""
    names = list(values)
    out = []
    for i, a_name in enumerate(names):
        for b_name in names[i + 1:]:
            out.append(_compare(values, a_name, b_name, higher_is_better=higher_is_better, test=test,
                                n_boot=n_boot, seed=seed, alpha=alpha))
    return with_holm(out)


def not_worse_than_best(c: Comparison) -> bool:
    """Whether ``c.a`` is not significantly worse than ``c.b`` (the best) after correction."""
    return c.worse != c.a
