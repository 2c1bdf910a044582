"""Aligning a vocoder's output to its reference: same sample rate, same length."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.audio.resample import resample


@dataclass(frozen=True)
class Aligned:
    """A vocoder output at the reference's rate and length.

    ``length_diff`` = output samples (after resampling) minus reference samples, before trimming/padding:
    a few frames either way is normal; a large value flags a vocoder that drops or adds audio.
    """

    audio: np.ndarray  # [T_ref] float32
    sample_rate: int
    length_diff: int


def align_to_reference(out: np.ndarray, out_sr: int, ref_len: int, ref_sr: int) -> Aligned:
    """Resample ``out`` [T'] from ``out_sr`` to ``ref_sr`` Hz, then trim or zero-pad its end to ``ref_len``.

    Vocoders in this suite are frame-aligned at their start (analysis and synthesis share frame 0), so only
    the end is adjusted; no cross-correlation shift is applied (it would hide real timing errors).
    """
    y = resample(np.asarray(out, dtype=np.float32).reshape(-1), out_sr, ref_sr)
    diff = int(y.shape[0]) - int(ref_len)
    if diff > 0:
        y = y[:ref_len]
    elif diff < 0:
        y = np.pad(y, (0, -diff))
    return Aligned(audio=np.ascontiguousarray(y, dtype=np.float32), sample_rate=ref_sr, length_diff=diff)
