"""Shared test fixtures: short synthetic music-like and speech-like signals and folders of them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf


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


@pytest.fixture
def music():
    return music_like


@pytest.fixture
def audio_folder(tmp_path: Path) -> Path:
    """A folder with two good 44.1 kHz stereo clips, a 22.05 kHz clip, a corrupt file and a silent file."""
    d = tmp_path / "audio"
    d.mkdir()
    for i in range(2):
        x = music_like(1.5, 44100, seed=i)
        sf.write(d / f"song{i}.wav", np.stack([x, 0.8 * x], axis=1), 44100)
    sf.write(d / "low_rate.flac", music_like(1.5, 22050, seed=5), 22050)
    (d / "corrupt.wav").write_bytes(b"RIFF\x00\x00not really a wave file")
    sf.write(d / "silent.wav", np.zeros(44100, dtype=np.float32), 44100)
    return d
