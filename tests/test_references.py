"""Reference preparation: checks in the right order and words, warnings, source changes, long and short clips."""

import numpy as np
import pytest
import soundfile as sf

from bench.audio.resample import resample
from bench.errors import AudioError
from bench.metrics.visqol import MIN_SAMPLES
from bench.references import MAX_SECONDS, MIN_SECONDS, load_or_prepare, prepare_reference
from bench.results.store import ResultsStore
from bench.runner import RunConfig, run
from bench_datasets.base import Clip, source_sha256
from bench_datasets.folder import ENTRY, FolderDataset

SR = 44100


def _clip(path, **kw) -> Clip:
    return Clip(id=path.stem, domain="music", path=str(path), sha256=source_sha256(path), **kw)


def _prepare(path, loudness=-24.0):
    return prepare_reference(_clip(path), SR, loudness)


def test_float_source_above_full_scale_is_not_clipped(tmp_path, music):
    x = music(1.5)
    sf.write(tmp_path / "hot.wav", 4.0 * x / np.max(np.abs(x)), SR, subtype="FLOAT")  # peak 4.0, smooth
    y, warnings = _prepare(tmp_path / "hot.wav")
    assert np.max(np.abs(y)) <= 1.0 and warnings == []
    _, warnings = _prepare(tmp_path / "hot.wav", loudness=None)
    assert any("above full scale" in w for w in warnings)
    sf.write(tmp_path / "flat.wav", np.clip(40.0 * x, -4.0, 4.0), SR, subtype="FLOAT")  # flat tops at 4.0
    with pytest.raises(AudioError, match=r"clipped \(.*flat-topped at 4 \(above full scale\)"):
        _prepare(tmp_path / "flat.wav")
    sf.write(tmp_path / "int.wav", np.clip(20.0 * x, -1.0, 1.0), SR, subtype="PCM_16")
    with pytest.raises(AudioError, match="flat-topped at full scale"):
        _prepare(tmp_path / "int.wav")


def test_full_scale_low_tone_is_not_clipping(tmp_path):
    t = np.arange(SR) / SR
    sf.write(tmp_path / "tone.wav", np.sin(2 * np.pi * 60.0 * t), SR, subtype="PCM_16")  # peaks are smooth
    _prepare(tmp_path / "tone.wav")


def test_cancelling_channels_say_the_downmix_is_silent(tmp_path, music):
    x = music(1.5)
    sf.write(tmp_path / "phase.wav", np.stack([x, -x], axis=1), SR, subtype="FLOAT")
    with pytest.raises(AudioError, match="mono downmix is silent .* the channels cancel"):
        _prepare(tmp_path / "phase.wav")
    sf.write(tmp_path / "zero.wav", np.zeros((SR, 2), np.float32), SR)
    with pytest.raises(AudioError, match=r"zero: silent \(RMS"):
        _prepare(tmp_path / "zero.wav")


def test_minimum_length_is_visqols_and_named(tmp_path, music):
    need = MIN_SAMPLES["audio"]  # at 48 kHz
    assert MIN_SECONDS == pytest.approx(need / 48000)
    x = music(2.0)
    n = int(np.ceil(MIN_SECONDS * SR))
    sf.write(tmp_path / "ok.wav", x[:n], SR)
    y, _ = _prepare(tmp_path / "ok.wav")
    assert resample(y, SR, 48000).size >= need  # ViSQOL's audio mode can score the shortest accepted clip
    sf.write(tmp_path / "short.wav", x[:441], SR)
    with pytest.raises(AudioError, match=r"0\.010 s .* shorter than the minimum clip length, which ViSQOL.s audio "
                                         r"mode needs \(0\.960 s"):
        _prepare(tmp_path / "short.wav")
    sf.write(tmp_path / "half.wav", x[: SR // 2], SR)
    with pytest.raises(AudioError, match="minimum clip length"):
        _prepare(tmp_path / "half.wav")


def test_dc_infrasonic_and_band_limited_sources(tmp_path, music):
    sf.write(tmp_path / "dc.wav", np.full(SR, 0.5, np.float32), SR)
    with pytest.raises(AudioError, match="no audible content: .* below 20 Hz"):
        _prepare(tmp_path / "dc.wav")
    x = music(1.5)
    sf.write(tmp_path / "offset.wav", 0.1 * x + 0.5, SR, subtype="FLOAT")
    _, warnings = _prepare(tmp_path / "offset.wav")
    assert any("below 20 Hz" in w for w in warnings)
    sf.write(tmp_path / "phone.wav", resample(x, SR, 8000), 8000)
    _, warnings = _prepare(tmp_path / "phone.wav")
    assert any("band-limited to" in w and "8000 Hz" in w for w in warnings)
    _, warnings = _prepare_file_at(tmp_path, x)
    assert warnings == []


def _prepare_file_at(tmp_path, x):
    sf.write(tmp_path / "full.wav", x, SR)
    return _prepare(tmp_path / "full.wav")


def test_truncated_wav_is_reported_as_truncated(tmp_path, music):
    sf.write(tmp_path / "whole.wav", music(1.5), SR, subtype="PCM_16")
    data = (tmp_path / "whole.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(AudioError, match="truncated WAV"):
        _prepare(tmp_path / "cut.wav")


def test_long_files_are_refused_before_decoding_with_the_option_that_cuts_them(tmp_path):
    sr = 8000
    sf.write(tmp_path / "long.wav", np.zeros(int((MAX_SECONDS + 1) * sr), np.int16), sr, subtype="PCM_16")
    with pytest.raises(AudioError, match=r"longer than the 60 s maximum.*--dataset-option duration=SECONDS"):
        _prepare(tmp_path / "long.wav")
    # cut with the folder's duration option, the same file is a (silent, hence rejected) short clip
    (clip,) = FolderDataset(path=tmp_path, duration=2.0).clips()
    with pytest.raises(AudioError, match="silent"):
        prepare_reference(clip, SR, -24.0)
    assert f"{MAX_SECONDS:g} s clip maximum" in ENTRY.description and "duration=SECONDS" in ENTRY.description


def test_changed_source_is_prepared_again_and_drops_old_results(tmp_path, music):
    src = tmp_path / "a.wav"
    sf.write(src, music(1.5, seed=1), SR)
    with ResultsStore.create(tmp_path / "run") as store:
        ref = load_or_prepare(store, _clip(src), "folder", SR, -24.0)
        store.put_score("v", "a", "m", 1.0, {})
        created = store.clip("a")["created"]
        again = load_or_prepare(store, _clip(src), "folder", SR, -24.0)  # unchanged: reused as stored
        assert store.clip("a")["created"] == created and np.array_equal(again.audio, ref.audio)
        assert len(store.scores()) == 1
        sf.write(src, music(1.5, seed=2), SR)  # other audio under the same name
        new = load_or_prepare(store, _clip(src), "folder", SR, -24.0)
        assert not np.array_equal(new.audio, ref.audio)
        assert store.clip("a")["meta"]["source_sha256"] == source_sha256(src)
        assert store.scores() == []  # nothing computed from the old reference survives
        store.put_score("v", "a", "m", 1.0, {})
        sf.write(src, np.zeros(SR, np.float32), SR)  # now unusable: the old values go too
        with pytest.raises(AudioError, match="silent"):
            load_or_prepare(store, _clip(src), "folder", SR, -24.0)
        assert store.scores() == []


def _cfg(folder, out):
    return RunConfig(out=out, dataset="folder", dataset_options={"path": str(folder), "domain": "music"},
                     vocoders=["reference"], metrics=["mrstft"], device="cpu", progress=False)


def test_run_keeps_colliding_files_apart_and_lists_skipped_ones(tmp_path, music, capsys):
    d = tmp_path / "in"
    d.mkdir()
    sf.write(d / "x.wav", music(1.2, seed=1), SR)
    sf.write(d / "x.flac", music(1.2, seed=2), SR)
    sf.write(d / "phone.wav", resample(music(1.2, seed=3), SR, 8000), 8000)
    (d / "gone.wav").symlink_to(d / "nowhere.wav")
    summary = run(_cfg(d, tmp_path / "r"))
    assert summary.clips_ok == 3 and summary.scores.computed == 3
    assert dict(summary.clips_failed)["gone.wav"].startswith("dangling symbolic link")
    assert "warning: clip phone: band-limited" in capsys.readouterr().err
    with ResultsStore.open(tmp_path / "r") as s:
        rows = {c["clip_id"]: c for c in s.clips()}
        assert len(rows) == 3 and len({c["meta"]["source_sha256"] for c in rows.values()}) == 3
        assert any("band-limited" in w for w in rows["phone"]["meta"]["warnings"])
        assert {(f["stage"], f["clip_id"]) for f in s.failures()} == {("reference", "gone.wav")}
        assert [k["path"] for k in s.get_meta("skipped")] == ["gone.wav"]
    sf.write(d / "x.wav", music(1.2, seed=4), SR)  # replaced under the same name: recomputed
    again = run(_cfg(d, tmp_path / "r"))
    assert again.scores.computed == 1 and again.scores.skipped == 2


def test_store_without_source_hash_is_upgraded_without_recomputing(tmp_path, music):
    """A reference stored before source hashes existed is prepared again once; equal audio keeps its values."""
    src = tmp_path / "a.wav"
    sf.write(src, np.stack([music(1.5, seed=1), music(1.5, seed=5)], axis=1), SR)
    with ResultsStore.create(tmp_path / "run") as store:
        load_or_prepare(store, _clip(src), "folder", SR, -24.0)
        row = store.clip("a")
        old_meta = {k: v for k, v in row["meta"].items() if k not in ("source_sha256", "warnings")}
        store.put_clip("a", dataset="folder", domain="music", path=str(src), offset=0.0, duration=row["duration"],
                       sha256=row["sha256"], meta=old_meta)
        store.put_score("v", "a", "m", 1.0, {})
        load_or_prepare(store, _clip(src), "folder", SR, -24.0)
        assert store.clip("a")["meta"]["source_sha256"] == source_sha256(src)
        assert len(store.scores()) == 1
