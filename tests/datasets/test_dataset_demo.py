"""The demo set builder, run on small .deb packages built by the test (and once for real, marked network)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bench.audio.io import load_audio
from bench.errors import MissingDatasetError
from bench_datasets import debian, demo
from bench_datasets.base import sha256_file, sha256_samples
from bench_datasets.registry import dataset_registry
from numerics import F32_EPS

SR = 44100
needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
SONIC_COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: 2016 Samuel Aaron
License: MIT

Files: etc/samples/loop_long.flac
Copyright: 2015 someone
License: CC0
"""


def build_deb(tmp: Path, name: str, version: str, files: dict[str, bytes]) -> Path:
    """A minimal .deb holding ``files`` (package paths -> contents)."""
    import subprocess

    tree = tmp / f"build-{name}"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: t <t@example.org>\n"
        "Description: test package\n"
    )
    for rel, data in files.items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_bytes(data)
    out = tmp / f"{name}_{version}_all.deb"
    subprocess.run(["dpkg-deb", "-Zgzip", "-z1", "--root-owner-group", "--build", str(tree), str(out)],
                   check=True, capture_output=True)
    return out


def _noise(seconds: float, fc: float, seed: int, channels: int = 2, level: float = 0.3) -> np.ndarray:
    """Band-limited (brick wall at ``fc``) noise, [T, channels]."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(channels):
        x = rng.standard_normal(int(seconds * SR))
        spec = np.fft.rfft(x)
        spec[np.fft.rfftfreq(x.size, 1 / SR) > fc] = 0
        y = np.fft.irfft(spec, n=x.size)
        out.append(level * y / np.sqrt(np.mean(y**2)))
    return np.stack(out, axis=1)


def _speech_like(seconds: float, seed: int, pause_at: float | None = None, level: float = 0.2) -> np.ndarray:
    """Noise bursts with a 4 Hz syllable envelope, 0.5 s of silence at each end, optional 0.4 s pause."""
    x = _noise(seconds, 16000, seed, channels=2, level=level)
    t = np.arange(x.shape[0]) / SR
    env = 0.55 + 0.45 * np.sin(2 * np.pi * 4 * t)
    env[(t < 0.5) | (t > seconds - 0.5)] = 0
    if pause_at is not None:
        env[(t > pause_at) & (t < pause_at + 0.4)] = 0
    return x * env[:, None]


def _encode(x: np.ndarray, fmt: str) -> bytes:
    import io

    buf = io.BytesIO()
    if fmt == "OGG":
        sf.write(buf, x, SR, format="OGG", subtype="VORBIS")
    else:
        sf.write(buf, x, SR, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


@pytest.fixture(scope="module")
def fake_debs(tmp_path_factory) -> dict[str, Path]:
    """The three packages of the test subset, with the real package paths and short generated audio."""
    tmp = tmp_path_factory.mktemp("debs")
    fof = "usr/share/games/fretsonfire/data/songs/muldjord"
    stamps = "usr/share/tuxpaint/stamps"
    normal = _encode(_speech_like(6.5, 10), "OGG")
    files = {
        "fretsonfire-songs-muldjord": {
            f"{fof}/song a/song.ogg": _encode(_noise(9.0, 16000, 1), "OGG"),
            f"{fof}/song a/guitar.ogg": _encode(_noise(9.0, 16000, 2), "OGG"),  # a stem: never used
            f"{fof}/song_b/song.ogg": _encode(_noise(9.0, 16000, 3, level=0.45), "OGG"),
            "usr/share/doc/fretsonfire-songs-muldjord/copyright": (
                b"are licenced under the terms of the Creative Commons Attribution ShareAlike licence 3.0:\n"),
        },
        "sonic-pi-samples": {
            "usr/share/sonic-pi/samples/loop_long.flac": _encode(_noise(5.0, 16000, 4, level=0.1), "FLAC"),
            "usr/share/sonic-pi/samples/bd_short.flac": _encode(_noise(0.5, 16000, 5, level=0.1), "FLAC"),
            "usr/share/doc/sonic-pi-samples/copyright": SONIC_COPYRIGHT.encode(),
        },
        "tuxpaint-stamps-default": {
            f"{stamps}/food/pie_desc_es.ogg": normal,
            f"{stamps}/food/pie-photo_desc_es.ogg": normal,  # the same recording under another stamp
            f"{stamps}/food/long_desc_es.ogg": _encode(_speech_like(13.0, 11, pause_at=7.5), "OGG"),
            f"{stamps}/food/quiet_desc_es.ogg": _encode(_noise(6.0, 16000, 12, level=10 ** (-75 / 20)), "OGG"),
            f"{stamps}/food/short_desc_es.ogg": _encode(_speech_like(3.0, 13), "OGG"),
            f"{stamps}/food/pie_desc_fr.ogg": _encode(_speech_like(7.0, 14), "OGG"),
            f"{stamps}/food/pie_desc_el.ogg": _encode(_speech_like(7.0, 15), "OGG"),  # band-limited language
            f"{stamps}/food/broken_desc_fr.ogg": b"OggS not really",  # corrupt: skipped with a reason
            f"{stamps}/food/pie.png": b"png",
            "usr/share/doc/tuxpaint-stamps-default/copyright": (
                b"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
                b"Files: *\nCopyright: 2002 B\nLicense: GPL-2\n"),
        },
    }
    return {name: build_deb(tmp, name, f"1.{i}-1", content) for i, (name, content) in enumerate(files.items())}


@pytest.fixture
def offline(fake_debs, monkeypatch):
    """Replace ``apt-get download`` by copying the test's packages; records what was asked for."""
    calls: list[list[str]] = []

    def fake_download(names, dest):
        calls.append(sorted(names))
        return {n: Path(shutil.copy(fake_debs[n], dest)) for n in names}

    monkeypatch.setattr(debian, "download", fake_download)
    return calls


@needs_dpkg
def test_prepare_builds_clips_and_manifest(tmp_path, offline):
    out = demo.prepare(tmp_path, subset="test", clip_seconds=4.0, progress=False)
    assert out == tmp_path / "demo-test-4s"
    m = json.loads((out / "manifest.json").read_text())
    assert m["subset"] == "test" and m["seed"] == 0 and m["clip_seconds"] == 4.0
    clips = m["clips"]
    music = [c for c in clips if c["domain"] == "music"]
    speech = [c for c in clips if c["domain"] == "speech"]
    assert [c["domain"] for c in clips] == ["music"] * len(music) + ["speech"] * len(speech)
    # music: both song mixes (never the guitar stem), the one sample loop long enough; sources interleaved
    assert sorted(c["path_in_package"].split("/")[-1] for c in music) == ["loop_long.flac", "song.ogg", "song.ogg"]
    assert music[0]["source"] != music[1]["source"]
    licences = {c["source"]: c["licence"] for c in clips}
    assert licences == {"fretsonfire-songs-muldjord": "CC-BY-SA-3.0", "sonic-pi-samples": "CC0",
                        "tuxpaint-stamps-default": "GPL-2"}
    # speech: es and fr only; the duplicate recording once; the quiet and the short file never
    assert {c["language"] for c in speech} == {"es", "fr"}
    es = [c for c in speech if c["language"] == "es"]
    assert len(es) == 2 and len({c["source_sha256"] for c in es}) == 2
    assert not any("quiet" in c["path_in_package"] or "short" in c["path_in_package"] for c in speech)
    reasons = {r["path"].split("/")[-1]: r["reason"] for r in m["rejected"]}
    assert "quiet_desc_es.ogg" not in {c["path_in_package"].split("/")[-1] for c in speech}
    assert all("after trimming" in v or "duplicate" in v for k, v in reasons.items() if k.endswith("_es.ogg"))
    assert m["too_short"]["sonic-pi-samples"] == 1 and m["too_short"]["speech:es"] == 1
    assert reasons["broken_desc_fr.ogg"].startswith("cannot decode")
    long = next(c for c in es if "long" in c["path_in_package"])
    assert 5.0 <= long["duration"] <= 8.0  # shortened at the pause at 7.5-7.9 s of the 13 s file
    for c in clips:
        x, sr = sf.read(out / c["file"], dtype="float32")
        assert sr == SR and x.ndim == 1
        assert sha256_samples(x) == c["sha256"]
        assert np.max(np.abs(x)) <= 0.99 * (1 + 4 * F32_EPS) and 0 < c["gain"] <= 1.0
        assert x.size == round(c["duration"] * SR)
        assert c["bandwidth_hz"] == pytest.approx(16000, abs=800)  # generated at 16 kHz (+ gating/codec splatter)
        assert c["package_version"].endswith("-1") and c["copyright"].endswith(f"/{c['source']}/copyright")
        src = Path(debian.load_stamp(tmp_path / "debian" / "pkgs" / c["source"]).root) / c["path_in_package"]
        assert sha256_file(src) == c["source_sha256"]
        if c["domain"] == "music":
            assert c["duration"] == 4.0 and c["language"] is None
        else:
            assert 5.0 <= c["duration"] <= 10.0
    assert m["packages"]["sonic-pi-samples"]["version"] == "1.1-1"


@needs_dpkg
def test_prepare_is_idempotent_and_deterministic(tmp_path, offline):
    out = demo.prepare(tmp_path, subset="test", clip_seconds=4.0, progress=False)
    manifest = out / "manifest.json"
    first = json.loads(manifest.read_text())
    stamp = manifest.stat().st_mtime_ns
    clip_times = {p: p.stat().st_mtime_ns for p in (out / "clips").rglob("*.wav")}
    assert demo.prepare(tmp_path, subset="test", clip_seconds=4.0, progress=False) == out
    assert manifest.stat().st_mtime_ns == stamp and len(offline) == 1  # nothing downloaded or rewritten
    manifest.unlink()  # as if the run was killed before the manifest: clips are checked, not rewritten
    demo.prepare(tmp_path, subset="test", clip_seconds=4.0, progress=False)
    assert json.loads(manifest.read_text())["clips"] == first["clips"]
    assert {p: p.stat().st_mtime_ns for p in (out / "clips").rglob("*.wav")} == clip_times
    assert len(offline) == 1
    other = demo.prepare(tmp_path, subset="test", clip_seconds=4.0, seed=1, progress=False)
    assert other == tmp_path / "demo-test-seed1-4s"
    offsets = {c["id"]: c["offset"] for c in json.loads((other / "manifest.json").read_text())["clips"]}
    assert any(offsets[c["id"]] != c["offset"] for c in first["clips"] if c["domain"] == "music")


@needs_dpkg
def test_dataset_reads_manifest(tmp_path, offline):
    demo.prepare(tmp_path, subset="test", clip_seconds=4.0, progress=False)
    ds = demo.DemoDataset(root=tmp_path, subset="test", clip_seconds=4.0)
    clips = ds.clips()
    assert {c.domain for c in clips} == {"music", "speech"}
    for c in clips:
        x, sr = load_audio(c.path, 44100)
        assert sha256_samples(x) == c.meta["sha256"] and c.offset == 0.0 and c.duration is None
        assert c.sha256 == sha256_file(c.path)  # Clip.sha256: the bytes of the file the run reads
        assert c.meta["source"] and c.meta["bandwidth_hz"] > 0
    speech = demo.DemoDataset(root=tmp_path, subset="test", clip_seconds=4.0, domain="speech").clips()
    assert speech == [c for c in clips if c.domain == "speech"]
    assert demo.DemoDataset(path=tmp_path, subset="test", clip_seconds=4.0, domain="all").clips() == clips
    d = ds.describe()
    assert d["subset"] == "test" and d["packages"]["tuxpaint-stamps-default"] == "1.2-1"
    assert len(d["clips_sha256"]) == 64
    summary = demo.info(tmp_path, subset="test", clip_seconds=4.0)
    assert summary["prepared"] and summary["per_domain"] == {"music": 3, "speech": len(speech)}
    assert summary["per_language"] == {"es": 2, "fr": 1}
    assert summary["licences"]["sonic-pi-samples: CC0"] == 1
    # a clip file gone from the cache is reported, with the command that rebuilds it
    Path(clips[0].path).unlink()
    with pytest.raises(MissingDatasetError, match=r"incomplete .*bench datasets prepare demo --subset test"):
        demo.DemoDataset(root=tmp_path, subset="test", clip_seconds=4.0)


def test_missing_cache_gives_prepare_hint(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(MissingDatasetError) as err:
        demo.DemoDataset()
    msg = str(err.value)
    assert "\n" not in msg and "run `bench datasets prepare demo`" in msg and str(tmp_path / "nowhere") in msg
    with pytest.raises(MissingDatasetError, match="--seed 3"):
        demo.DemoDataset(seed=3)
    assert demo.info()["prepared"] is False
    assert demo.cache_dir() == tmp_path / "nowhere" / "demo"
    with pytest.raises(MissingDatasetError, match="subset"):
        demo.DemoDataset(subset="huge")


def test_registry_entry():
    entry = dataset_registry().get("demo")
    assert entry.factory is demo.DemoDataset and entry.prepare is demo.prepare
    assert set(entry.domains) == {"music", "speech"}


def test_finish_scales_down_only_and_resamples():
    loud = np.full(1000, 1.5, np.float32)
    y, gain = demo._finish(loud, SR)
    assert gain == pytest.approx(0.99 / 1.5) and np.max(np.abs(y)) == pytest.approx(0.99)
    quiet = np.full(1000, 0.1, np.float32)
    y, gain = demo._finish(quiet, 22050)
    assert gain == 1.0 and y.size == 2000


def test_selection_tables_meet_the_published_sizes():
    """The full set's quotas ask for >= 24 clips per domain from several sources and all five languages."""
    q = demo.QUOTAS["full"]
    assert sum(v for k, v in q.items() if not k.startswith("speech:")) >= 24
    assert sum(v for k, v in q.items() if k.startswith("speech:")) >= 24
    assert {s.package for s in demo.sources_for("test")} == {
        "fretsonfire-songs-muldjord", "sonic-pi-samples", "tuxpaint-stamps-default"}


@pytest.mark.network
@pytest.mark.slow
def test_prepare_test_subset_for_real(tmp_path):
    """Downloads ~210 MB of Debian packages and builds the small subset."""
    if shutil.which("apt-get") is None:
        pytest.skip("needs apt-get")
    out = demo.prepare(tmp_path, subset="test", progress=False)
    m = json.loads((out / "manifest.json").read_text())
    music = [c for c in m["clips"] if c["domain"] == "music"]
    speech = [c for c in m["clips"] if c["domain"] == "speech"]
    assert len(music) >= 3 and len(speech) >= 10
    assert {c["language"] for c in speech} == set(demo.SPEECH_LANGUAGES)
    required = {"id", "domain", "source", "package_version", "path_in_package", "offset", "duration", "licence",
                "copyright", "bandwidth_hz", "gain", "source_sha256", "sha256", "language"}
    for c in m["clips"]:
        assert required <= set(c), required - set(c)
        x, sr = sf.read(out / c["file"], dtype="float32")
        assert sr == 44100 and np.max(np.abs(x)) <= 1.0 and sha256_samples(x) == c["sha256"]
        assert 10000 <= c["bandwidth_hz"] <= 22050
        assert c["licence"] and c["package_version"]
        if c["domain"] == "music":
            assert c["duration"] == 10.0
        else:
            assert 5.0 <= c["duration"] <= 10.0
    ds = demo.DemoDataset(root=tmp_path, subset="test")
    assert len(ds.clips()) == len(m["clips"])
    assert os.path.isfile(ds.clips()[0].path)


def _candidate(tmp_path: Path, name: str, x: np.ndarray) -> demo._Candidate:
    path = tmp_path / name
    sf.write(str(path), x, SR, format="FLAC", subtype="PCM_24")
    source = next(s for s in demo.SOURCES if s.package == "wesnoth-1.16-music")
    return demo._Candidate(source, name, path)


def test_music_excerpt_skips_silence_and_reports_silent_files(tmp_path):
    """Music only in the last 5 s of a 16 s file: every seed must place the excerpt there."""
    x = np.zeros((16 * SR, 2))
    x[11 * SR:] = _noise(5.0, 18000, 7, level=0.1)
    cand = _candidate(tmp_path, "late.flac", x)
    for seed in range(4):
        facts, y = demo.choose_music_excerpt(cand, 2.0, seed)
        assert y is not None and facts["offset"] >= 11.0 - 0.4, facts  # at most part of one 0.4 s block silent
        # (a probe window straddles the hard onset at 11 s, whose click spreads energy a little higher)
        assert facts["bandwidth_hz"] == pytest.approx(18000, abs=1000) and facts["duration"] == 2.0
    facts, y = demo.choose_music_excerpt(_candidate(tmp_path, "silent.flac", np.zeros((6 * SR, 2))), 2.0, 0)
    assert y is None and "near-silent" in facts["reason"] and facts["source_active_dbfs"] is None
    json.dumps(facts, allow_nan=False)  # manifests stay strict JSON
    dark = _candidate(tmp_path, "dark.flac", _noise(6.0, 8000, 8, level=0.1))
    facts, y = demo.choose_music_excerpt(dark, 2.0, 0)
    assert y is None and "bandwidth" in facts["reason"]


def test_licence_needs_evidence_in_the_copyright_file():
    src = next(s for s in demo.SOURCES if s.package == "fretsonfire-songs-sectoid")
    mit = "Copyright (c) 2006/2007 C\n\nPermission is hereby granted, free of charge, to any person ..."
    assert demo.licence_of(src, mit, "usr/share/x.ogg") == "Expat"
    assert demo.licence_of(src, "All rights reserved.", "usr/share/x.ogg") == "unknown (see copyright file)"
