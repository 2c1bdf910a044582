"""`bench score` on a pair of files: native rates, the metric's own length handling, and what was done, said."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from bench.cli import main
from bench.metrics.base import Metric, MetricEntry
from bench.pair import read_file, score_pair, score_with
from bench.perf.cdpam_speed import music_like


def _write(path: Path, x: np.ndarray, sr: int) -> Path:
    sf.write(path, x, sr, subtype="FLOAT")
    return path


class Recorder(Metric):
    """A metric that records what it is given (rate and samples) and computes at ``rate``."""

    name = "recorder"
    direction = "lower"

    def __init__(self, rate: int, device: str = "cpu") -> None:
        super().__init__(device)
        self.rate = rate
        self.seen: list[tuple[str, int, np.ndarray]] = []

    def sample_rate(self, domain: str) -> int:
        return self.rate

    def variant(self, domain: str) -> dict[str, Any]:
        return self.common_variant(domain)

    def prepare(self, ref: np.ndarray, sr: int, domain: str) -> np.ndarray:
        self.seen.append(("ref", sr, ref.copy()))
        return self.to_rate(ref, sr, domain)

    def score(self, state: np.ndarray, deg: np.ndarray, sr: int, domain: str) -> float:
        self.seen.append(("deg", sr, deg.copy()))
        return float(self.to_rate(deg, sr, domain).size - state.size)


def _entry(unequal: bool) -> MetricEntry:
    return MetricEntry("recorder", Recorder, "lower", "test", 0.0, handles_unequal_lengths=unequal)


def test_each_file_reaches_the_metric_at_its_native_rate(tmp_path: Path) -> None:
    ref = read_file(_write(tmp_path / "r.wav", music_like(1.0, 48000, seed=1), 48000))
    deg = read_file(_write(tmp_path / "d.wav", music_like(1.0, 22050, seed=2), 22050))
    m = Recorder(44100)
    res = score_with(m, _entry(True), ref, deg, "music")
    assert [(role, sr, x.size) for role, sr, x in m.seen] == [("ref", 48000, 48000), ("deg", 22050, 22050)]
    np.testing.assert_array_equal(m.seen[0][2], ref.samples)  # not resampled on the way: the metric does it
    assert res.notes == ["computed at 44100 Hz: REF 48000 Hz -> 44100 Hz, DEG 22050 Hz -> 44100 Hz (soxr VHQ, once)"]


def test_equal_length_metric_gets_the_common_duration_and_says_so(tmp_path: Path) -> None:
    x = music_like(1.0, 44100, seed=3)
    ref = read_file(_write(tmp_path / "r.wav", x, 44100))
    deg = read_file(_write(tmp_path / "d.wav", np.concatenate([x, x[:1000]]), 44100))
    m = Recorder(44100)
    res = score_with(m, _entry(False), ref, deg, "music")
    assert res.value == 0.0 and [x.size for _, _, x in m.seen] == [44100, 44100]
    assert res.notes[1] == "trimmed 1000 samples (0.023 s) at the end of DEG to REF's length"
    # Different rates: each side is cut to the common duration at its own rate.
    deg48 = read_file(_write(tmp_path / "d48.wav", music_like(1.5, 48000, seed=3), 48000))
    m = Recorder(44100)
    res = score_with(m, _entry(False), ref, deg48, "music")
    assert [(sr, x.size) for _, sr, x in m.seen] == [(44100, 44100), (48000, 48000)]
    assert "trimmed 24000 samples (0.500 s) at the end of DEG" in res.notes[1]


def test_stereo_is_scored_as_the_downmix_and_said(tmp_path: Path) -> None:
    x = music_like(1.0, 44100, seed=4)
    _write(tmp_path / "st.wav", np.stack([x, 0.5 * x], axis=1), 44100)
    _write(tmp_path / "mono.wav", x, 44100)
    report = score_pair(tmp_path / "st.wav", tmp_path / "mono.wav", ["mrstft"], "music", "cpu")
    assert report.notes == ["REF: 2 channels, scored as the mono downmix (mean of the channels)"]
    np.testing.assert_allclose(report.ref.samples, 0.75 * x, rtol=1e-6)  # exact up to one rounding per sample


def test_delay_and_level_warnings(tmp_path: Path) -> None:
    sr = 48000
    x = music_like(2.0, sr, seed=5)
    _write(tmp_path / "r.wav", x, sr)
    d = int(0.005 * sr)
    _write(tmp_path / "late.wav", np.concatenate([np.zeros(d, np.float32), x[:-d]]), sr)
    _write(tmp_path / "quiet.wav", 0.5 * x, sr)
    report = score_pair(tmp_path / "r.wav", tmp_path / "late.wav", ["mrstft"], "music", "cpu")
    assert len(report.warnings) == 1
    assert report.warnings[0].startswith("DEG starts 5.00 ms (240 samples at 48000 Hz) after REF")
    assert report.results[0].value > 0.5  # what the warning is about: the shift alone dominates MR-STFT
    report = score_pair(tmp_path / "late.wav", tmp_path / "r.wav", ["mrstft"], "music", "cpu")
    assert report.warnings[0].startswith("DEG starts 5.00 ms (240 samples at 48000 Hz) before REF")
    report = score_pair(tmp_path / "r.wav", tmp_path / "quiet.wav", ["mrstft"], "music", "cpu")
    assert report.warnings == ["DEG is 6.0 dB quieter than REF (RMS); level-sensitive metrics (MR-STFT, MR-MEL, "
                               "CDPAM) score the gain too"]
    assert score_pair(tmp_path / "r.wav", tmp_path / "r.wav", ["mrstft"], "music", "cpu").warnings == []


# -- ViSQOL: the metric's own rate and its own handling of unequal lengths ----------------------------------

def _visqol_direct(ref: np.ndarray, deg: np.ndarray, sr: int) -> float:
    from visqol import VisqolApi

    api = VisqolApi()
    api.create(mode="audio", use_lattice_model=False, search_window=60)
    return float(api.measure_from_arrays(ref.astype(np.float64), deg.astype(np.float64), sample_rate=sr).moslqo)


def _airy(seconds: float, seed: int) -> np.ndarray:
    """48 kHz music plus strong content between 22.05 and 24 kHz (what a 44.1 kHz path throws away)."""
    sr = 48000
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(seed)
    air = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3)) for f in (22500.0, 23000.0, 23500.0))
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    return (0.6 * music_like(seconds, sr, seed=seed) + 0.1 * env * air).astype(np.float32)


def test_visqol_sees_the_48k_files_as_they_are(tmp_path: Path) -> None:
    pytest.importorskip("visqol")
    from scipy.signal import butter, sosfiltfilt

    ref = _airy(1.5, 6)
    deg = sosfiltfilt(butter(12, 21000, fs=48000, output="sos"), ref).astype(np.float32)  # removes the air band
    _write(tmp_path / "r.wav", ref, 48000)
    _write(tmp_path / "d.wav", deg, 48000)
    report = score_pair(tmp_path / "r.wav", tmp_path / "d.wav", ["visqol"], "music", "cpu")
    (res,) = report.results
    assert res.notes == ["computed at 48000 Hz: REF 48000 Hz as is, DEG 48000 Hz as is"]
    assert res.value == pytest.approx(_visqol_direct(ref, deg, 48000), abs=1e-9)  # the port's own value
    assert res.value < 4.70  # the band above 22.05 kHz counts: through 44.1 kHz both files would be identical


def test_visqol_aligns_unequal_lengths_itself(tmp_path: Path) -> None:
    pytest.importorskip("visqol")
    ref = music_like(2.5, 48000, seed=7)
    deg = ref[: int(1.5 * 48000)]
    _write(tmp_path / "r.wav", ref, 48000)
    _write(tmp_path / "d.wav", deg, 48000)
    report = score_pair(tmp_path / "r.wav", tmp_path / "d.wav", ["visqol", "mrstft"], "music", "cpu")
    visqol, mrstft = report.results
    assert visqol.value == pytest.approx(_visqol_direct(ref, deg, 48000), abs=1e-9)  # neither trimmed nor padded
    assert visqol.notes[1] == ("lengths differ (2.500 s vs 1.500 s); passed as they are: visqol handles unequal "
                               "lengths itself")
    padded = np.concatenate([deg, np.zeros(ref.size - deg.size, np.float32)])  # what the old path scored
    assert abs(visqol.value - _visqol_direct(ref, padded, 48000)) > 0.02
    assert mrstft.value == 0.0 and mrstft.notes[1].startswith("trimmed 48000 samples (1.000 s) at the end of REF")


def test_cli_score_reports_each_metric_and_goes_on_after_an_error(tmp_path: Path, capsys) -> None:
    pytest.importorskip("visqol")
    x = music_like(0.5, 48000, seed=8)  # too short for ViSQOL's audio mode (0.96 s)
    _write(tmp_path / "r.wav", x, 48000)
    _write(tmp_path / "d.wav", x, 48000)
    assert main(["score", str(tmp_path / "r.wav"), str(tmp_path / "d.wav"), "--metrics", "visqol,mrstft"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("visqol: error: visqol reference: 0.500 s is too short for ViSQOL audio mode")
    assert lines[1].startswith("mrstft   ↓ 0.0000")
