"""Plugins: the example package of docs/plugins.md installed and run; broken plugins; module:Class."""

import importlib.metadata
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bench.cli import main
from bench.errors import BenchError
from bench.metrics.registry import metric_registry
from bench.plugins import resolve_vocoder
from bench.results.store import ResultsStore
from bench.runner import RunConfig, run
from bench.vocoders.registry import VocoderEntry, vocoder_registry
from bench_datasets.registry import dataset_registry
from tests.conftest import music_like

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _doc_files() -> dict[str, str]:
    """The files of the worked example, as docs/plugins.md shows them ("File: `path`" then a code block)."""
    text = (ROOT / "docs" / "plugins.md").read_text()
    return dict(re.findall(r"File: `([^`]+)`\n\n```\w+\n(.*?)```", text, flags=re.S))


def _clear_registries():
    for f in (vocoder_registry, metric_registry, dataset_registry):
        f.cache_clear()


@pytest.fixture
def clips(tmp_path):
    d = tmp_path / "clips"
    d.mkdir()
    for i in range(2):
        sf.write(d / f"song{i}.wav", music_like(1.0, 44100, seed=i), 44100)
    return d


def test_example_package_installs_runs_and_uninstalls(tmp_path, clips):
    files = _doc_files()
    assert {"bench-plugin-example/pyproject.toml", "bench-plugin-example/bench_plugin_example/bench.py"} <= set(files)
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    pkg = tmp_path / "bench-plugin-example"
    # beside the documented entry points, one that cannot import: it must cost one line, nothing else
    with open(pkg / "pyproject.toml", "a") as f:
        f.write('\n[project.entry-points."vocoder_bench.datasets"]\nbroken = "bench_plugin_example.missing:ENTRY"\n')
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e", str(pkg)]
    subprocess.run(pip, check=True, capture_output=True, timeout=300)
    try:
        env_bench = str(BIN / "bench")
        out = subprocess.run([env_bench, "vocoders"], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        line = next(x for x in out.stdout.splitlines() if x.startswith("mulaw16k"))
        assert "plugin mulaw16k = bench_plugin_example.bench:VOCODER (bench-plugin-example 0.1.0)" in line
        out = subprocess.run([env_bench, "metrics"], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0 and "[plugin lsd = bench_plugin_example.bench:METRIC" in out.stdout
        out = subprocess.run([env_bench, "datasets", "list"], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0 and "folder" in out.stdout
        broken = [x for x in out.stdout.splitlines() if x.startswith("broken")]
        assert len(broken) == 1 and "bench_plugin_example.missing:ENTRY" in broken[0]
        assert "failed to import: ModuleNotFoundError" in broken[0]
        run_dir = tmp_path / "run"
        out = subprocess.run([env_bench, "run", "--dataset", "folder", "--path", str(clips), "--domain", "music",
                              "--vocoders", "reference,griffinlim,mulaw16k", "--set", "griffinlim.iterations=4",
                              "--metrics", "mrstft,lsd", "--out", str(run_dir), "--quiet", "--jobs", "0"],
                             capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr
        with ResultsStore.open(run_dir) as s:
            values = {(r["vocoder"], r["metric"]): r["value"] for r in s.scores()}
            plugins = s.config()["plugins"]
        assert values[("reference", "lsd")] == pytest.approx(0.0, abs=1e-6)
        # 8-bit mu-law at 16 kHz loses everything above 8 kHz: clearly worse than the reference
        assert values[("mulaw16k", "lsd")] > 1.0 and values[("mulaw16k", "mrstft")] > 0.1
        assert set(plugins) == {"mulaw16k", "lsd"}
        assert any(x.startswith("| mulaw16k") for x in out.stdout.splitlines())
    finally:
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "-q", "-y", "bench-plugin-example"],
                       check=True, capture_output=True, timeout=300)
        _clear_registries()
    assert "mulaw16k" not in vocoder_registry()


class _EP:
    """An installed entry point as importlib.metadata gives it (only what add_plugins reads)."""

    def __init__(self, name, value, load):
        self.name, self.value, self._load, self.dist = name, value, load, None

    def load(self):
        return self._load()


def test_broken_plugins_are_one_line_each(monkeypatch, capsys):
    from bench.vocoders.reference import ENTRY as REF

    def boom():
        raise ModuleNotFoundError("No module named 'their_dependency'")

    ok = VocoderEntry(name="theirs", factory=REF.factory, sample_rate=44100, description="a plugin")
    eps = [_EP("bad", "their_pkg.voc:ENTRY", boom), _EP("wrongtype", "their_pkg.voc:thing", lambda: 42),
           _EP("clash", "their_pkg.voc:REF", lambda: REF), _EP("theirs", "their_pkg.voc:OK", lambda: ok)]
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda group: eps if group == "vocoder_bench.vocoders" else [])
    _clear_registries()
    try:
        assert main(["vocoders"]) == 0
        out = capsys.readouterr().out
        lines = out.splitlines()
        bad = [x for x in lines if "their_pkg" in x]
        assert len(bad) == 4
        assert any(x.startswith("bad") and "failed to import: ModuleNotFoundError: No module named "
                   "'their_dependency'" in x for x in bad)
        assert any(x.startswith("wrongtype") and "not a VocoderEntry" in x for x in bad)
        assert any(x.startswith("reference (clash)") and "already taken (built-in)" in x for x in bad)
        assert any(x.startswith("theirs") and "[plugin theirs = their_pkg.voc:OK" in x for x in bad)
        assert any(x.startswith("griffinlim") for x in lines)  # the built-in ones are all still there
        assert vocoder_registry().get("theirs") is ok
    finally:
        monkeypatch.undo()
        _clear_registries()


def test_module_class_vocoder(tmp_path, clips, monkeypatch):
    mod = tmp_path / "my_models.py"
    mod.write_text(textwrap.dedent('''
        """A user's vocoder, not packaged."""
        import torch
        from bench.vocoders.base import Vocoder

        class HalfGain(Vocoder):
            """Halves the amplitude (a stand-in for a model)."""
            sample_rate = 22050

            def analyse(self, audio):
                return audio

            def synthesise(self, features):
                return 0.5 * features

        class NotAVocoder:
            sample_rate = 1

        class Broken(HalfGain):
            """Its model file is missing."""
            def __init__(self, options):
                raise FileNotFoundError("my_model.ckpt")
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = vocoder_registry()
    entry = resolve_vocoder(reg, "my_models:HalfGain")
    assert (entry.name, entry.sample_rate, entry.description) == ("halfgain", 22050, "Halves the amplitude (a "
                                                                  "stand-in for a model).")
    for spec, why in [("my_models:NotAVocoder", "not a subclass"), ("my_models:Nope", "has no 'Nope'"),
                      ("no_such_module_x:Cls", "cannot import no_such_module_x"), ("my_models", "unknown vocoder")]:
        with pytest.raises(BenchError, match=why):
            resolve_vocoder(reg, spec)
    out = tmp_path / "run"
    run(RunConfig(out=out, dataset="folder", dataset_options={"path": str(clips), "domain": "music"},
                  vocoders=["reference", "my_models:HalfGain", "my_models:Broken"], metrics=["mrstft"], device="cpu",
                  progress=False, jobs=0))
    with ResultsStore.open(out) as s:
        renders = s.renders("halfgain")
        assert len(renders) == 2 and all(r["native_sample_rate"] == 22050 for r in renders)
        x, _ = sf.read(renders[0]["path"], dtype="float32")
        ref, _ = sf.read(s.audio_path("reference", renders[0]["clip_id"]), dtype="float32")
        # half the amplitude after a 44.1 -> 22.05 -> 44.1 kHz round trip: -6.02 dB within resampling error
        level = 20 * np.log10(np.sqrt(np.mean(x ** 2)) / np.sqrt(np.mean(ref ** 2)))
        assert level == pytest.approx(-6.02, abs=0.1)
        assert s.config()["plugins"] == {"halfgain": "class my_models:HalfGain", "broken": "class my_models:Broken"}
        # a vocoder that does not load fails its clips with the reason; the others are scored
        assert {f["clip_id"]: f["error"] for f in s.failures() if f["vocoder"] == "broken"} == {
            c: "cannot load broken: FileNotFoundError: my_model.ckpt" for c in ("song0", "song1")}
        assert {r["vocoder"] for r in s.scores()} == {"reference", "halfgain"}
        assert s.config()["vocoders"][:2] == ["reference", "halfgain"]
    # the same through the command line, which checks names before any work
    out2 = tmp_path / "run_cli"
    assert main(["run", "--dataset", "folder", "--path", str(clips), "--domain", "music", "--vocoders",
                 "reference,my_models:HalfGain", "--metrics", "mrstft", "--device", "cpu", "--quiet", "--jobs", "0",
                 "--out", str(out2)]) == 0
    with ResultsStore.open(out2) as s:
        assert {r["vocoder"] for r in s.scores()} == {"reference", "halfgain"}


def test_dataset_plugin(monkeypatch, tmp_path, clips):
    from bench_datasets.base import Clip, Dataset, DatasetEntry

    class Theirs(Dataset):
        name = "theirs"

        def __init__(self, **_):
            pass

        def clips(self):
            return [Clip(id="only", domain="speech", path=str(clips / "song0.wav"))]

    entry = DatasetEntry(name="theirs", description="a plugin dataset", factory=Theirs)
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [
        _EP("theirs", "their_pkg.data:ENTRY", lambda: entry)] if group == "vocoder_bench.datasets" else [])
    _clear_registries()
    try:
        out = tmp_path / "run"
        run(RunConfig(out=out, dataset="theirs", vocoders=["reference"], metrics=["mrstft"], device="cpu",
                      progress=False, jobs=0))
        with ResultsStore.open(out) as s:
            assert [(c["clip_id"], c["domain"]) for c in s.clips()] == [("only", "speech")]
        assert "plugin theirs = their_pkg.data:ENTRY" in dataset_registry().origin("theirs")
    finally:
        monkeypatch.undo()
        _clear_registries()


def test_metric_plugin_that_does_not_build(monkeypatch, tmp_path, clips):
    from bench.metrics.base import MetricEntry

    def factory(device="cpu"):
        raise RuntimeError("model download needed")

    entry = MetricEntry(name="theirs", factory=factory, direction="lower", description="x", perfect=0.0)
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [
        _EP("theirs", "their_pkg.m:ENTRY", lambda: entry)] if group == "vocoder_bench.metrics" else [])
    _clear_registries()
    try:
        out = tmp_path / "run"
        run(RunConfig(out=out, dataset="folder", dataset_options={"path": str(clips), "domain": "music"},
                      vocoders=["reference"], metrics=["mrstft", "theirs"], device="cpu", progress=False, jobs=0))
        with ResultsStore.open(out) as s:
            assert {r["metric"] for r in s.scores()} == {"mrstft"} and len(s.scores()) == 2
            assert [f["error"] for f in s.failures()] == ["cannot build theirs: RuntimeError: model download needed"]
    finally:
        monkeypatch.undo()
        _clear_registries()
