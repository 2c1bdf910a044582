"""End-to-end runs on a folder of generated audio: bad files reported, resume computes nothing twice."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.errors import BenchError, UnknownNameError
from bench.results.store import ResultsStore
from bench.runner import RunConfig, run

FAST = ["mrstft", "mrmel"]


def _cfg(folder, out, **kw):
    base = dict(out=out, dataset="folder", dataset_options={"path": str(folder), "domain": "music"},
                vocoders=["reference", "anchor35", "griffinlim"], metrics=FAST, device="cpu", progress=False,
                vocoder_params={"griffinlim": {"iterations": 4}})
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
        run(_cfg(audio_folder, tmp_path / "r", metrics=["pesq"]))
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
