"""ViSQOL metric: audio mode at 48 kHz (4.732 for identical), speech mode at 16 kHz with the lattice model."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from testsignals import noisy

pytest.importorskip("visqol")

from bench.errors import AudioError, MissingExtraError, UnknownNameError  # noqa: E402
from bench.metrics.visqol import ViSQOL  # noqa: E402
from bench.perf.cdpam_speed import music_like  # noqa: E402

SR = 44100


def lowpass(x: np.ndarray, cutoff: float, sr: int = SR) -> np.ndarray:
    from scipy.signal import butter, sosfiltfilt

    return sosfiltfilt(butter(8, cutoff, fs=sr, output="sos"), x).astype(np.float32)


@pytest.fixture(scope="module")
def metric() -> ViSQOL:
    from bench.metrics.registry import metric_registry

    m = metric_registry().get("visqol").factory(device="cpu")
    assert isinstance(m, ViSQOL)
    return m


@pytest.fixture(scope="module")
def ref() -> np.ndarray:
    return music_like(1.5, SR, seed=5)


@pytest.fixture(scope="module")
def music_scores(metric, ref) -> dict[str, float]:
    """Audio-mode scores; the first call in a fresh environment compiles numba kernels (~15 s, then cached)."""
    state = metric.prepare(ref, SR, "music")
    degraded = {
        "identical": ref.copy(),
        "noise40": noisy(ref, 40.0),
        "noise0": noisy(ref, 0.0),
        "lp16k": lowpass(ref, 16000.0),
        "lp3k5": lowpass(ref, 3500.0),
    }
    return {k: metric.score(state, v, SR, "music") for k, v in degraded.items()}


def test_music_variant(metric) -> None:
    v = metric.variant("music")
    assert (v["mode"], v["sample_rate"], v["package"]) == ("audio", 48000, "visqol-python")
    assert v["model"].startswith("svr") and v["resampler"].startswith("soxr") and v["version"] == "3.8.0"


def test_identical_is_perfect(music_scores) -> None:
    assert music_scores["identical"] == pytest.approx(4.732, abs=0.01)


def test_worse_degradation_scores_lower(music_scores) -> None:
    assert music_scores["noise0"] < music_scores["noise40"] < music_scores["identical"]
    assert music_scores["lp3k5"] < music_scores["lp16k"] < music_scores["identical"]
    assert all(1.0 <= v <= 5.0 for v in music_scores.values())


def test_same_pair_gives_the_same_value_every_call(metric, ref) -> None:
    """The package's numba loops run in parallel; with numba's 2 threads the same pair gives a different last
    digit from call to call (benchmarks/visqol_threads.py, 2-core machine). bench scores single-threaded: every
    call equal, bit for bit, whatever numba's own thread count is outside the call (restored after it). Across
    processes: tests/benchmarks/test_benchmarks_visqol_threads.py."""
    numba = pytest.importorskip("numba")
    deg = noisy(ref, 20.0)
    state = metric.prepare(ref, SR, "music")
    before = numba.get_num_threads()
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)  # every thread numba has, as the package runs by default
    try:
        values = {metric.score(state, deg.copy(), SR, "music") for _ in range(6)}
        assert numba.get_num_threads() == numba.config.NUMBA_NUM_THREADS
    finally:
        numba.set_num_threads(before)
    assert len(values) == 1, values


def test_inputs_not_mutated(metric, ref) -> None:
    deg = noisy(ref, 20.0)
    r0, d0 = ref.copy(), deg.copy()
    metric(ref, deg, SR, "music")
    np.testing.assert_array_equal(ref, r0)
    np.testing.assert_array_equal(deg, d0)


def test_speech_mode_uses_lattice_at_16k(metric) -> None:
    v = metric.variant("speech")
    assert (v["mode"], v["sample_rate"]) == ("speech", 16000)
    assert v["model"].startswith("lattice") and "0.03" in v["note"]
    sr = 22050  # resampled to 16 kHz by the metric
    ref = music_like(1.2, sr, seed=7)
    state = metric.prepare(ref, sr, "speech")
    assert state.sample_rate == 16000 and state.samples.size == round(ref.size * 16000 / sr)
    assert type(metric.api("speech")._manager.quality_mapper).__name__ == "TFLiteSpeechQualityMapper"
    clean = metric.score(state, ref, sr, "speech")
    bad = metric.score(state, noisy(ref, 0.0), sr, "speech")
    assert 1.0 <= bad < clean <= 5.0


def test_speech_without_lattice_runtime_is_an_error(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    m = ViSQOL()
    with pytest.raises(MissingExtraError, match="ai-edge-litert"):
        m.prepare(music_like(1.0, 16000), 16000, "speech")


def test_bad_input_is_audio_error(metric, ref) -> None:
    state = metric.prepare(ref, SR, "music")
    with pytest.raises(AudioError, match="too short"):
        metric.score(state, ref[: int(0.5 * SR)], SR, "music")
    with pytest.raises(AudioError, match="too short"):
        metric.prepare(ref[: int(0.9 * SR)], SR, "music")
    with pytest.raises(AudioError, match="too short"):
        metric.prepare(ref[: int(0.5 * SR)], SR, "speech")
    with pytest.raises(AudioError, match="silent"):
        metric.score(state, np.zeros_like(ref), SR, "music")
    with pytest.raises(UnknownNameError):
        metric.sample_rate("noise")


def test_unavailable_without_package(monkeypatch) -> None:
    from bench.registry import collect

    monkeypatch.setitem(sys.modules, "visqol", None)  # makes `import visqol` fail
    reg = collect("metric", ["bench.metrics.visqol"])
    assert "visqol" not in reg
    assert "vocoder-bench[visqol]" in reg.unavailable["visqol"]
