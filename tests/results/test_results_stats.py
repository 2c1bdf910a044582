import math

import numpy as np
import pytest
from scipy import stats

from bench.results.stats import summarize


def test_ci_by_hand():
    x = [1.0, 2.0, 3.0, 4.0, 6.0]
    s = summarize(x)
    mean = 3.2
    sd = math.sqrt(sum((v - mean) ** 2 for v in x) / 4)
    assert s.mean == pytest.approx(mean)
    assert s.ci95 == pytest.approx(2.7764451051977987 * sd / math.sqrt(5))
    assert s.n == 5


def test_degenerate():
    assert math.isnan(summarize([]).mean)
    one = summarize([2.0])
    assert one.mean == 2.0 and math.isnan(one.ci95)


def test_coverage_simulation():
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(400):
        s = summarize(rng.normal(1.0, 2.0, size=8))
        hits += abs(s.mean - 1.0) <= s.ci95
    assert 0.92 < hits / 400 < 0.98
    assert stats.t.ppf(0.975, 7) > 2.3
