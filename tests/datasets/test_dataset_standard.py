"""MUSDB18-HQ, MTG-Jamendo, LibriTTS and VCTK definitions on tiny directory trees written by the test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bench.audio.io import load_audio
from bench.errors import MissingDatasetError
from bench_datasets.analysis import rms_dbfs
from bench_datasets.base import sha256_file
from bench_datasets.jamendo import JamendoDataset, read_file_list
from bench_datasets.libritts import LibriTTSDataset
from bench_datasets.musdb import Musdb18HQDataset
from bench_datasets.registry import dataset_registry
from bench_datasets.vctk import VCTKDataset


def write_audio(path: Path, seconds: float, sr: int = 44100, seed: int = 0, silent_first: float = 0.0) -> Path:
    x = 0.1 * np.random.default_rng(seed).standard_normal(int(seconds * sr)).astype(np.float32)
    x[: int(silent_first * sr)] = 0.0
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x, sr)
    return path


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    for var in ("BENCH_MUSDB18HQ_DIR", "BENCH_JAMENDO_DIR", "BENCH_JAMENDO_LIST", "BENCH_LIBRITTS_DIR",
                "BENCH_VCTK_DIR"):
        monkeypatch.delenv(var, raising=False)


# ------------------------------------------------------------------------------------------ MUSDB18-HQ


@pytest.fixture
def musdb(tmp_path) -> Path:
    root = tmp_path / "musdb18hq"
    for i, name in enumerate(["A Artist - Song", "B Band - Tune", "C Choir - Hymn", "D Duo - Loop"]):
        write_audio(root / "test" / name / "mixture.wav", 4.0, seed=i, silent_first=2.0 if i == 0 else 0.0)
        write_audio(root / "test" / name / "vocals.wav", 0.5, seed=10 + i)
    write_audio(root / "train" / "E Ensemble - Train" / "mixture.wav", 4.0, seed=9)
    return root


def test_musdb_clips_are_seeded_excerpts_of_test_mixtures(musdb):
    ds = Musdb18HQDataset(path=musdb, seed=0, clip_seconds=1.0, domain="speech", limit=2)  # unknown options ignored
    clips = ds.clips()
    assert sorted(c.id for c in clips) == ["A_Artist_-_Song", "B_Band_-_Tune", "C_Choir_-_Hymn", "D_Duo_-_Loop"]
    for c in clips:
        assert c.domain == "music" and c.path.endswith("mixture.wav") and "/test/" in c.path
        assert c.duration == 1.0 and 0.0 <= c.offset <= 3.0
    again = Musdb18HQDataset(path=musdb, seed=0, clip_seconds=1.0).clips()
    assert again == clips
    other = Musdb18HQDataset(path=musdb, seed=1, clip_seconds=1.0).clips()
    assert [(c.id, c.offset) for c in other] != [(c.id, c.offset) for c in clips]
    assert len(Musdb18HQDataset(path=musdb, max_clips=2, clip_seconds=1.0).clips()) == 2
    whole = Musdb18HQDataset(path=musdb / "test", clip_seconds=None).clips()  # pointing at test/ works too
    assert all(c.offset == 0.0 and c.duration is None for c in whole)
    assert ds.describe()["tracks"] == 4 and ds.describe()["split"] == "test"


def test_musdb_excerpts_avoid_silence(musdb):
    """Track A is silent for its first 2 s: no seed may pick an excerpt there."""
    for seed in range(8):
        clips = Musdb18HQDataset(path=musdb, seed=seed, clip_seconds=1.0).clips()
        clip = next(c for c in clips if c.id.startswith("A"))
        x, _ = load_audio(clip.path, offset=clip.offset, duration=clip.duration)
        assert rms_dbfs(x) > -30 and clip.meta["active_excerpt"] is True


def test_musdb_env_var_and_missing_messages(musdb, tmp_path, monkeypatch):
    with pytest.raises(MissingDatasetError) as err:
        Musdb18HQDataset()
    msg = str(err.value)
    assert "\n" not in msg and "MUSDB18-HQ" in msg and "Zenodo" in msg and "3338373" in msg
    assert "BENCH_MUSDB18HQ_DIR" in msg
    monkeypatch.setenv("BENCH_MUSDB18HQ_DIR", str(musdb))
    assert len(Musdb18HQDataset(clip_seconds=1.0).clips()) == 4
    monkeypatch.setenv("BENCH_MUSDB18HQ_DIR", str(tmp_path / "nope"))
    with pytest.raises(MissingDatasetError, match="not a directory"):
        Musdb18HQDataset()
    compressed = tmp_path / "musdb18"
    (compressed / "test").mkdir(parents=True)
    (compressed / "test" / "Song.stem.mp4").write_bytes(b"")
    with pytest.raises(MissingDatasetError, match=r"\.stem\.mp4.*MUSDB18-HQ"):
        Musdb18HQDataset(path=compressed)
    with pytest.raises(MissingDatasetError, match="mixture.wav"):
        Musdb18HQDataset(path=tmp_path / "musdb18hq" / "test" / "A Artist - Song")


# -------------------------------------------------------------------------------------------- Jamendo


@pytest.fixture
def jamendo(tmp_path) -> Path:
    root = tmp_path / "jamendo"
    for i, rel in enumerate(["00/100.wav", "00/200.wav", "14/1234.low.wav", "99/999.wav"]):
        write_audio(root / rel, 3.0, seed=i)
    (root / "test.tsv").write_text(
        "TRACK_ID\tARTIST_ID\tALBUM_ID\tPATH\tDURATION\tTAGS\n"
        "track_0000100\tartist_1\talbum_1\t00/100.wav\t3.0\tgenre---rock\n"
        "track_0001234\tartist_2\talbum_2\t14/1234.wav\t3.0\tgenre---pop\tmood/theme---happy\n"
        "track_0000200\tartist_3\talbum_3\t00/200.wav\t3.0\tgenre---jazz\n"
    )
    return root


def test_jamendo_reads_split_tsv_and_plain_lists(jamendo, tmp_path):
    assert read_file_list(jamendo / "test.tsv") == ["00/100.wav", "14/1234.wav", "00/200.wav"]
    plain = tmp_path / "list.txt"
    plain.write_text("# my subset\n00/200.wav\n\n99/999.wav\n")
    assert read_file_list(plain) == ["00/200.wav", "99/999.wav"]
    ds = JamendoDataset(path=jamendo, file_list="test.tsv", clip_seconds=1.0)  # relative to the root
    clips = ds.clips()
    assert sorted(c.id for c in clips) == ["00_100", "00_200", "14_1234"]
    assert next(c for c in clips if c.id == "14_1234").path.endswith("1234.low.wav")  # low-bitrate download
    assert all(c.domain == "music" and c.duration == 1.0 and 0 <= c.offset <= 2.0 for c in clips)
    assert JamendoDataset(path=jamendo, file_list=plain, clip_seconds=1.0).describe()["tracks"] == 2
    assert ds.clips() == JamendoDataset(path=jamendo, file_list=jamendo / "test.tsv", clip_seconds=1.0).clips()
    assert len(JamendoDataset(path=jamendo, file_list="test.tsv", max_clips=1).clips()) == 1


def test_jamendo_env_vars_and_errors(jamendo, tmp_path, monkeypatch):
    with pytest.raises(MissingDatasetError, match="MTG-Jamendo.*BENCH_JAMENDO_DIR"):
        JamendoDataset()
    monkeypatch.setenv("BENCH_JAMENDO_DIR", str(jamendo))
    with pytest.raises(MissingDatasetError, match="file list.*BENCH_JAMENDO_LIST"):
        JamendoDataset()
    monkeypatch.setenv("BENCH_JAMENDO_LIST", str(jamendo / "test.tsv"))
    assert len(JamendoDataset(clip_seconds=1.0).clips()) == 3
    partial = tmp_path / "partial.txt"
    partial.write_text("00/100.wav\n42/4242.mp3\n")
    with pytest.raises(MissingDatasetError, match=r"1 of 2 listed files .*42/4242\.mp3"):
        JamendoDataset(file_list=partial)


# ------------------------------------------------------------------------------------------- LibriTTS


@pytest.fixture
def libritts(tmp_path) -> Path:
    root = tmp_path / "data"
    for s, spk in enumerate(["1089", "121", "237"]):
        for u in range(3):
            stem = f"{spk}_1000{s}_00000{u}_000000"
            wav = write_audio(root / "LibriTTS" / "test-clean" / spk / f"1000{s}" / f"{stem}.wav", 0.3, 24000, seed=u)
            wav.with_name(f"{stem}.normalized.txt").write_text(f"Sentence {u} of speaker {spk}.\n")
    return root


def test_libritts_layout_interleaving_and_text(libritts, monkeypatch):
    ds = LibriTTSDataset(path=libritts, seed=0, clip_seconds=10.0, domain="music")
    clips = ds.clips()
    assert len(clips) == 9 and all(c.domain == "speech" and c.duration is None and c.offset == 0 for c in clips)
    assert len({c.meta["speaker"] for c in clips[:3]}) == 3  # a prefix covers every speaker
    c = clips[0]
    assert c.id == Path(c.path).stem and c.meta["text"].startswith("Sentence") and c.meta["sample_rate"] == 24000
    assert ds.clips() == LibriTTSDataset(path=libritts / "LibriTTS").clips()
    assert [x.id for x in LibriTTSDataset(path=libritts, seed=1).clips()] != [x.id for x in clips]
    assert len(LibriTTSDataset(path=libritts, max_clips=4).clips()) == 4
    monkeypatch.setenv("BENCH_LIBRITTS_DIR", str(libritts / "LibriTTS" / "test-clean"))
    assert len(LibriTTSDataset().clips()) == 9


def test_libritts_missing(tmp_path):
    with pytest.raises(MissingDatasetError) as err:
        LibriTTSDataset()
    msg = str(err.value)
    assert "LibriTTS test-clean" in msg and "OpenSLR" in msg and "BENCH_LIBRITTS_DIR" in msg
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingDatasetError, match="test-clean/<speaker>/<chapter>"):
        LibriTTSDataset(path=tmp_path / "empty")


# ----------------------------------------------------------------------------------------------- VCTK


@pytest.fixture
def vctk(tmp_path) -> Path:
    root = tmp_path / "VCTK-Corpus-0.92"
    for s, spk in enumerate(["p225", "p226", "p227"]):
        for u in range(1, 4):
            for mic in ("mic1", "mic2"):
                write_audio(root / "wav48_silence_trimmed" / spk / f"{spk}_{u:03d}_{mic}.flac", 0.2, 48000, seed=u)
            (root / "txt" / spk).mkdir(parents=True, exist_ok=True)
            (root / "txt" / spk / f"{spk}_{u:03d}.txt").write_text(f"Please call Stella {u}.\n")
    return root


def test_vctk_092_layout_mic_speakers(vctk, tmp_path):
    clips = VCTKDataset(path=vctk).clips()
    assert len(clips) == 9 and all(c.path.endswith("_mic1.flac") for c in clips)
    assert len({c.meta["speaker"] for c in clips[:3]}) == 3
    c = next(c for c in clips if c.id == "p226_002")
    assert c.meta["text"] == "Please call Stella 2." and c.meta["layout"] == "0.92" and c.domain == "speech"
    assert all(c.path.endswith("_mic2.flac") for c in VCTKDataset(path=vctk, mic="mic2").clips())
    sub = VCTKDataset(path=vctk, speakers="p227, p225").clips()
    assert {c.meta["speaker"] for c in sub} == {"p225", "p227"} and len(sub) == 6
    assert VCTKDataset(path=tmp_path).clips() == clips  # the folder holding VCTK-Corpus-0.92 also works
    with pytest.raises(MissingDatasetError, match="p999"):
        VCTKDataset(path=vctk, speakers=["p999"])
    assert [x.id for x in VCTKDataset(path=vctk, seed=5).clips()] != [x.id for x in clips]


def test_vctk_080_layout_and_missing(tmp_path, monkeypatch):
    old = tmp_path / "VCTK-Corpus"
    for u in range(1, 3):
        write_audio(old / "wav48" / "p225" / f"p225_{u:03d}.wav", 0.2, 48000)
    monkeypatch.setenv("BENCH_VCTK_DIR", str(old))
    clips = VCTKDataset().clips()
    assert [c.id for c in sorted(clips, key=lambda c: c.id)] == ["p225_001", "p225_002"]
    assert clips[0].meta["layout"] == "0.80"
    monkeypatch.delenv("BENCH_VCTK_DIR")
    with pytest.raises(MissingDatasetError) as err:
        VCTKDataset()
    assert "VCTK Corpus 0.92" in str(err.value) and "DataShare" in str(err.value) and "BENCH_VCTK_DIR" in str(err.value)


def test_standard_sets_are_registered():
    reg = dataset_registry()
    for name, domain, env in [("musdb18hq", "music", "BENCH_MUSDB18HQ_DIR"), ("jamendo", "music", "BENCH_JAMENDO_DIR"),
                              ("libritts", "speech", "BENCH_LIBRITTS_DIR"), ("vctk", "speech", "BENCH_VCTK_DIR")]:
        e = reg.get(name)
        assert e.domains == (domain,) and e.env_var == env and e.how_to_get


# ------------------------------------------------------------------------------------ ids and hashes


def test_standard_sets_give_colliding_names_distinct_ids_and_hash_every_source(tmp_path):
    root = tmp_path / "musdb"
    for i, name in enumerate(["Röyksopp - Song", "Räyksopp - Song", "Plain - Track"]):  # one slug for the first two
        write_audio(root / "test" / name / "mixture.wav", 1.0, seed=i)
    clips = Musdb18HQDataset(path=root, clip_seconds=None).clips()
    by_track = {c.meta["track"]: c.id for c in clips}
    assert len(set(by_track.values())) == 3 and by_track["Plain - Track"] == "Plain_-_Track"
    for n in (1, 2):  # a track's id does not depend on how many tracks are taken
        small = {c.meta["track"]: c.id for c in Musdb18HQDataset(path=root, clip_seconds=None, max_clips=n).clips()}
        assert len(small) == n and small.items() <= by_track.items()
    lib = tmp_path / "libri" / "test-clean"
    for spk in ("1", "2"):  # the same file name under two speakers (a user-assembled copy)
        write_audio(lib / spk / "10" / "utt_000.wav", 0.3, 24000, seed=int(spk))
    ids = [c.id for c in LibriTTSDataset(path=tmp_path / "libri").clips()]
    assert len(set(ids)) == 2 and all(i.startswith("utt_000-") for i in ids)
    for c in clips:
        assert c.sha256 == sha256_file(c.path)
