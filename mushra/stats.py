"""Descriptive statistics of MUSHRA scores: mean and 95 % confidence interval (ITU-R BS.1534-3, section 9.3).

The interval is computed over all scores of a condition (every remaining assessor x item), as BS.1534-3 does:
half-width = t(0.975, N-1) * s / sqrt(N), with s the sample standard deviation (ddof=1) and N the number of
scores. Scores of one assessor are not independent, so this interval is narrower than one over per-assessor
means; the number of assessors is reported next to it so readers can judge.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import scipy.stats


def mean_ci95(values: Sequence[float]) -> tuple[float, float]:
    """(mean, 95 % CI half-width) of ``values``; half-width is NaN for fewer than two values, mean NaN for none."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return math.nan, math.nan
    mean = float(x.mean())
    if x.size < 2:
        return mean, math.nan
    s = float(x.std(ddof=1))
    return mean, float(scipy.stats.t.ppf(0.975, x.size - 1) * s / math.sqrt(x.size))
