"""Building a test from a run directory written with the real results store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bench.audio.loudness import integrated_loudness
from bench.errors import BenchError, UnknownNameError
from mushra.app import create_app
from mushra.build import PEAK_LIMIT, STIMULUS_SR, TARGET_LUFS, BuildError, build_test, pick_excerpt
from mushra.config import load_config, read_raw
from mushra.testing import make_run_dir

CLIPS = [("sp1", "speech", 3.0), ("sp2", "speech", 2.5), ("mu1", "music", 3.0), ("mu2", "music", 2.5),
         ("mu3", "music", 1.2), ("gap", "speech", 2.5)]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("build")
    run = make_run_dir(tmp / "run", CLIPS, ["voc_a", "voc_b", "anchor35"], missing={"voc_b": ["gap"]})
    cfg_path = build_test(run, ["voc_a", "voc_b"], 2, tmp / "test", seed=3, excerpt_seconds=2.0, name="My test")
    return tmp, run, cfg_path, json.loads((tmp / "test" / "manifest.json").read_text())


def test_layout_config_and_manifest(built) -> None:
    tmp, run, cfg_path, manifest = built
    cfg = load_config(cfg_path)
    assert cfg.testId == "My-test" and cfg.remoteService == "service/write.php"
    types = [p.type for p in cfg.iter_pages()]
    assert types == ["generic", "volume", "mushra", "mushra", "mushra", "finish"]
    assert cfg.pages[3].random and [p.id for p in cfg.pages[3].pages] == ["item01", "item02"]
    page = cfg.page("item01")
    assert not page.createAnchor35 and not page.createAnchor70 and not page.showConditionNames
    assert list(page.stimuli) == ["voc_a", "voc_b", "anchor70", "anchor35"]   # hidden reference added by the page
    assert page.conditions() == ["voc_a", "voc_b", "anchor70", "anchor35", "reference"]
    assert page.reference == "audio/item01/reference.wav"
    assert [q["name"] for q in cfg.questionnaire()] == ["age", "headphones", "experience", "comments"]
    assert manifest["conditions"] == ["reference", "voc_a", "voc_b", "anchor70", "anchor35"]
    assert manifest["seed"] == 3 and manifest["run_dir"] == str(run.resolve())
    # Balanced domains: one speech and one music item; training from a clip not in the test.
    assert sorted(it["domain"] for it in manifest["items"]) == ["music", "speech"]
    test_clips = {it["clip_id"] for it in manifest["items"]}
    assert manifest["training"]["clip_id"] not in test_clips
    assert "gap" not in test_clips and {"clip_id": "gap", "reason": "no render of voc_b"} in manifest["skipped"]
    create_app(tmp / "test", admin_token="x")  # every path resolves inside the folder


def test_stimuli_48k_aligned_loudness_no_clipping(built) -> None:
    tmp, _, cfg_path, manifest = built
    for item in manifest["items"] + [manifest["training"]]:
        levels, peaks, signals = [], [], {}
        for cond, rel in item["files"].items():
            info = sf.info(str(tmp / "test" / rel))
            assert info.samplerate == STIMULUS_SR and info.subtype == "PCM_24" and info.channels == 1
            x, _ = sf.read(str(tmp / "test" / rel), dtype="float64")
            assert x.size == int(round(item["duration_s"] * STIMULUS_SR))
            levels.append(integrated_loudness(x, STIMULUS_SR))
            peaks.append(np.max(np.abs(x)))
            signals[cond] = x
            assert abs(x[0]) < 1e-3 and abs(x[-1]) < 1e-3          # faded in and out
        assert max(levels) - min(levels) < 0.05
        assert np.mean(levels) == pytest.approx(TARGET_LUFS + manifest["common_gain_db"], abs=0.05)
        assert max(peaks) <= PEAK_LIMIT + 1e-4
        # Same excerpt for every condition: the render (reference + noise) lines up with the reference.
        assert np.corrcoef(signals["reference"], signals["voc_a"])[0, 1] > 0.9
        # Anchors are low-passed: little energy above their cut-offs relative to the reference.
        spec = {c: np.abs(np.fft.rfft(s)) ** 2 for c, s in signals.items()}
        f = np.fft.rfftfreq(signals["reference"].size, 1 / STIMULUS_SR)
        for cond, fc in (("anchor35", 3500), ("anchor70", 7000)):
            band = f > fc + 300
            assert spec[cond][band].sum() < 1e-4 * spec["reference"][band].sum()
    assert any(it["offset_s"] >= 0.25 for it in manifest["items"] if it["duration_s"] == 2.0)


def test_gains_recorded(built) -> None:
    _, _, _, manifest = built
    for item in manifest["items"]:
        for cond in item["files"]:
            assert item["loudness_lufs"][cond] + item["gains_db"][cond] == pytest.approx(
                TARGET_LUFS + manifest["common_gain_db"], abs=0.01)


def test_short_clip_uses_whole_clip_and_seed_is_reproducible(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "run", [("a", "speech", 1.2), ("b", "speech", 1.5), ("c", "speech", 1.3)],
                       ["v"])
    build_test(run, ["v"], 2, tmp_path / "t1", seed=7, excerpt_seconds=10)
    build_test(run, ["v"], 2, tmp_path / "t2", seed=7, excerpt_seconds=10)
    m1 = json.loads((tmp_path / "t1" / "manifest.json").read_text())
    m2 = json.loads((tmp_path / "t2" / "manifest.json").read_text())
    assert [i["clip_id"] for i in m1["items"]] == [i["clip_id"] for i in m2["items"]]
    lengths = {"a": 1.2, "b": 1.5, "c": 1.3}
    for it in m1["items"]:
        assert it["offset_s"] == 0 and it["duration_s"] == pytest.approx(lengths[it["clip_id"]], abs=1e-3)


def test_build_errors(tmp_path: Path, built) -> None:
    _, run, _, _ = built
    with pytest.raises(UnknownNameError, match="nope"):
        build_test(run, ["voc_a", "nope"], 2, tmp_path / "x")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x")
    with pytest.raises(BuildError, match="not empty"):
        build_test(run, ["voc_a"], 2, tmp_path / "full")
    with pytest.raises(BenchError, match="no results store"):
        build_test(tmp_path / "norun", ["voc_a"], 2, tmp_path / "y")
    with pytest.raises(BuildError, match="items"):
        build_test(run, ["voc_a"], 0, tmp_path / "z")
    with pytest.raises(BuildError, match="no vocoder"):
        build_test(run, ["reference"], 1, tmp_path / "z")


def test_pick_excerpt_avoids_silence() -> None:
    sr = 1000
    x = np.zeros(10 * sr, np.float32)
    x[6 * sr: 9 * sr] = np.sin(np.arange(3 * sr) * 0.3)
    start, n = pick_excerpt(x, sr, 3.0)
    assert n == 3 * sr and abs(start - 6 * sr) <= 50


def test_built_config_loads_in_webmushras_yaml_reader(tmp_path: Path, built, webmushra_yaml) -> None:
    """webMUSHRA's own reader (yaml.js 0.3.0) sees every page with its type and the random group as a list; it
    used to read "- - random" and the pages after it as one string ("Type not specified." in webMUSHRA)."""
    _, run, cfg_path, _ = built
    named = build_test(run, ["voc_a"], 1, tmp_path / "named", excerpt_seconds=1.5, name="Round 1: A+B & ünï #2")
    got = webmushra_yaml([cfg_path, named])
    for path in (cfg_path, named):
        assert "error" not in got[str(path)], got[str(path)]
        js = got[str(path)]["ok"]
        pages = js["pages"]
        assert [p["type"] if isinstance(p, dict) else p[0] for p in pages] == [
            "generic", "volume", "mushra", "random", "finish"]
        assert all(isinstance(p, dict) and p["type"] == "mushra" for p in pages[3][1:])
        assert js == read_raw(path) == load_config(path).to_dict()
    assert got[str(named)]["ok"]["testname"] == "Round 1: A+B & ünï #2"


def test_age_question_has_an_empty_default(built) -> None:
    """webMUSHRA writes a number question's `default` into its box ("undefined" when there is none)."""
    _, _, cfg_path, _ = built
    age = next(q for q in load_config(cfg_path).questionnaire() if q["type"] == "number")
    assert age["name"] == "age" and age["default"] == ""
