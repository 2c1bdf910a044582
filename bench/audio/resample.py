"""The one resampler used everywhere in the suite (soxr, 'VHQ')."""

from __future__ import annotations

import numpy as np
import soxr

#: Recorded with every metric value and render so results state how rates were converted.
RESAMPLER = f"soxr-{soxr.__version__}-VHQ"


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample a mono signal.

    Args:
        x: float array [T] (samples at ``sr_in`` Hz). Not modified.
        sr_in, sr_out: rates in Hz.
    Returns:
        float32 array [round(T * sr_out / sr_in)] (a new array, also when the rates are equal).
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"resample expects a mono [T] signal, got shape {x.shape}")
    if sr_in == sr_out:
        return x.copy()
    return soxr.resample(x, sr_in, sr_out, quality="VHQ").astype(np.float32, copy=False)
