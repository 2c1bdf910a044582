"""Validity checks that turn bad signals into a clear reason instead of a crash or a silent zero."""

from __future__ import annotations

import numpy as np

from bench.errors import AudioError

#: Below this RMS (dBFS) a signal is treated as silent (digital silence or a dead channel).
SILENCE_DBFS = -70.0


def rms_dbfs(x: np.ndarray) -> float:
    """RMS level of a [T] float signal in dB relative to full scale (1.0); -inf for all-zero."""
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0
    return 20.0 * np.log10(rms) if rms > 0 else float("-inf")


def validate(x: np.ndarray, sr: int, *, min_samples: int = 1024, what: str = "signal") -> None:
    """Raise :class:`AudioError` if ``x`` [T] cannot be evaluated.

    Checks: non-empty, finite (no NaN/inf), at least ``min_samples`` samples (one analysis frame),
    not silent (RMS above ``SILENCE_DBFS``).
    """
    if x.ndim != 1:
        raise AudioError(f"{what}: expected mono [T] samples, got shape {tuple(x.shape)}")
    if x.size == 0:
        raise AudioError(f"{what}: empty (0 samples)")
    if not np.all(np.isfinite(x)):
        bad = int(np.count_nonzero(~np.isfinite(x)))
        raise AudioError(f"{what}: {bad} non-finite samples (NaN/inf)")
    if x.size < min_samples:
        raise AudioError(
            f"{what}: {x.size} samples ({x.size / sr * 1000:.1f} ms at {sr} Hz) is shorter than one "
            f"analysis frame ({min_samples} samples)"
        )
    level = rms_dbfs(x)
    if level < SILENCE_DBFS:
        raise AudioError(f"{what}: silent (RMS {level:.1f} dBFS < {SILENCE_DBFS:.0f} dBFS)")
