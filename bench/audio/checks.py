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


def validate(x: np.ndarray, sr: int, *, min_samples: int = 1024, what: str = "signal",
             min_reason: str = "the minimum length") -> None:
    """Raise :class:`AudioError` if ``x`` [T] cannot be evaluated.

    Checks: non-empty, finite (no NaN/inf), at least ``min_samples`` samples (``min_reason`` says whose
    minimum it is), not silent (RMS above ``SILENCE_DBFS``).
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
            f"{what}: {x.size / sr:.3f} s ({x.size} samples at {sr} Hz) is shorter than {min_reason} "
            f"({min_samples / sr:.3f} s, {min_samples} samples)"
        )
    level = rms_dbfs(x)
    if level < SILENCE_DBFS:
        raise AudioError(f"{what}: silent (RMS {level:.1f} dBFS < {SILENCE_DBFS:.0f} dBFS)")


#: Fraction of samples stuck at full scale above which a source is rejected as clipped.
MAX_CLIPPED_FRACTION = 0.01
#: A rail (the highest or lowest sample value) counts as a clipping level only at or beyond full scale.
FULL_SCALE = 0.999


def clipped_fraction(x: np.ndarray, run: int = 3) -> float:
    """Fraction of the samples of one channel [T] (as stored, before any gain) that are flat tops.

    A flat top is a run of >= ``run`` consecutive samples exactly at the channel's highest (or lowest) value,
    when that value is at or beyond full scale (|v| >= ``FULL_SCALE``): what a converter, an integer format or
    a limiter leaves. Runs, not single peaks: a master that merely touches 0 dBFS is not clipped, and a float
    file whose peak exceeds 1.0 with a smooth waveform (e.g. 4.0 after a gain in float) is not clipped either
    (loudness normalisation brings it into range). Exact equality, so a low-frequency tone near its peak is
    not mistaken for a flat top.
    """
    x = np.asarray(x)
    if x.size == 0:
        return 0.0
    flat = 0
    for rail in (x.max(), x.min()):
        if abs(float(rail)) < FULL_SCALE:
            continue
        hot = x == rail
        edges = np.diff(np.concatenate(([0], hot.astype(np.int8), [0])))
        lengths = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
        flat += int(lengths[lengths >= run].sum())
    return flat / x.size


def check_clipping(x: np.ndarray, what: str = "signal") -> None:
    """Raise :class:`AudioError` if more than ``MAX_CLIPPED_FRACTION`` of ``x`` is flat tops.

    ``x`` is one channel [T] or a stored multichannel excerpt [T, C] (each channel checked on its own, before
    the downmix and resampling, which would round the flat tops off).
    """
    x = np.asarray(x)
    channels = x.T if x.ndim == 2 else [x]
    frac = max(clipped_fraction(c) for c in channels)
    if frac > MAX_CLIPPED_FRACTION:
        peak = float(np.max(np.abs(x)))
        raise AudioError(f"{what}: clipped ({frac:.1%} of samples flat-topped at "
                         f"{'full scale' if peak <= 1.0 else f'{peak:.3g} (above full scale)'})")


def check_downmix(data: np.ndarray, mono: np.ndarray, what: str = "signal") -> None:
    """Raise :class:`AudioError` when the mono downmix [T] of ``data`` [T, C] is silent.

    The message says whether the channels themselves are silent or cancel each other (out of phase).
    """
    level = rms_dbfs(mono)
    if level >= SILENCE_DBFS:
        return
    loudest = max(rms_dbfs(c) for c in np.asarray(data).T)
    if data.shape[1] > 1 and loudest >= SILENCE_DBFS:
        raise AudioError(f"{what}: the mono downmix is silent (RMS {level:.1f} dBFS) although a channel is at "
                         f"{loudest:.1f} dBFS: the channels cancel (one is the other inverted)")
    raise AudioError(f"{what}: silent (RMS {level:.1f} dBFS < {SILENCE_DBFS:.0f} dBFS)")


#: Energy below this frequency (Hz) is DC offset or infrasound: inaudible, and outside what metrics weigh.
INFRASONIC_HZ = 20.0
#: A reference whose bandwidth is below this (Hz) is passed unchanged by the 7 kHz anchor (anchor70).
NARROW_BANDWIDTH_HZ = 7000.0


def infrasonic_fraction(x: np.ndarray, sr: int) -> tuple[float, float]:
    """(fraction of the energy of [T] below ``INFRASONIC_HZ``, RMS level in dBFS of the rest)."""
    x = np.asarray(x, dtype=np.float64)
    spec = np.abs(np.fft.rfft(x)) ** 2
    spec[1: (x.size + 1) // 2] *= 2.0  # bins with a negative-frequency twin carry twice the power (Parseval)
    total = float(spec.sum())
    if total <= 0:
        return 0.0, float("-inf")
    low = float(spec[np.fft.rfftfreq(x.size, 1.0 / sr) < INFRASONIC_HZ].sum())
    rest = float(np.mean(np.square(x))) * (1.0 - low / total)
    return low / total, (10.0 * np.log10(rest) if rest > 0 else float("-inf"))
