import numpy as np
import pytest
import soundfile as sf

from bench.audio import load_audio, normalize_loudness, resample, save_audio, validate
from bench.audio.checks import check_clipping, clipped_fraction
from bench.audio.loudness import integrated_loudness
from bench.errors import AudioError
from numerics import assert_close_f32


def test_load_downmixes_and_resamples(tmp_path, music):
    x = music(1.0, 48000)
    sf.write(tmp_path / "a.flac", np.stack([x, np.zeros_like(x)], 1), 48000)
    y, sr = load_audio(tmp_path / "a.flac", 44100)
    assert sr == 44100 and y.dtype == np.float32 and y.ndim == 1
    assert abs(y.size - 44100) <= 1
    assert np.max(np.abs(y)) == pytest.approx(np.max(np.abs(x)) / 2, rel=0.05)


def test_load_excerpt(tmp_path, music):
    x = music(2.0)
    sf.write(tmp_path / "a.wav", x, 44100, subtype="FLOAT")
    y, _ = load_audio(tmp_path / "a.wav", offset=0.5, duration=0.25)
    np.testing.assert_array_equal(y, x[22050:22050 + 11025])


@pytest.mark.parametrize("content", [b"", b"RIFFxxxxWAVEjunk", b"\x00" * 100])
def test_corrupt_files_raise_audio_error(tmp_path, content):
    p = tmp_path / "bad.wav"
    p.write_bytes(content)
    with pytest.raises(AudioError, match="bad.wav"):
        load_audio(p)


def test_offset_past_end(tmp_path, music):
    sf.write(tmp_path / "a.wav", music(0.5), 44100)
    with pytest.raises(AudioError, match="no samples"):
        load_audio(tmp_path / "a.wav", offset=3.0)


def test_save_is_atomic_and_roundtrips(tmp_path, music):
    x = music(0.3)
    save_audio(tmp_path / "o" / "x.wav", x, 44100)
    assert not list((tmp_path / "o").glob(".*tmp"))
    y, sr = sf.read(tmp_path / "o" / "x.wav", dtype="float32")
    np.testing.assert_array_equal(x, y)


def test_validate_reasons(music):
    validate(music(0.5), 44100)
    for x, reason in [(np.zeros(0, np.float32), "empty"), (np.array([np.nan] * 5000, np.float32), "non-finite"),
                      (music(0.5)[:100], "shorter than the minimum length"), (np.zeros(5000, np.float32), "silent"),
                      (np.ones((2, 5000), np.float32), "mono")]:
        with pytest.raises(AudioError, match=reason):
            validate(x, 44100)


def test_clipping_detection(music):
    x = music(1.0)
    assert clipped_fraction(x) == 0.0
    hot = np.clip(x * 20, -1, 1)
    assert clipped_fraction(hot) > 0.1
    with pytest.raises(AudioError, match="clipped"):
        check_clipping(hot)
    check_clipping(x / np.max(np.abs(x)))  # a single sample touching full scale is not clipping


def test_resample_does_not_mutate_and_keeps_length(music):
    x = music(1.0)
    before = x.copy()
    y = resample(x, 44100, 16000)
    np.testing.assert_array_equal(x, before)
    assert y.size == 16000
    assert resample(x, 44100, 44100) is not x


def test_loudness_normalisation_hits_target(music):
    x = music(2.0) * 0.1
    y = normalize_loudness(x, 44100, -24.0)
    assert integrated_loudness(y, 44100) == pytest.approx(-24.0, abs=0.05)
    loud = normalize_loudness(x, 44100, 0.0)  # would exceed full scale: scaled down to peak 1
    assert_close_f32(np.max(np.abs(loud)), 1.0, ulps=4)
    with pytest.raises(AudioError):
        normalize_loudness(np.zeros(44100, np.float32), 44100)
