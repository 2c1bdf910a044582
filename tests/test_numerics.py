"""The test suite's float comparison: relative to the values' scale and float32 epsilon, and still strict."""

from __future__ import annotations

import numpy as np
import pytest
from numerics import F32_EPS, assert_close_f32, max_error_ulps


def _reordered_sum(x: np.ndarray) -> tuple[np.float32, np.float32]:
    """The same float32 sum in two orders (what another CPU's SIMD width does)."""
    return np.float32(np.sum(x, dtype=np.float32)), np.float32(sum(x[::-1].tolist(), np.float32(0)))


def test_summation_order_differences_pass_at_any_scale() -> None:
    x = np.random.default_rng(0).standard_normal(4096).astype(np.float32)
    for scale in (1e-3, 1.0, 1e3):
        a, b = _reordered_sum(x * np.float32(scale))
        assert_close_f32(a, b, ulps=64, scale=float(np.sum(np.abs(x * scale))))  # scale of the summands
    # A bare absolute 1e-6 depends on the scale: at scale 1e3 the same relative rounding is far above it.
    a, b = _reordered_sum(x * np.float32(1e3))
    assert abs(float(a) - float(b)) > 1e-6


def test_a_real_error_fails() -> None:
    y = np.linspace(-1, 1, 1000, dtype=np.float32)
    shifted = np.roll(y, 1)  # an off-by-one sample: an error of one step, ~2e-3 of the scale
    with pytest.raises(AssertionError, match="x eps x scale"):
        assert_close_f32(shifted, y, ulps=256)
    assert max_error_ulps(y * np.float32(1 + 8 * F32_EPS), y) == pytest.approx(8, rel=0.2)


def test_refuses_tolerances_that_cannot_fail_and_zero_scale() -> None:
    with pytest.raises(ValueError, match="too loose"):
        assert_close_f32(1.0, 1.0, ulps=1e6)
    with pytest.raises(ValueError, match="scale is 0"):
        assert_close_f32(np.zeros(3), np.zeros(3), ulps=4)
    assert_close_f32(np.zeros(3), np.zeros(3), ulps=4, scale=1.0)
