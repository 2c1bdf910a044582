"""Pre-rendered systems: `bench references` out, a user's outputs back in with `--renders`."""

import csv
import json

import numpy as np
import pytest
import soundfile as sf

from bench.cli import main
from bench.errors import BenchError
from bench.prerendered import import_folder, load_render, parse_renders
from bench.references import Reference
from bench.results.store import ResultsStore
from bench_datasets.base import Clip, sha256_samples
from tests.conftest import music_like


def _smooth(x: np.ndarray) -> np.ndarray:
    """The test's 'vocoder': a 3-tap moving average (a gentle low-pass, level kept within 1 dB)."""
    return np.convolve(x, np.ones(3) / 3, mode="same").astype(np.float32)


@pytest.fixture
def clips_folder(tmp_path):
    d = tmp_path / "clips"
    d.mkdir()
    for i in range(3):
        sf.write(d / f"song{i}.wav", music_like(1.0, 44100, seed=i), 44100)
    return d


def _run(clips, out, *extra):
    return main(["run", "--dataset", "folder", "--path", str(clips), "--domain", "music", "--vocoders", "reference",
                 "--metrics", "mrstft", "--out", str(out), "--quiet", "--jobs", "0", *extra])


def test_references_out_renders_back_in(clips_folder, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert _run(clips_folder, run_dir) == 0
    refs = tmp_path / "refs"
    assert main(["references", str(run_dir), "--out", str(refs), "--sample-rate", "22050"]) == 0
    manifest = json.loads((refs / "manifest.json").read_text())
    rows = manifest["clips"]
    assert [r["clip_id"] for r in rows] == ["song0", "song1", "song2"]
    with open(refs / "manifest.csv") as f:
        assert [r["clip_id"] for r in csv.DictReader(f)] == ["song0", "song1", "song2"]
    for r in rows:
        x, sr = sf.read(refs / r["file"], dtype="float32")
        assert sr == 22050 == r["sample_rate"] and x.size == r["n_samples"] == 22050
        assert sha256_samples(x) == r["sha256"] and r["domain"] == "music"

    # the user's vocoder: 22.05 kHz flac files; song2 not rendered, one stray file
    mine = tmp_path / "mine"
    mine.mkdir()
    for r in rows[:2]:
        x, sr = sf.read(refs / r["file"], dtype="float32")
        sf.write(mine / f"{r['clip_id']}.flac", _smooth(x), sr, subtype="PCM_24")
    sf.write(mine / "stray.wav", music_like(1.0, 22050, seed=9), 22050)
    capsys.readouterr()
    assert _run(clips_folder, run_dir, "--renders", f"mine={mine}") == 0
    cap = capsys.readouterr()
    assert "renders mine: no file for clip song2" in cap.err
    assert "renders mine: stray.wav matches no clip of the run" in cap.err
    assert any(line.startswith("| mine") for line in cap.out.splitlines())
    with ResultsStore.open(run_dir) as s:
        renders = {r["clip_id"]: r for r in s.renders("mine")}
        assert set(renders) == {"song0", "song1"}
        assert all(r["native_sample_rate"] == 22050 and r["sample_rate"] == 44100 for r in renders.values())
        prov = s.provenance()["mine"]["render"]
        assert {g["provenance"]["file_sample_rate"] for g in prov} == {22050}
        failures = {(f["stage"], f["clip_id"]): f["error"] for f in s.failures() if f["vocoder"] == "mine"}
        assert "no file" in failures[("synthesis", "song2")]
        assert ("renders", "stray.wav") in failures
        before = {r["clip_id"]: r["value"] for r in s.scores() if r["vocoder"] == "mine"}
        assert set(before) == {"song0", "song1"} and all(v > 0 for v in before.values())
        assert s.get_meta("renders_folders")["mine"]["missing"] == ["song2"]

    # the system is in the report and can be a MUSHRA condition like any vocoder
    assert main(["report", str(run_dir)]) == 0
    assert "audio/mine/song0.wav" in (run_dir / "report.html").read_text()
    test_dir = tmp_path / "test"
    assert main(["mushra", "build", str(run_dir), "--vocoders", "mine", "--items", "2", "--out", str(test_dir),
                 "--excerpt-seconds", "1"]) == 0
    assert "mine" in json.loads((test_dir / "manifest.json").read_text())["vocoders"]

    # a file changed on disk is read and scored again; the unchanged one is reused
    x, sr = sf.read(mine / "song0.flac", dtype="float32")
    sf.write(mine / "song0.flac", _smooth(_smooth(x)), sr, subtype="PCM_24")
    assert _run(clips_folder, run_dir, "--renders", f"mine={mine}") == 0
    with ResultsStore.open(run_dir) as s:
        after = {r["clip_id"]: r["value"] for r in s.scores() if r["vocoder"] == "mine"}
        folder = s.get_meta("renders_folders")["mine"]
    assert folder["stored"] == 1 and folder["reused"] == 1
    assert after["song1"] == before["song1"] and after["song0"] != before["song0"]


def _ref(seconds=1.0, seed=0):
    return Reference(Clip(id="c", domain="music", path="/nowhere/c.wav"), music_like(seconds, 44100, seed=seed), 44100)


def test_per_item_reasons(tmp_path):
    ref = _ref()
    cases = {
        "nan": (np.where(np.arange(ref.audio.size) == 10, np.nan, ref.audio).astype(np.float32), 44100, "NaN"),
        "silent": (np.zeros_like(ref.audio), 44100, "silent"),
        "short": (ref.audio[:30000], 44100, "lasts 0.680 s"),
        "quiet": (ref.audio * 0.25, 44100, "-12.0 dB"),
        # 44.1 kHz content in a file whose header says 22.05 kHz: twice as long
        "header": (ref.audio, 22050, "looks like 44100 Hz audio labelled 22050 Hz"),
    }
    for name, (x, sr, why) in cases.items():
        p = tmp_path / f"{name}.wav"
        sf.write(p, x, sr, subtype="FLOAT")
        with pytest.raises(BenchError, match=why):
            load_render(p, ref)
    ok = tmp_path / "ok.wav"
    sf.write(ok, ref.audio[:-300], 44100, subtype="FLOAT")  # a few frames short: accepted, padded
    got = load_render(ok, ref)
    assert got.length_diff == -300 and got.audio.size == ref.audio.size


def test_quieter_folder_is_reported(tmp_path):
    refs = [Reference(Clip(id=f"c{i}", domain="music", path=f"/x/c{i}.wav"), music_like(1.0, 44100, seed=i), 44100)
            for i in range(2)]
    d = tmp_path / "r"
    d.mkdir()
    for r in refs:
        sf.write(d / f"{r.clip.id}.wav", r.audio * 10 ** (-3 / 20), 44100, subtype="FLOAT")
    with ResultsStore.create(tmp_path / "run") as store:
        rep = import_folder(store, "quiet", d, refs)
        assert [f["error"] for f in store.failures() if f["stage"] == "renders"] == [
            "folder is -3.0 dB from the references (median RMS difference over 2 files)"]
    assert rep.stored == 2 and rep.level_diff_db == pytest.approx(-3.0, abs=0.01)
    assert any("-3.0 dB from the references" in line for line in rep.lines())


def test_ambiguous_and_bad_names(tmp_path):
    ref = _ref()
    d = tmp_path / "r"
    d.mkdir()
    sf.write(d / "c.wav", ref.audio, 44100)
    sf.write(d / "c.flac", ref.audio, 44100)
    with ResultsStore.create(tmp_path / "run") as store:
        rep = import_folder(store, "x", d, [ref])
        assert rep.stored == 0 and "2 files match" in rep.refused[0][1]
    with pytest.raises(BenchError, match="already a vocoder"):
        parse_renders({"griffinlim": str(d)}, ["griffinlim"])
    with pytest.raises(BenchError, match="not a directory"):
        parse_renders({"mine": str(tmp_path / "none")}, [])


def test_references_without_run_is_one_line(tmp_path, capsys):
    assert main(["references", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bench: error:") and "\n" not in err


def test_match_by_relative_path(tmp_path):
    root = tmp_path / "data"
    refs = [Reference(Clip(id="sub_x", domain="music", path=str(root / "sub" / "x.wav")), music_like(1.0), 44100)]
    d = tmp_path / "r"
    (d / "sub").mkdir(parents=True)
    sf.write(d / "sub" / "x.flac", refs[0].audio, 44100, subtype="PCM_24")
    with ResultsStore.create(tmp_path / "run") as store:
        assert import_folder(store, "a", d, refs, str(root)).stored == 1  # a folder dataset's root
        manifest = root / "list.csv"
        root.mkdir()
        manifest.write_text("path,domain\nsub/x.wav,music\n")
        rep = import_folder(store, "b", d, refs, str(manifest))  # a manifest: paths relative to its folder
        assert rep.stored == 1 and not rep.unmatched
        assert import_folder(store, "c", d, refs, None).missing == ["sub_x"]  # by id only: "sub_x" != "sub/x"
