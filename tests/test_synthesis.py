"""Render cache keys (weights by content, precision only where used) and verification of stored renders."""

import os

import numpy as np
import soundfile as sf
import torch

from bench import synthesis
from bench.audio import resample, save_audio
from bench.results.store import ResultsStore
from bench.synthesis import is_current, render_spec, weights_digest
from bench.vocoders.base import LoadOptions
from bench.vocoders.registry import vocoder_registry
from bench_datasets.base import sha256_samples


def test_weights_digest_is_by_content_and_cached_by_size_and_mtime(tmp_path, monkeypatch):
    d = tmp_path / "w"
    d.mkdir()
    (d / "model.pt").write_bytes(b"A" * 64)
    (d / "config.json").write_text("{}")
    reads = []
    real = synthesis.sha256_file
    monkeypatch.setattr(synthesis, "sha256_file", lambda p: reads.append(p.name) or real(p))
    cache: dict = {}
    first = weights_digest(str(d), cache)
    assert set(first) == {"model.pt", "config.json"} and sorted(reads) == ["config.json", "model.pt"]
    assert weights_digest(str(d), cache) == first and len(reads) == 2  # unchanged files are not read again
    st = (d / "model.pt").stat()
    (d / "model.pt").write_bytes(b"B" * 64)  # another checkpoint of the same size ...
    os.utime(d / "model.pt", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # ... written later
    second = weights_digest(str(d), cache)
    assert second["model.pt"] != first["model.pt"] and second["config.json"] == first["config.json"]
    assert reads.count("model.pt") == 2 and reads.count("config.json") == 1
    assert weights_digest(str(d / "model.pt"))["model.pt"] == second["model.pt"]  # a single weights file
    assert weights_digest(None) == {}


def test_same_size_checkpoint_changes_render_key(tmp_path):
    entry = vocoder_registry().get("hifigan")
    d = tmp_path / "w"
    d.mkdir()
    (d / "g_02500000").write_bytes(b"A" * 64)
    before = render_spec(entry, LoadOptions(weights_path=str(d))).key
    (d / "g_02500000").write_bytes(b"B" * 64)
    after = render_spec(entry, LoadOptions(weights_path=str(d))).key
    assert before != after


def test_precision_is_part_of_the_key_only_where_the_vocoder_uses_it():
    reg = vocoder_registry()
    for name in ("reference", "anchor35", "griffinlim"):
        specs = [render_spec(reg.get(name), LoadOptions(precision=p)) for p in ("fp32", "bf16", "fp16")]
        assert {s.key for s in specs} == {specs[0].key} and specs[0].precision is None
        assert specs[0].provenance()["precision"] is None
    neural = [render_spec(reg.get("hifigan"), LoadOptions(precision=p)) for p in ("fp32", "bf16")]
    assert neural[0].key != neural[1].key and neural[1].precision == "bf16"


def test_vocoders_flagged_as_ignoring_precision_do_ignore_it(music):
    """The flag is true to the vocoders: the same output at every precision where it is off."""
    x = torch.from_numpy(music(0.5, 44100, seed=3))
    for entry in vocoder_registry():
        if entry.uses_precision or entry.weights is not None:
            continue
        x_sr = torch.from_numpy(resample(x.numpy(), 44100, entry.sample_rate))
        outs = [entry.factory(LoadOptions(precision=p, params={**entry.default_params, "iterations": 2}
                                          if entry.name == "griffinlim" else entry.default_params)
                              ).copy_synthesis_items([x_sr])[0] for p in ("fp32", "bf16")]
        assert torch.equal(outs[0], outs[1]), entry.name


def test_params_change_the_key():
    e = vocoder_registry().get("griffinlim")
    assert render_spec(e, LoadOptions(params={"iterations": 2})).key != render_spec(
        e, LoadOptions(params={"iterations": 3})).key


def test_is_current_checks_the_render_file(tmp_path):
    s = ResultsStore.create(tmp_path / "run")
    s.put_clip("c1", dataset="d", domain="music", path="/x.wav", offset=0.0, duration=0.1, sha256="h")
    x = np.linspace(-0.5, 0.5, 4410, dtype=np.float32)
    path = s.audio_path("voc", "c1")
    save_audio(path, x, 44100)
    s.put_render("voc", "c1", sample_rate=44100, n_samples=x.size, sha256=sha256_samples(x), native_sample_rate=44100,
                 length_diff=0, rtf=1.0, seconds=0.1, device="cpu", precision=None, batch_size=1, config_hash="k")
    assert is_current(s, "voc", "c1", "k")
    assert not is_current(s, "voc", "c1", "other-key")
    y = x.copy()
    y[100] += 0.25
    save_audio(path, y, 44100)  # edited on disk after it was stored
    assert not is_current(s, "voc", "c1", "k")
    sf.write(str(path), x, 44100, subtype="PCM_16")  # same signal, re-encoded: not the stored samples
    assert not is_current(s, "voc", "c1", "k")
    path.write_bytes(b"RIFF\x00")  # truncated
    assert not is_current(s, "voc", "c1", "k")
    path.unlink()
    assert not is_current(s, "voc", "c1", "k")
