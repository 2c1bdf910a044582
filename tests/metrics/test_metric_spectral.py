"""MR-STFT and MR-MEL: perfect for identical signals, ordered by degradation, inputs untouched."""

import numpy as np
import pytest

from bench.metrics.mrmel import resolutions
from bench.metrics.registry import metric_registry
from bench.vocoders.anchors import lowpass


@pytest.fixture(params=["mrstft", "mrmel"])
def metric(request):
    return metric_registry().get(request.param).factory(device="cpu")


def test_identical_is_zero(metric, music):
    x = music(1.0)
    assert metric(x, x.copy(), 44100) == 0.0  # deterministic: identical spectra give exactly zero


def test_orders_degradations(metric, music):
    x = music(1.5, seed=2)
    rng = np.random.default_rng(0)
    mild = x + 10 ** (-40 / 20) * np.std(x) * rng.standard_normal(x.size).astype(np.float32)
    severe = lowpass(x, 3500, 44100) + 10 ** (-10 / 20) * np.std(x) * rng.standard_normal(x.size).astype(np.float32)
    assert 0 < metric(x, mild, 44100) < metric(x, severe, 44100)


def test_inputs_not_mutated_and_rate_owned(metric, music):
    x, y = music(1.0, 48000), music(1.0, 48000, seed=1)
    xc, yc = x.copy(), y.copy()
    v48 = metric(x, y, 48000)
    np.testing.assert_array_equal(x, xc)
    np.testing.assert_array_equal(y, yc)
    assert metric.variant("music")["sample_rate"] == 44100
    assert np.isfinite(v48)


def test_variant_is_explicit(metric):
    v = metric.variant("music")
    assert v["resampler"].startswith("soxr")
    if metric.name == "mrstft":
        assert v["fft_sizes"] == (1024, 2048, 512) and v["hop_sizes"] == (120, 240, 50)
    else:
        assert v["windows"] == (32, 64, 128, 256, 512, 1024, 2048) and v["n_mels"] == (5, 10, 20, 40, 80, 160, 320)


def test_mrmel_definition_by_hand(music):
    """MR-MEL equals an independent librosa computation of the documented definition."""
    import librosa

    x, y = music(0.5, seed=1), music(0.5, seed=2)
    m = metric_registry().get("mrmel").factory()
    terms = []
    for cfg in resolutions(44100):
        def logmel(s):
            spec = np.abs(librosa.stft(s.astype(np.float64), n_fft=cfg.n_fft, hop_length=cfg.hop_length,
                                       win_length=cfg.win_length, window="hann", center=True, pad_mode="reflect"))
            fb = librosa.filters.mel(sr=44100, n_fft=cfg.n_fft, n_mels=cfg.n_mels)
            return np.log10(np.clip(fb @ spec, 1e-5, None))
        terms.append(np.mean(np.abs(logmel(x) - logmel(y))))
    assert m(x, y, 44100) == pytest.approx(float(np.mean(terms)), rel=1e-4)
