"""Signal measurements and seeded selection helpers behind the dataset builders."""

from __future__ import annotations

import numpy as np
import pytest

from bench_datasets import analysis
from bench_datasets.selection import grouped_interleave, interleave, rng_for, shuffled

SR = 44100


def _lowpassed_noise(fc: float, seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    """White noise with everything above ``fc`` removed (brick wall in the FFT domain)."""
    x = np.random.default_rng(seed).standard_normal(int(seconds * SR))
    spec = np.fft.rfft(x)
    spec[np.fft.rfftfreq(x.size, 1 / SR) > fc] = 0
    return (0.1 * np.fft.irfft(spec, n=x.size)).astype(np.float32)


@pytest.mark.parametrize("fc", [4000.0, 8000.0, 11025.0, 16000.0, 19000.0])
def test_bandwidth_finds_lowpass_edge(fc):
    bw = analysis.bandwidth_hz(_lowpassed_noise(fc), SR)
    assert abs(bw - fc) < 150.0  # within ~1.5 bins of a 4096-point frame plus Hann leakage


def test_bandwidth_full_band_and_silence():
    assert analysis.bandwidth_hz(_lowpassed_noise(SR / 2), SR) == pytest.approx(SR / 2)
    assert analysis.bandwidth_hz(np.zeros(SR, np.float32), SR) == 0.0


def test_bandwidth_ignores_joins_between_segments():
    """Excerpts are analysed one by one: the jump between two excerpts must not read as broadband content."""
    a, b = _lowpassed_noise(6000, 1.0, seed=1), _lowpassed_noise(6000, 1.0, seed=2) + 0.5
    assert analysis.bandwidth_of_segments([a, b], SR) == pytest.approx(analysis.bandwidth_hz(a, SR), abs=150)


def test_bandwidth_drop_threshold_matters():
    """A spectrum that falls 40 dB at 5 kHz: with a 30 dB criterion the edge is 5 kHz, with 60 dB it is not."""
    x = _lowpassed_noise(5000) + 0.01 * _lowpassed_noise(SR / 2, seed=3)
    assert analysis.bandwidth_hz(x, SR, drop_db=30) == pytest.approx(5000, abs=150)
    assert analysis.bandwidth_hz(x, SR, drop_db=60) > 20000


def test_active_level_ignores_pauses():
    loud = _lowpassed_noise(SR / 2, 4.0)
    with_pause = np.concatenate([loud, np.zeros(4 * SR, np.float32)])
    lv = analysis.active_level_dbfs(analysis.block_levels_dbfs(with_pause, SR))
    assert lv == pytest.approx(analysis.rms_dbfs(loud), abs=0.2)
    assert analysis.active_level_dbfs(analysis.block_levels_dbfs(np.zeros(SR, np.float32), SR)) == float("-inf")


def test_is_active_excerpt_rejects_quiet_gappy_and_near_silent():
    x = _lowpassed_noise(SR / 2, 2.0)
    ref = analysis.rms_dbfs(x)
    assert analysis.is_active_excerpt(x, SR, ref)
    assert not analysis.is_active_excerpt(x * 0.1, SR, ref)  # 20 dB below the file's level
    gappy = x.copy()
    gappy[: SR] = 0  # half the excerpt is a pause
    assert not analysis.is_active_excerpt(gappy, SR, ref - 3)
    tiny = x * 10 ** ((-60 - ref) / 20)  # -60 dBFS: below the absolute floor even for a quiet file
    assert not analysis.is_active_excerpt(tiny, SR, analysis.rms_dbfs(tiny))


def test_trim_silence_keeps_the_sound_plus_padding():
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(SR) / SR).astype(np.float32)
    x = np.concatenate([np.zeros(SR, np.float32), tone, np.zeros(2 * SR, np.float32)])
    start, stop = analysis.trim_silence(x, SR, pad_seconds=0.1)
    assert abs(start - int(0.9 * SR)) <= 0.02 * SR
    assert abs(stop - int(2.1 * SR)) <= 0.02 * SR
    assert analysis.trim_silence(np.zeros(SR, np.float32), SR) == (0, 0)


def test_quietest_cut_lands_in_the_pause():
    speech_like = _lowpassed_noise(8000, 12.0)
    speech_like[int(7.0 * SR): int(7.3 * SR)] *= 1e-4  # a pause between 7.0 and 7.3 s
    cut = analysis.quietest_cut(speech_like, SR, 5.0, 10.0)
    assert 7.0 * SR <= cut <= 7.3 * SR


def test_rng_and_shuffle_are_seeded_and_keyed():
    a = rng_for(0, "demo", "x").integers(0, 1 << 30, 4)
    assert np.array_equal(a, rng_for(0, "demo", "x").integers(0, 1 << 30, 4))
    assert not np.array_equal(a, rng_for(1, "demo", "x").integers(0, 1 << 30, 4))
    assert not np.array_equal(a, rng_for(0, "demo", "y").integers(0, 1 << 30, 4))
    items = [f"f{i:02d}" for i in range(20)]
    assert shuffled(items, 3, "k") == shuffled(items, 3, "k")
    assert sorted(shuffled(items, 3, "k")) == items
    assert shuffled(items, 3, "k") != shuffled(items, 4, "k")


def test_interleave_round_robin():
    assert interleave([[1, 2, 3], ["a"], [10, 20]]) == [1, "a", 10, 2, 20, 3]
    files = [f"spk{s}/u{u}" for s in range(3) for u in range(4)]
    order = grouped_interleave(files, lambda f: f.split("/")[0], 0, "t")
    assert len({f.split("/")[0] for f in order[:3]}) == 3  # the first three come from three speakers
    assert sorted(order) == sorted(files)
    assert order == grouped_interleave(files, lambda f: f.split("/")[0], 0, "t")
    assert order != grouped_interleave(files, lambda f: f.split("/")[0], 1, "t")
