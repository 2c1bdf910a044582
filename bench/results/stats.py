"""Summary statistics: mean and 95% confidence interval (Student's t)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st


@dataclass(frozen=True)
class Summary:
    mean: float
    ci95: float  # half-width; nan for n < 2
    n: int
    std: float


def summarize(values: Sequence[float]) -> Summary:
    """Mean ± t(0.975, n-1) * s / sqrt(n) of ``values`` (sample standard deviation, ddof=1)."""
    x = np.asarray(values, dtype=np.float64)
    n = int(x.size)
    if n == 0:
        return Summary(math.nan, math.nan, 0, math.nan)
    mean = float(x.mean())
    if n < 2:
        return Summary(mean, math.nan, 1, math.nan)
    s = float(x.std(ddof=1))
    return Summary(mean, float(_st.t.ppf(0.975, n - 1)) * s / math.sqrt(n), n, s)
