"""CDPAM metric: values equal the package's own forward, perfect for identical input, ordered by degradation."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from numerics import assert_close_f32
from testsignals import noisy

pytest.importorskip("cdpam")
torch = pytest.importorskip("torch")

from bench.audio.resample import resample  # noqa: E402
from bench.errors import AudioError, MissingWeightsError  # noqa: E402
from bench.metrics import cdpam as cdpam_metric  # noqa: E402
from bench.perf.cdpam_speed import music_like, package_model  # noqa: E402
from bench.registry import collect  # noqa: E402

SR = 44100


def lowpass(x: np.ndarray, cutoff: float) -> np.ndarray:
    from scipy.signal import butter, sosfiltfilt

    return sosfiltfilt(butter(8, cutoff, fs=SR, output="sos"), x).astype(np.float32)


@pytest.fixture(scope="module")
def metric() -> cdpam_metric.CDPAM:
    from bench.metrics.registry import metric_registry

    m = metric_registry().get("cdpam").factory(device="cpu")
    assert isinstance(m, cdpam_metric.CDPAM)
    return m


@pytest.fixture(scope="module")
def ref() -> np.ndarray:
    return music_like(1.0, SR, seed=3)


@pytest.fixture(scope="module")
def degraded(ref: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "identical": ref.copy(),
        "noise40": noisy(ref, 40.0),
        "noise0": noisy(ref, 0.0),
        "lp16k": lowpass(ref, 16000.0),
        "lp3k5": lowpass(ref, 3500.0),
    }


@pytest.fixture(scope="module")
def state(metric, ref) -> cdpam_metric.CDPAMReference:
    return metric.prepare(ref, SR, "music")


@pytest.fixture(scope="module")
def values(metric, state, degraded) -> dict[str, float]:
    names = list(degraded)
    return dict(zip(names, metric.score_many(state, [degraded[n] for n in names], SR, "music")))


def test_variant_records_definition(metric: cdpam_metric.CDPAM) -> None:
    v = metric.variant("music")
    assert v["sample_rate"] == 22050 and metric.sample_rate("speech") == 22050
    assert v["package"] == "cdpam" and v["version"] == "0.0.6"
    assert v["input_scaling"] == "int16" and "device" not in v  # same values on any device: one variant
    assert v["resampler"].startswith("soxr") and "reference embedding reused" in v["implementation"]


def test_identical_is_zero(values) -> None:
    assert values["identical"] == 0.0  # same embedding as the reference


def test_matches_package_forward(metric, ref, state, degraded, values) -> None:
    """Same 22.05 kHz int16-range arrays into the package's forward; also a degraded signal of another length."""
    pk = package_model("cpu")
    model_in = lambda x: torch.from_numpy(cdpam_metric.to_model_input(resample(x, SR, 22050)))[None]  # noqa: E731
    r = model_in(ref)
    for name in ("noise40",):
        expected = float(pk.forward(r, model_in(degraded[name])).item())
        assert_close_f32(values[name], expected, ulps=1024, what=name)
    shorter = degraded["noise0"][: int(0.8 * SR)]
    expected = float(pk.forward(r, model_in(shorter)).item())
    got = metric.score(state, shorter, SR, "music")
    assert_close_f32(got, expected, ulps=1024, what="shorter")
    assert expected > 0.01  # a real distance, not a near-zero from unscaled input


def test_worse_degradation_scores_worse(values) -> None:
    assert values["noise0"] > values["noise40"] > 0
    # At CDPAM's 22.05 kHz a 16 kHz low-pass removes nothing (distance ~1e-6); 3.5 kHz removes most harmonics.
    assert values["lp3k5"] > values["lp16k"] + 1e-3


def test_inputs_not_mutated(ref, degraded, values) -> None:
    """prepare(), score_many() (and score() on a view, in the package test) ran on these arrays: unchanged."""
    fresh = music_like(1.0, SR, seed=3)
    np.testing.assert_array_equal(ref, fresh)
    np.testing.assert_array_equal(degraded["noise40"], noisy(fresh, 40.0))
    np.testing.assert_array_equal(degraded["noise0"], noisy(fresh, 0.0))
    np.testing.assert_array_equal(degraded["lp3k5"], lowpass(fresh, 3500.0))


def test_bad_input_is_audio_error(metric, ref, state) -> None:
    with pytest.raises(AudioError, match="receptive field"):
        metric.score(state, ref[: int(0.03 * SR)], SR, "music")
    with pytest.raises(AudioError, match="receptive field"):
        metric.prepare(ref[:1000], SR, "music")
    bad = ref.copy()
    bad[100] = np.nan
    with pytest.raises(AudioError, match="non-finite"):
        metric.score(state, bad, SR, "music")
    with pytest.raises(AudioError, match="silent"):
        metric.score(state, np.zeros_like(ref), SR, "music")


def test_missing_checkpoint_is_clear(monkeypatch) -> None:
    monkeypatch.setattr(cdpam_metric, "CHECKPOINT", "CDPAM_trained/not_there.pth")
    with pytest.raises(MissingWeightsError, match="not_there.pth"):
        cdpam_metric.CDPAM().net()


def test_unavailable_without_package(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "cdpam", None)  # makes `import cdpam` fail
    reg = collect("metric", ["bench.metrics.cdpam"])
    assert "cdpam" not in reg
    assert "vocoder-bench[cdpam]" in reg.unavailable["cdpam"]


@pytest.mark.slow
def test_speed_comparison_runs(capsys) -> None:
    """bench.perf.cdpam_speed on a tiny case: both sides agree and the report is printed."""
    from bench.perf import cdpam_speed

    assert cdpam_speed.main(["--seconds", "0.3", "--pairs", "1", "--vocoders", "2"]) == 0
    out = capsys.readouterr().out
    assert "speed-up" in out and "(ok)" in out


def test_repeated_inputs_are_encoded_once_with_the_same_values(metric, ref, state, degraded) -> None:
    calls = []
    original = metric._embed

    def counting(xs):
        calls.append(len(xs))
        return original(xs)

    metric._embed = counting
    try:
        vals = metric.score_many(state, [ref.copy(), degraded["noise40"], degraded["noise40"].copy()], SR, "music")
    finally:
        del metric._embed
    assert calls == [1]  # the reference's twin and the duplicate are not encoded again
    assert vals[0] == 0.0
    assert vals[1] == vals[2]
    assert_close_f32(vals[1], metric.score(state, degraded["noise40"], SR, "music"), ulps=256)
