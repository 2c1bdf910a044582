"""BS.1770 loudness measurement and normalisation (pyloudnorm)."""

from __future__ import annotations

import numpy as np
import pyloudnorm

from bench.errors import AudioError


def integrated_loudness(x: np.ndarray, sr: int) -> float:
    """Integrated loudness of a mono [T] signal in LUFS (BS.1770-4 K-weighting and gating)."""
    if x.size < int(0.4 * sr):
        raise AudioError(f"loudness needs at least 400 ms of audio, got {x.size / sr * 1000:.0f} ms")
    return float(pyloudnorm.Meter(sr).integrated_loudness(np.asarray(x, dtype=np.float64)))


def normalize_loudness(x: np.ndarray, sr: int, target_lufs: float = -24.0) -> np.ndarray:
    """Return a copy of ``x`` [T] scaled to ``target_lufs``, then scaled down only if |peak| > 1.

    This is the input preparation of DisCoder's reference inference (pyloudnorm, -24 LUFS, peak guard).
    """
    level = integrated_loudness(x, sr)
    if not np.isfinite(level):
        raise AudioError("loudness is -inf (signal below the BS.1770 gate): cannot normalise")
    y = np.asarray(x, dtype=np.float64) * 10.0 ** ((target_lufs - level) / 20.0)
    peak = float(np.max(np.abs(y)))
    if peak > 1.0:
        y = y / peak
    return y.astype(np.float32)
