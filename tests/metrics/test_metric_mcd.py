"""MCD: 0 for identical speech, ordered by degradation, equal to the mel-cepstral-distance package, speech only."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from bench.errors import AudioError
from bench.metrics.registry import metric_registry
from numerics import assert_close_f32
from testsignals import noisy, speech_like

SR = 16000


@pytest.fixture(scope="module")
def metric():
    return metric_registry().get("mcd").factory(device="cpu")


def test_identical_is_zero_and_gain_does_not_count(metric) -> None:
    x = speech_like(1.0, SR)
    assert metric(x, x.copy(), SR, "speech") == 0.0
    # each signal is divided by its peak: a pure gain (a power of two, exact in float) changes nothing
    assert metric(x, 0.25 * x, SR, "speech") == 0.0


def test_orders_degradations(metric) -> None:
    x = speech_like(1.5, 44100, seed=2)  # the metric resamples its copy to 16 kHz
    state = metric.prepare(x, 44100, "speech")
    values = [metric.score(state, noisy(x, snr), 44100, "speech") for snr in (40.0, 20.0, 5.0)]
    assert 0 < values[0] < values[1] < values[2]


def test_equals_the_package_on_files(metric, tmp_path) -> None:
    """The real counterpart: mel-cepstral-distance's compare_audio_files (defaults, aligning='pad')."""
    mcd_pkg = pytest.importorskip("mel_cepstral_distance")
    import soundfile as sf

    x = speech_like(1.2, SR, seed=4)
    y = noisy(x, 15.0)
    sf.write(tmp_path / "ref.wav", x, SR, subtype="FLOAT")
    sf.write(tmp_path / "deg.wav", y, SR, subtype="FLOAT")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy's wavfile warns about the float WAV's extra chunk
        expected, penalty = mcd_pkg.compare_audio_files(tmp_path / "ref.wav", tmp_path / "deg.wav", aligning="pad")
    assert penalty == 0.0
    # the package peak-normalises in float32 (the file's type), this module in float64: float32 rounding
    assert_close_f32(metric(x, y, SR, "speech"), expected, ulps=4)


def test_variant_says_no_dtw(metric) -> None:
    v = metric.variant("speech")
    assert v["dtw"] is False and v["sample_rate"] == 16000 and v["coefficients"] == "c1..c15"
    assert (v["frame_ms"], v["hop_ms"], v["n_mels"]) == (32, 8, 20) and v["resampler"].startswith("soxr")


def test_inputs_not_mutated(metric) -> None:
    x = speech_like(1.0, 22050)
    y = noisy(x, 10.0)
    x0, y0 = x.copy(), y.copy()
    metric(x, y, 22050, "speech")
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(y, y0)


def test_bad_input_is_one_line_audio_error(metric) -> None:
    x = speech_like(1.0, SR)
    with pytest.raises(AudioError, match="too short for MCD"):
        metric.prepare(x[:500], SR, "speech")
    state = metric.prepare(x, SR, "speech")
    with pytest.raises(AudioError, match="silent"):
        metric.score(state, np.zeros_like(x), SR, "speech")
