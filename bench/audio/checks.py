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


#: Fraction of samples stuck at full scale above which a source is rejected as clipped.
MAX_CLIPPED_FRACTION = 0.01


def clipped_fraction(x: np.ndarray, run: int = 3) -> float:
    """Fraction of samples of [T] that sit in runs of >= ``run`` consecutive samples at |x| >= 0.999 of full scale.

    Runs, not single peaks: a master that merely touches 0 dBFS is not clipped; flat-topped waveforms are.
    """
    hot = np.abs(x) >= 0.999
    if not hot.any():
        return 0.0
    edges = np.diff(np.concatenate(([0], hot.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    lengths = ends - starts
    return float(lengths[lengths >= run].sum()) / x.size


def check_clipping(x: np.ndarray, what: str = "signal") -> None:
    """Raise :class:`AudioError` if more than ``MAX_CLIPPED_FRACTION`` of ``x`` [T] is clipped."""
    frac = clipped_fraction(x)
    if frac > MAX_CLIPPED_FRACTION:
        raise AudioError(f"{what}: clipped ({frac:.1%} of samples flat at full scale)")
