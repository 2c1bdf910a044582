"""`bench references RUN --out DIR`: the references as evaluated, with a manifest."""

import json

import numpy as np
import pytest
import soundfile as sf

from bench.errors import BenchError
from bench.export_references import export_references
from bench.results.store import ResultsStore
from bench.runner import RunConfig, run
from tests.conftest import music_like


@pytest.fixture
def run_dir(tmp_path):
    d = tmp_path / "clips"
    d.mkdir()
    for i in range(2):
        sf.write(d / f"s{i}.wav", np.stack([music_like(1.0, 48000, seed=i)] * 2, axis=1), 48000)
    out = tmp_path / "run"
    run(RunConfig(out=out, dataset="folder", dataset_options={"path": str(d), "domain": "music"},
                  vocoders=["reference"], metrics=["mrstft"], device="cpu", progress=False, jobs=0))
    return out


def test_default_rate_is_the_evaluation_rate_and_samples_are_the_evaluated_ones(run_dir, tmp_path):
    rows = export_references(run_dir, tmp_path / "refs")
    assert [r["clip_id"] for r in rows] == ["s0", "s1"]
    with ResultsStore.open(run_dir) as s:
        for r in rows:
            x, sr = sf.read(tmp_path / "refs" / r["file"], dtype="float32")
            ref, ref_sr = sf.read(s.audio_path("reference", r["clip_id"]), dtype="float32")
            # mono, 44.1 kHz, loudness-normalised: exactly the stored reference
            assert sr == ref_sr == 44100 == r["sample_rate"] and np.array_equal(x, ref)
            assert r["sha256"] == s.clip(r["clip_id"])["sha256"]
    meta = json.loads((tmp_path / "refs" / "manifest.json").read_text())
    assert meta["resampler"] is None and len(meta["clips"]) == 2


def test_changed_reference_file_is_refused(run_dir, tmp_path):
    with ResultsStore.open(run_dir) as s:
        p = s.audio_path("reference", "s1")
    x, sr = sf.read(p, dtype="float32")
    sf.write(p, x * 0.5, sr, subtype="FLOAT")
    with pytest.raises(BenchError, match="s1.wav changed since the run evaluated it"):
        export_references(run_dir, tmp_path / "refs")
    with pytest.raises(BenchError, match="must be positive"):
        export_references(run_dir, tmp_path / "refs", sample_rate=0)
