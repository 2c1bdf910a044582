import hashlib
import json
import re

import pytest

from bench.cli import main
from bench.errors import BenchError
from bench.results.report import write_report
from bench.results.store import DB_NAME, ResultsStore
from bench.runner import RunConfig, run


def _snapshot(folder):
    """{relative path: sha256} of every file under ``folder``."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def small_run(audio_folder, tmp_path):
    out = tmp_path / "r"
    run(RunConfig(out=out, dataset="folder", dataset_options={"path": str(audio_folder), "domain": "music"},
                  vocoders=["reference", "anchor35", "griffinlim"], metrics=["mrmel"], device="cpu", progress=False,
                  vocoder_params={"griffinlim": {"iterations": 2}}))
    return out


def test_report_from_a_run(small_run):
    out = small_run
    path = write_report(out)
    assert path == out / "report.html"
    text = path.read_text()
    assert "<b>" in text and "MR-MEL ↓" in text
    assert "data:image/png;base64," in text
    assert "audio/anchor35/song0.wav" in text
    assert "silent" in text and "corrupt" in text  # failures listed
    assert "over the 3 clips of the current selection (2 more selected skipped: reference failed)" in text
    top = text.split("<h2>Distributions")[0]  # the reference and anchors are not timed: no RTF for them
    assert "RTF ↑" in top and re.search(r"<td>griffinlim</td><td><b>[^<]+</b></td><td><b>[0-9.]+ ± [0-9.]+</b>", top)
    for row in ("reference", "anchor35"):  # and they are never the bold "best"
        assert re.search(rf"<tr><td>{row}</td><td>[0-9.]+ ± [0-9.]+</td><td>–</td></tr>", top), row
    with ResultsStore.open(out) as s:
        key = s.render("anchor35", "song0")["config_hash"]
    assert "Provenance per vocoder" in text and key in text  # each vocoder's render key, at least
    assert not (out / "plots").exists()  # plots are embedded, not written into the run folder


def test_read_commands_write_nothing(small_run, tmp_path, capsys):
    out = small_run
    before = _snapshot(out)
    assert main(["table", str(out)]) == 0
    assert main(["table", str(out), "--rtf", "--format", "tex"]) == 0
    assert main(["table", str(out), "--format", "csv", "--out", str(tmp_path / "t.csv")]) == 0
    assert main(["report", str(out), "--out", str(tmp_path / "elsewhere.html")]) == 0
    assert _snapshot(out) == before  # no table.md overwritten, no plots/, no -wal/-shm, no schema change
    assert (tmp_path / "t.csv").read_text().startswith("domain,vocoder,metric")
    assert "src='r/audio/anchor35/song0.wav'" in (tmp_path / "elsewhere.html").read_text()
    # the default report path is the one file `bench report RUN` adds to the run folder
    assert main(["report", str(out)]) == 0
    after = _snapshot(out)
    assert set(after) - set(before) == {"report.html"} and {k: after[k] for k in before} == before


def test_empty_or_invalid_store_is_a_one_line_error_and_writes_nothing(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / DB_NAME).write_bytes(b"")
    for argv in (["table", str(empty)], ["report", str(empty)]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("bench: error:") and "\n" not in err and "holds no results" in err
    assert _snapshot(empty) == {DB_NAME: hashlib.sha256(b"").hexdigest()}  # no schema added, no report

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / DB_NAME).write_text("not a database " * 100)
    assert main(["table", str(bad)]) == 2
    assert "is not a results database" in capsys.readouterr().err

    no_scores = tmp_path / "noscores"
    ResultsStore.create(no_scores).close()
    before = _snapshot(no_scores)
    assert main(["report", str(no_scores)]) == 2
    assert "no values stored for the current selection; no report written" in capsys.readouterr().err
    assert _snapshot(no_scores) == before


def _store_with_render(tmp_path):
    s = ResultsStore.create(tmp_path / "run")
    s.set_meta("config", {"vocoders": ["reference", "griffinlim"], "metrics": ["mrstft"]})
    s.set_meta("selection", ["c0", "c1"])
    for i in range(3):
        s.put_clip(f"c{i}", dataset="d", domain="music", path="", offset=0, duration=1.0, sha256="",
                   meta={"warnings": ["band-limited source: no energy above 4.0 kHz"]} if i == 1 else {})
        for voc in ("reference", "griffinlim"):
            s.put_render(voc, f"c{i}", sample_rate=44100, n_samples=44100, sha256="", native_sample_rate=22050,
                         length_diff=0, rtf=10.0, seconds=0.1, device="cpu", precision="fp32", batch_size=1,
                         config_hash=f"key{i if voc == 'griffinlim' else 0}")
            s.put_score(voc, f"c{i}", "mrstft", 1.0, {"direction": "lower"})
    s.close()
    return tmp_path / "run"


def test_report_shows_clip_warnings_and_render_keys(tmp_path):
    text = write_report(_store_with_render(tmp_path)).read_text()
    assert "Reference warnings" in text and "band-limited source: no energy above 4.0 kHz" in text
    if not hasattr(ResultsStore, "provenance"):
        assert "predates it" in text  # no provenance records: said so, render keys shown instead
        assert "renders from 2 different configurations" in text  # griffinlim c0 and c1 under other keys
        assert "key2" not in text  # c2 is not in the selection


def test_report_shows_recorded_provenance(tmp_path, monkeypatch):
    run_dir = _store_with_render(tmp_path)
    asked = []

    def provenance(self, clip_ids=None):  # the return shape ResultsStore.provenance documents
        asked.append(list(clip_ids))
        return {"griffinlim": {
            "render": [{"provenance": {"vocoder": "griffinlim", "params": {"iterations": 2}, "git_commit": "abc123",
                                       "git_dirty": True}, "clips": 1},
                       {"provenance": None, "clips": 1}],
            "metrics": {"mrstft": [{"provenance": {"packages": {"torch": "2.13.0"}}, "clips": 2}]}}}

    monkeypatch.setattr(ResultsStore, "provenance", provenance, raising=False)
    text = write_report(run_dir).read_text()
    assert asked == [["c0", "c1"]]  # the selection's clips only
    assert "predates it" not in text and "abc123" in text and "&quot;iterations&quot;: 2" in text
    assert "renders from 2 different configurations" in text and "not recorded (written before" in text
    assert "mrstft values: provenance" in text and "2.13.0" in text


def test_report_of_store_without_values_raises(tmp_path):
    ResultsStore.create(tmp_path / "run").close()
    with pytest.raises(BenchError, match="no report written"):
        write_report(tmp_path / "run")
    assert not (tmp_path / "run" / "report.html").exists()
