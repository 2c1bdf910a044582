"""Synthetic test signals shared by fixtures and tests (importable: tests/ is on pytest's pythonpath)."""

from __future__ import annotations

import numpy as np


def music_like(seconds: float = 2.0, sr: int = 44100, seed: int = 0) -> np.ndarray:
    """Harmonic notes with envelopes plus a little noise: [T] float32, peak ~0.5."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = np.zeros_like(t)
    for k, f0 in enumerate(rng.choice([110.0, 147.0, 196.0, 262.0, 330.0], size=4)):
        env = np.exp(-3.0 * ((t - k * seconds / 4) % (seconds / 2)))
        for h in range(1, 8):
            x += env * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 2 * np.pi)) / h
    x += 0.02 * rng.standard_normal(t.size)
    return (0.5 * x / np.max(np.abs(x))).astype(np.float32)


#: speech_like's syllable pattern within each 0.5 s: voiced [0, 0.30), pause, unvoiced noise [0.38, 0.46), pause.
SYLLABLE_S = 0.5
VOICED_S = (0.0, 0.30)
UNVOICED_S = (0.38, 0.46)
SYLLABLE_F0 = (1.0, 1.12, 0.9, 1.05)  # F0 of successive syllables, as multiples of ``f0``


def speech_like(seconds: float = 2.0, sr: int = 16000, f0: float = 140.0, seed: int = 0) -> np.ndarray:
    """Syllables of a voiced vowel-like sound with known, constant F0 per syllable (``f0`` x SYLLABLE_F0[k]),
    harmonics shaped by formants at 500/1500/2500 Hz, each followed by a pause, a fricative-like noise burst and
    a pause (pattern: VOICED_S, UNVOICED_S per SYLLABLE_S): [T] float32, peak ~0.5."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    x = np.zeros(n)
    for k, start in enumerate(np.arange(0.0, seconds, SYLLABLE_S)):
        a, b = int((start + VOICED_S[0]) * sr), min(n, int((start + VOICED_S[1]) * sr))
        if a >= n:
            break
        fk = f0 * SYLLABLE_F0[k % len(SYLLABLE_F0)]
        seg = np.zeros(b - a)
        for h in range(1, int(0.45 * sr / fk)):
            fh = h * fk
            amp = sum(np.exp(-0.5 * ((fh - fc) / 150.0) ** 2) * g for fc, g in ((500, 1.0), (1500, 0.5), (2500, 0.25)))
            seg += (amp + 0.02) / h ** 0.5 * np.sin(2 * np.pi * fh * t[: b - a] + rng.uniform(0, 2 * np.pi))
        ramp = np.minimum(1.0, np.minimum(np.arange(b - a), np.arange(b - a)[::-1]) / (0.02 * sr))
        x[a:b] = seg / np.max(np.abs(seg)) * ramp
        c, d = int((start + UNVOICED_S[0]) * sr), min(n, int((start + UNVOICED_S[1]) * sr))
        if c < n:
            noise = np.diff(rng.standard_normal(d - c + 1))  # first difference: a high-frequency tilt
            x[c:d] = 0.3 * noise / np.max(np.abs(noise))
    x += 1e-3 * rng.standard_normal(n)  # a little background noise: no digital silence between syllables
    return (0.5 * x / np.max(np.abs(x))).astype(np.float32)


def noisy(x: np.ndarray, snr_db: float, seed: int = 1) -> np.ndarray:
    """``x`` [T] plus white noise at ``snr_db`` dB SNR (seeded), float32."""
    rng = np.random.default_rng(seed)
    p = np.mean(x.astype(np.float64) ** 2) / 10 ** (snr_db / 10)
    return (x + rng.standard_normal(x.size) * np.sqrt(p)).astype(np.float32)
