"""PESQ (P.862.2 wide band, pesq package): 4.644 for identical speech, ordered by degradation, speech only."""

from __future__ import annotations

import sys

import numpy as np
import pytest

pytest.importorskip("pesq")

from bench.errors import AudioError, NotApplicableError  # noqa: E402
from bench.metrics.registry import metric_registry  # noqa: E402
from testsignals import noisy, speech_like  # noqa: E402

SR = 22050  # not 16 kHz: the metric resamples its own copy


@pytest.fixture(scope="module")
def metric():
    return metric_registry().get("pesq").factory(device="cpu")


@pytest.fixture(scope="module")
def ref() -> np.ndarray:
    return speech_like(2.0, SR, seed=3)


def test_identical_is_perfect(metric, ref) -> None:
    assert metric(ref, ref.copy(), SR, "speech") == pytest.approx(4.644, abs=1e-3)


def test_orders_degradations(metric, ref) -> None:
    state = metric.prepare(ref, SR, "speech")
    values = [metric.score(state, noisy(ref, snr), SR, "speech") for snr in (30.0, 15.0, 0.0)]
    assert 4.644 > values[0] > values[1] > values[2] >= 1.0


def test_inputs_not_mutated_and_variant(metric, ref) -> None:
    deg = noisy(ref, 20.0)
    r0, d0 = ref.copy(), deg.copy()
    metric(ref, deg, SR, "speech")
    np.testing.assert_array_equal(ref, r0)
    np.testing.assert_array_equal(deg, d0)
    v = metric.variant("speech")
    assert (v["sample_rate"], v["mode"], v["package"], v["direction"]) == (16000, "wb", "pesq", "higher")
    assert v["resampler"].startswith("soxr") and "P.862.2" in v["standard"] and v["version"]


def test_speech_only(metric, ref) -> None:
    with pytest.raises(NotApplicableError, match="speech only"):
        metric.prepare(ref, SR, "music")
    assert not metric.applies_to("music")


def test_bad_input_is_one_line_audio_error(metric, ref) -> None:
    with pytest.raises(AudioError, match="shorter than PESQ's minimum"):
        metric.prepare(ref[: int(0.2 * SR)], SR, "speech")
    state = metric.prepare(ref, SR, "speech")
    with pytest.raises(AudioError, match="silent"):
        metric.score(state, np.zeros_like(ref), SR, "speech")


def test_package_error_becomes_one_line_audio_error(metric, ref, monkeypatch) -> None:
    import pesq

    def refuse(*args, **kwargs):
        raise pesq.NoUtterancesError("No utterances detected")

    monkeypatch.setattr(pesq, "pesq", refuse)
    with pytest.raises(AudioError, match="pesq cannot score this pair: NoUtterancesError") as err:
        metric(ref, ref, SR, "speech")
    assert "\n" not in str(err.value)


def test_unavailable_without_package(monkeypatch) -> None:
    from bench.registry import collect

    monkeypatch.setitem(sys.modules, "pesq", None)
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None if name == "pesq" else object())
    reg = collect("metric", ["bench.metrics.pesq"])
    assert "pesq" not in reg and "vocoder-bench[speech]" in reg.unavailable["pesq"]
