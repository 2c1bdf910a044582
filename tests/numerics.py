"""Float comparisons for tests: tolerances relative to the values' scale and the float's epsilon.

A float32 computation (a sum, a convolution, an FFT) rounds at each step to within float32 epsilon of the
*magnitude of the numbers it combines*, not of each output element: an element that cancels to near zero
carries the rounding error of its large summands. So a comparison of two float32 computations of the same
quantity (another summation order, another CPU, a batched pass) is bounded by ``ulps * eps * scale``, where
``scale`` is the size of the values (default: max |expected|) and ``ulps`` says how many epsilons the
computation may lose (more for deeper computations). A bare absolute tolerance such as 1e-6 ignores the scale
and fails or passes depending on the values' size, not on whether the computation is right.
"""

from __future__ import annotations

from typing import Any

import numpy as np

F32_EPS = float(np.finfo(np.float32).eps)  # 1.19e-7
F64_EPS = float(np.finfo(np.float64).eps)


def _array(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor
        x = x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def max_error_ulps(actual: Any, expected: Any, *, scale: float | None = None, eps: float = F32_EPS) -> float:
    """max |actual - expected| in units of ``eps * scale`` (scale defaults to max |expected|)."""
    a, e = _array(actual), _array(expected)
    if a.shape != e.shape:
        raise AssertionError(f"shapes differ: {a.shape} vs {e.shape}")
    s = float(np.max(np.abs(e))) if scale is None else float(scale)
    if not s > 0:
        raise ValueError("scale is 0 (expected values all zero): pass the scale of the computation explicitly")
    return float(np.max(np.abs(a - e))) / (eps * s) if a.size else 0.0


def assert_close_f32(actual: Any, expected: Any, *, ulps: float, scale: float | None = None,
                     eps: float = F32_EPS, what: str = "") -> None:
    """Assert max |actual - expected| <= ulps * eps * scale (eps: float32's by default).

    ``ulps`` bounds the rounding the computation may accumulate; keep it far below 1 / eps (it is a relative
    error of ulps * 1.2e-7), so that any real error (a wrong weight, a shifted sample) still fails.
    """
    if not ulps * eps < 1e-2:
        raise ValueError(f"ulps={ulps} allows a relative error of {ulps * eps:.1e}: too loose to test anything")
    err = max_error_ulps(actual, expected, scale=scale, eps=eps)
    label = f"{what}: " if what else ""
    assert err <= ulps, f"{label}max error is {err:.1f} x eps x scale, allowed {ulps}"
