"""Shared test fixtures: short synthetic music-like and speech-like signals and folders of them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from testsignals import music_like


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


@pytest.fixture
def songs(tmp_path: Path) -> Path:
    """A folder with two good 1 s mono clips (song0, song1)."""
    d = tmp_path / "songs"
    d.mkdir()
    for i in range(2):
        sf.write(d / f"song{i}.wav", music_like(1.0, 44100, seed=i), 44100)
    return d
