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
