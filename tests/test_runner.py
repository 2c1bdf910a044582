"""End-to-end runs on a folder of generated audio: bad files reported, resume computes nothing twice."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from bench.cli import main
from bench.errors import BenchError, UnknownNameError
from bench.results.lock import RunFolderBusy
from bench.results.store import ResultsStore
from bench.runner import RunConfig, run
from bench.vocoders.base import LoadOptions
from bench.vocoders.registry import vocoder_registry
from bench_datasets.base import sha256_file

FAST = ["mrstft", "mrmel"]


def _cfg(folder, out, **kw):
    # jobs=0: in-process, no worker start-up per run; tests/execution covers the worker processes and that
    # values do not depend on where units run
    base = dict(out=out, dataset="folder", dataset_options={"path": str(folder), "domain": "music"},
                vocoders=["reference", "anchor35", "griffinlim"], metrics=FAST, device="cpu", progress=False,
                vocoder_params={"griffinlim": {"iterations": 4}}, jobs=0)
    base.update(kw)
    return RunConfig(**base)


def test_run_reports_bad_files_and_stores_everything(audio_folder, tmp_path):
    summary = run(_cfg(audio_folder, tmp_path / "r"))
    failed = dict(summary.clips_failed)
    assert set(failed) == {"corrupt", "silent"}
    assert "silent" in failed["silent"] and "corrupt" in failed["corrupt"]
    assert summary.clips_ok == 3  # two 44.1 kHz clips and the 22.05 kHz one
    with ResultsStore.open(tmp_path / "r") as s:
        assert len(s.scores()) == 3 * 3 * 2
        ref = [r for r in s.scores() if r["vocoder"] == "reference"]
        assert all(r["value"] == 0.0 for r in ref)  # the reference render is the reference: exactly 0
        for r in s.renders():
            assert r["path"].is_file() and r["sample_rate"] == 44100
        cfg = s.config()
        assert cfg["loudness_lufs"] == -24.0 and cfg["eval_sample_rate"] == 44100
        env = s.get_meta("environment")
        assert env["packages"]["torch"].startswith("2.")
        assert {f["clip_id"] for f in s.failures() if f["stage"] == "reference"} == {"corrupt", "silent"}


def test_rerun_computes_nothing_and_adding_vocoder_adds_only_its_values(audio_folder, tmp_path):
    out = tmp_path / "r"
    run(_cfg(audio_folder, out, vocoders=["reference"]))
    first = run(_cfg(audio_folder, out, vocoders=["reference"]))
    assert first.scores.computed == 0 and first.scores.skipped == 3 * 2
    more = run(_cfg(audio_folder, out, vocoders=["reference", "anchor70"]))
    assert more.scores.computed == 3 * 2
    with ResultsStore.open(out) as s:
        assert s.config()["vocoders"] == ["reference", "anchor70"]


def test_changed_params_rerender(audio_folder, tmp_path):
    out = tmp_path / "r"
    run(_cfg(audio_folder, out, vocoders=["griffinlim"]))
    again = run(_cfg(audio_folder, out, vocoders=["griffinlim"], vocoder_params={"griffinlim": {"iterations": 6}}))
    assert again.rendered["griffinlim"] == 3 and again.scores.computed == 3 * 2


def test_incompatible_run_dir(audio_folder, tmp_path):
    run(_cfg(audio_folder, tmp_path / "r", vocoders=["reference"]))
    with pytest.raises(BenchError, match="loudness_lufs"):
        run(_cfg(audio_folder, tmp_path / "r", vocoders=["reference"], loudness_lufs=None))


def test_unknown_names_fail_before_work(audio_folder, tmp_path):
    with pytest.raises(UnknownNameError, match="griffinlm.*griffinlim"):
        run(_cfg(audio_folder, tmp_path / "r", vocoders=["griffinlm"]))
    with pytest.raises(UnknownNameError):
        run(_cfg(audio_folder, tmp_path / "r", metrics=["nosuchmetric"]))
    assert not (tmp_path / "r").exists()


def _counts(db: Path) -> tuple[int, int, list]:
    con = sqlite3.connect(db)
    try:
        scores = con.execute("SELECT vocoder, clip_id, metric, created FROM scores").fetchall()
        renders = con.execute("SELECT COUNT(*) FROM renders").fetchone()[0]
    finally:
        con.close()
    return len(scores), renders, scores


def test_killed_run_resumes_without_recomputing(audio_folder, tmp_path):
    """SIGKILL `bench run` once some values are stored; the rerun keeps them and completes the rest."""
    out = tmp_path / "r"
    cmd = [sys.executable, "-m", "bench.cli", "run", "--dataset", "folder", "--path", str(audio_folder), "--domain",
           "music", "--vocoders", "reference,anchor35,anchor70,griffinlim", "--metrics", "mrstft,mrmel", "--out",
           str(out), "--device", "cpu", "--quiet", "--set", "griffinlim.iterations=16"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = out / "results.sqlite"
    deadline = time.time() + 120
    try:
        while time.time() < deadline and proc.poll() is None:
            if db.exists():
                try:
                    if _counts(db)[0] >= 2:
                        break
                except sqlite3.Error:
                    pass
            time.sleep(0.05)
        assert proc.poll() is None, "run finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    n_before, _, before = _counts(db)
    assert 2 <= n_before < 3 * 4 * 2
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    n_after, renders, after = _counts(db)
    assert n_after == 3 * 4 * 2 and renders == 3 * 4
    kept = {row[:3]: row[3] for row in after}
    for row in before:  # every value stored before the kill is the same row, not recomputed
        assert kept[row[:3]] == row[3]
    assert not list(out.rglob(".*.tmp"))


# -- what invalidates a stored value, and what does not (README, "Re-running the same command") ------------

# (the `songs` fixture: tests/conftest.py)


def _small(folder, out, **kw):
    return _cfg(folder, out, vocoders=kw.pop("vocoders", ["anchor35", "griffinlim"]), **kw)


def _values(out):
    with ResultsStore.open(out) as s:
        return {(r["vocoder"], r["clip_id"], r["metric"]): r["value"] for r in s.scores()}


def _tiny_hifigan(models, seed):
    from bench.vocoders.hifigan import CHECKPOINT, PUBLISHED_CONFIG

    cfg = {**PUBLISHED_CONFIG, "upsample_initial_channel": 16, "resblock_kernel_sizes": [3],
           "resblock_dilation_sizes": [[1, 3]]}
    v = vocoder_registry().get("hifigan").factory(
        LoadOptions(params={"random_init": True, "remove_weight_norm": False, "config": cfg, "seed": seed}))
    d = models / "hifigan"
    d.mkdir(parents=True, exist_ok=True)
    (d / "config.json").write_text(json.dumps(cfg))
    torch.save({"generator": v.model.state_dict()}, d / CHECKPOINT, _use_new_zipfile_serialization=False)
    return d / CHECKPOINT


def test_new_checkpoint_of_the_same_size_rerenders(songs, tmp_path):
    out, models = tmp_path / "r", tmp_path / "models"
    ckpt = _tiny_hifigan(models, seed=0)
    size = ckpt.stat().st_size
    run(_small(songs, out, vocoders=["hifigan"], models_dir=str(models)))
    before = _values(out)
    assert _tiny_hifigan(models, seed=1).stat().st_size == size
    again = run(_small(songs, out, vocoders=["hifigan"], models_dir=str(models)))
    assert again.rendered["hifigan"] == 2 and again.scores.computed == 2 * 2
    after = _values(out)
    assert all(after[k] != before[k] for k in before)
    with ResultsStore.open(out) as s:
        (group,) = s.provenance()["hifigan"]["render"]
        assert group["clips"] == 2 and group["provenance"]["weights"]["g_02500000"] == sha256_file(ckpt)
        assert {r["precision"] for r in s.renders()} == {"fp32"}
    # precision is part of a neural vocoder's key
    assert run(_small(songs, out, vocoders=["hifigan"], models_dir=str(models), precision="bf16")).rendered[
        "hifigan"] == 2


def test_precision_does_not_rerender_vocoders_that_ignore_it(songs, tmp_path):
    out = tmp_path / "r"
    run(_small(songs, out))
    again = run(_small(songs, out, precision="bf16"))
    assert again.rendered == {"anchor35": 0, "griffinlim": 0} and again.scores.computed == 0
    with ResultsStore.open(out) as s:
        assert {r["precision"] for r in s.renders()} == {None}
        assert all(g["provenance"]["precision"] is None for p in s.provenance().values() for g in p["render"])


def test_batch_size_and_jobs_do_not_invalidate(songs, tmp_path):
    out = tmp_path / "r"
    run(_small(songs, out, batch_size=1, jobs=0))
    again = run(_small(songs, out, batch_size=2, jobs=2))
    assert again.rendered == {"anchor35": 0, "griffinlim": 0}
    assert again.scores.computed == 0 and again.scores.skipped == 2 * 2 * 2


def test_render_file_changed_on_disk_is_rendered_again(songs, tmp_path):
    out = tmp_path / "r"
    run(_small(songs, out))
    before = _values(out)
    path = out / "audio" / "anchor35" / "song0.wav"
    x, sr = sf.read(path, dtype="float32")
    sf.write(path, np.zeros_like(x), sr, subtype="FLOAT")  # same length and format, other samples
    again = run(_small(songs, out))
    assert again.rendered == {"anchor35": 1, "griffinlim": 0} and again.scores.computed == 2
    assert np.array_equal(sf.read(path, dtype="float32")[0], x)
    assert _values(out) == pytest.approx(before, rel=1e-5)


def test_reference_file_changed_on_disk_is_prepared_again(songs, tmp_path):
    out = tmp_path / "r"
    run(_small(songs, out))
    before = _values(out)
    path = out / "audio" / "reference" / "song1.wav"
    x, sr = sf.read(path, dtype="float32")
    sf.write(path, 0.5 * x, sr, subtype="FLOAT")
    again = run(_small(songs, out))
    assert np.array_equal(sf.read(path, dtype="float32")[0], x)  # the stored reference is restored
    assert again.rendered == {"anchor35": 0, "griffinlim": 0}  # its renders were made from the right one
    assert _values(out) == before


def test_changed_source_rerenders_and_rescores_its_clip(songs, tmp_path):
    from testsignals import music_like

    out = tmp_path / "r"
    run(_small(songs, out))
    before = _values(out)
    sf.write(songs / "song0.wav", music_like(1.0, 44100, seed=7), 44100)
    (out / "audio" / "reference" / "song0.wav").unlink()  # as when the loader sees the source changed
    again = run(_small(songs, out))
    assert again.rendered == {"anchor35": 1, "griffinlim": 1} and again.scores.computed == 2 * 2
    after = _values(out)
    assert all((after[k] != before[k]) == (k[1] == "song0") for k in before)


def test_metric_variant_change_recomputes_only_that_metric(songs, tmp_path, monkeypatch):
    from bench.metrics.mrstft import MRSTFT

    out = tmp_path / "r"
    run(_small(songs, out))
    real = MRSTFT.variant
    monkeypatch.setattr(MRSTFT, "variant", lambda self, domain: {**real(self, domain), "changed": True})
    again = run(_small(songs, out))
    assert again.scores.computed == 2 * 2 and again.scores.skipped == 2 * 2
    with ResultsStore.open(out) as s:
        assert all(r["variant"].get("changed") for r in s.scores() if r["metric"] == "mrstft")


def test_selection_and_per_render_provenance(songs, tmp_path):
    out = tmp_path / "r"
    run(_small(songs, out, vocoders=["griffinlim"], vocoder_params={"griffinlim": {"iterations": 2}}))
    run(_small(songs, out, vocoders=["anchor70"], limit=1))
    with ResultsStore.open(out) as s:
        assert s.get_meta("selection") == ["song0"]
        cfg = s.config()
        assert cfg["vocoder_params"]["griffinlim"]["iterations"] == 2
        assert cfg["vocoder_params"]["anchor70"] == {"cutoff_hz": 7000.0}
        prov = s.provenance()
        (gl,) = prov["griffinlim"]["render"]
        assert gl["clips"] == 2 and gl["provenance"]["params"]["iterations"] == 2
        assert gl["provenance"]["packages"]["torch"].startswith("2.") and "git_dirty" in gl["provenance"]
        (a70,) = prov["anchor70"]["render"]
        assert a70["clips"] == 1 and a70["provenance"]["params"] == {"cutoff_hz": 7000.0}
        assert set(prov["anchor70"]["metrics"]) == set(FAST)
        assert "git_commit" in prov["anchor70"]["metrics"]["mrstft"][0]["provenance"]


def test_second_run_on_a_locked_folder_stops_in_one_line(songs, tmp_path, capsys):
    out = tmp_path / "r"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from bench.results.lock import RunLock\n"
        f"with RunLock({str(out)!r}, ['bench', 'run', '--out', 'X']):\n"
        "    print('locked', flush=True); time.sleep(60)")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunFolderBusy, match=f"in use by pid {holder.pid} on .*bench run --out X"):
            run(_small(songs, out))
        rc = main(["run", "--dataset", "folder", "--path", str(songs), "--domain", "music", "--vocoders", "anchor35",
                   "--metrics", "mrstft", "--out", str(out), "--quiet", "--device", "cpu"])
        err = capsys.readouterr().err
        assert rc != 0 and err.count("\n") == 1 and f"pid {holder.pid}" in err
        assert not (out / "results.sqlite").exists()
    finally:
        holder.kill()  # SIGKILL: the OS releases the flock with the process
        holder.wait()
    summary = run(_small(songs, out))
    assert summary.scores.computed == 2 * 2 * 2
    assert (out / "run.lock").read_text() == ""  # released by the run that held it


def test_vocoder_parameters_are_checked_for_python_callers_too(tmp_path, audio_folder):
    """RunConfig built in Python gets the CLI's parameter checks, before any work."""
    out = tmp_path / "run"
    for params, says in [({"iterations": -5}, "griffinlim.iterations: must be an integer >= 0"),
                         ({"iters": 5}, "griffinlim.iters: unknown parameter")]:
        cfg = RunConfig(out=out, dataset="folder", dataset_options={"path": str(audio_folder), "domain": "music"},
                        vocoders=["griffinlim"], metrics=["mrstft"], device="cpu", progress=False,
                        vocoder_params={"griffinlim": params})
        with pytest.raises(BenchError, match=says):
            run(cfg)
        assert not out.exists()
