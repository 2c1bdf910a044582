"""Folder dataset: unique, stable clip ids, source hashes, and skipped entries with their reasons."""

import hashlib
import os

import numpy as np
import pytest
import soundfile as sf

from bench.errors import MissingDatasetError
from bench_datasets.base import assign_ids, check_unique_ids, sha256_file
from bench_datasets.folder import FolderDataset


def _tone(path, seconds=0.2, sr=16000, f=440.0, **kw):
    t = np.arange(int(seconds * sr)) / sr
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, (0.3 * np.sin(2 * np.pi * f * t)).astype(np.float32), sr, **kw)


def test_colliding_names_get_distinct_stable_ids(tmp_path):
    names = ["x.wav", "x.flac", "sub/x.wav", "sub_x.wav", "caf\u00e9.wav", "caf\u00e8.wav", "X.WAV", "other.wav"]
    for i, n in enumerate(names):
        _tone(tmp_path / n, f=200.0 + 50 * i)
    clips = FolderDataset(path=tmp_path).clips()
    assert len(clips) == len(names)
    ids = [c.id for c in clips]
    assert len({i.lower() for i in ids}) == len(ids)  # distinct even on a case-insensitive file system
    by_rel = {c.meta["relative_path"]: c for c in clips}
    assert by_rel["other.wav"].id == "other"  # a name nobody shares keeps its readable id
    h = hashlib.sha256(b"x.flac").hexdigest()[:8]
    assert by_rel["x.flac"].id == f"x-{h}"  # readable slug + hash of the exact relative path
    assert by_rel["sub/x.wav"].id.startswith("sub_x-") and by_rel["sub_x.wav"].id.startswith("sub_x-")
    for rel, c in by_rel.items():  # each clip is its own file, with the hash of that file's bytes
        assert c.path == str(tmp_path / rel) and c.sha256 == sha256_file(tmp_path / rel)
    assert [c.id for c in FolderDataset(path=tmp_path).clips()] == ids  # same files -> same ids
    _tone(tmp_path / "zzz.wav")  # an unrelated new file changes no existing id
    again = {c.meta["relative_path"]: c.id for c in FolderDataset(path=tmp_path).clips()}
    assert all(again[rel] == c.id for rel, c in by_rel.items())


def test_unresolvable_collision_is_an_error():
    h = hashlib.sha256(b"x.wav").hexdigest()[:8]
    keys = ["x.wav", "x.flac", f"x-{h}.wav"]  # the third file's own name is the first one's suffixed id
    with pytest.raises(MissingDatasetError, match="same clip id"):
        assign_ids(keys, lambda k: k.rsplit(".", 1)[0])
    with pytest.raises(MissingDatasetError, match="'a' and 'b'"):
        check_unique_ids(["Song", "song"], ["a", "b"])


def test_long_slugs_are_shortened_and_suffixed(tmp_path):
    rel = "/".join(["d" * 40] * 4) + "/take.wav"
    _tone(tmp_path / rel)
    (clip,) = FolderDataset(path=tmp_path).clips()
    assert len(clip.id) <= 96 + 9 and clip.id.endswith(hashlib.sha256(rel.encode()).hexdigest()[:8])


def test_source_hash_follows_the_file_content(tmp_path):
    _tone(tmp_path / "a.wav", f=300.0)
    before = FolderDataset(path=tmp_path).clips()[0].sha256
    _tone(tmp_path / "a.wav", f=600.0)  # other audio under the same name (same size)
    os.utime(tmp_path / "a.wav", ns=(1, 1))
    after = FolderDataset(path=tmp_path).clips()[0].sha256
    assert before != after == sha256_file(tmp_path / "a.wav")


def test_skipped_entries_have_reasons(tmp_path):
    _tone(tmp_path / "good.wav")
    _tone(tmp_path / "voice.opus", sr=48000, format="OGG", subtype="OPUS")  # libsndfile decodes Ogg Opus
    (tmp_path / "song.m4a").write_bytes(b"\x00\x00\x00\x18ftypM4A ")
    (tmp_path / "dangling.wav").symlink_to(tmp_path / "missing.wav")
    (tmp_path / "loop.wav").symlink_to(tmp_path / "loop.wav")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "up").symlink_to(tmp_path)  # a directory loop
    (tmp_path / "linked.wav").symlink_to(tmp_path / "good.wav")  # links to files are followed
    (tmp_path / "notes.txt").write_text("not audio")  # ignored without a word
    ds = FolderDataset(path=tmp_path)
    assert sorted(c.meta["relative_path"] for c in ds.clips()) == ["good.wav", "linked.wav", "voice.opus"]
    reasons = {s.path: s.reason for s in ds.skipped()}
    assert set(reasons) == {"song.m4a", "dangling.wav", "loop.wav", "sub/up"}
    assert "not decoded" in reasons["song.m4a"] and "convert" in reasons["song.m4a"]
    assert reasons["dangling.wav"].startswith("dangling symbolic link")
    assert reasons["loop.wav"].startswith("symbolic link loop")
    assert "loop" in reasons["sub/up"]


def test_only_skipped_files_is_an_error_that_says_why(tmp_path):
    (tmp_path / "a.m4a").write_bytes(b"")
    with pytest.raises(MissingDatasetError, match="1 skipped, e.g. a.m4a"):
        FolderDataset(path=tmp_path).clips()
