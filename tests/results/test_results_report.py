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


# -- comparison matrices and the listener-agreement section ------------------------------------------------------
def _three_vocoder_store(run_dir, n_clips=8):
    """good < mid < bad on every clip of metric ``m`` (lower is better); the reference scores 0."""
    import numpy as np

    rng = np.random.default_rng(0)
    with ResultsStore.create(run_dir) as store:
        store.set_meta("config", {"vocoders": ["reference", "good", "mid", "bad"], "metrics": ["m"]})
        vals = {}
        for k in range(n_clips):
            cid = f"c{k}"
            store.put_clip(cid, dataset="s", domain="music", path="", offset=0.0, duration=1.0, sha256=f"h{k}")
            base = rng.uniform(1, 2)
            for v, off in (("reference", None), ("good", -1.0), ("mid", 0.0), ("bad", 1.0)):
                x = 0.0 if off is None else base + off + rng.uniform(-0.1, 0.1)
                store.put_score(v, cid, "m", x, {"direction": "lower"})
                vals[(v, cid)] = x
    return vals


def test_comparison_matrix_marks_significant_pairs(tmp_path):
    import numpy as np
    import scipy.stats

    vals = _three_vocoder_store(tmp_path / "r")
    text = write_report(tmp_path / "r").read_text()
    section = text.split("<h2>Comparison matrices</h2>")[1].split("<h2>")[0]
    rows = dict(re.findall(r"<tr><td>(\w+)</td>(.*?)</tr>", section))
    assert list(rows) == ["good", "mid", "bad"]   # the reference is not compared
    clips = [f"c{k}" for k in range(8)]
    d = np.array([vals[("good", c)] - vals[("mid", c)] for c in clips])
    # Every difference has the same sign: exact Wilcoxon p = 2/2^8; Holm over the 3 pairs (all equal p) x3.
    p = scipy.stats.wilcoxon(d, method="exact").pvalue
    cell = re.search(r"<td class=win title='([^']*)'>▲ ([-+0-9.]+)</td>", rows["good"]).groups()
    assert float(cell[1]) == pytest.approx(d.mean(), abs=5e-4)
    assert f"Holm p = {min(1.0, 3 * p):.3g}" in cell[0] and f"p = {p:.3g}" in cell[0]
    assert "<td class=loss" in rows["bad"] and "<td class=win" not in rows["bad"]
    assert rows["mid"].count("<td class=win") == 1 and rows["mid"].count("<td class=loss") == 1
    # Fewer than 6 clips: nothing can be significant, and the matrix says why.
    _three_vocoder_store(tmp_path / "small", n_clips=4)
    small = write_report(tmp_path / "small").read_text().split("<h2>Comparison matrices</h2>")[1].split("<h2>")[0]
    assert "class=win" not in small and "smallest possible p" in small


def test_report_with_a_listening_test(tmp_path, capsys):
    from mushra.correlate import correlate
    from mushra.testing import make_scored_study

    test, run, _ = make_scored_study(tmp_path)
    out = tmp_path / "rep.html"
    assert main(["report", str(run), "--mushra", str(test), "--out", str(out)]) == 0
    text = out.read_text()
    assert "MUSHRA ↑" in text   # the MUSHRA column
    section = text.split("<h2>Which metric agrees with listeners</h2>")[1].split("<h2>")[0]
    assert "excluded (default)" in section and "inflates every correlation" in section
    ag = correlate(test, run)   # same defaults: the same numbers
    c = next(c for c in ag.correlations
             if (c.metric, c.domain, c.level, c.method) == ("good", "all", "item", "kendall"))
    assert f"{c.r:+.2f} <span class=note>[{c.ci_low:+.2f}, {c.ci_high:+.2f}]</span>" in section
    assert section.count("data:image/png;base64,") == 3 + 1   # a scatter per metric, the score distributions

    # A test that shares no clip with the run: the report is still written, the section says why.
    other, _, _ = make_scored_study(tmp_path / "other", clip_prefix="elsewhere")
    assert main(["report", str(run), "--mushra", str(other), "--out", str(out)]) == 0
    assert "Not computed: " in out.read_text() and "share no clips" in out.read_text()
    # A folder that is not there: a one-line error, no report.
    assert main(["report", str(run), "--mushra", str(tmp_path / "nope"), "--out", str(tmp_path / "x.html")]) == 2
    assert "no listening test at" in capsys.readouterr().err and not (tmp_path / "x.html").exists()


@pytest.mark.browser
def test_report_in_chromium(tmp_path):
    """The report of a 20-item study (10 per domain: matrices with significant pairs) with its listening test,
    loaded in headless Chromium: no console error, no failed request, sections present, screenshot."""
    from reportcheck import check_report_in_chromium, require_browser

    from mushra.testing import make_scored_study

    require_browser()
    test, run, _ = make_scored_study(tmp_path, n_items=20)
    out = tmp_path / "report.html"
    assert main(["report", str(run), "--mushra", str(test), "--out", str(out)]) == 0
    assert "class=win" in out.read_text()
    check_report_in_chromium(out, tmp_path / "report.png",
                             ["Results", "Comparison matrices", "Which metric agrees with listeners", "Distributions"])


def test_comparison_matrix_pair_without_common_clips_is_not_a_tie(tmp_path):
    """Two vocoders that share no clip are not compared ('n/a', with the reason), the others still are."""
    with ResultsStore.create(tmp_path / "r") as store:
        store.set_meta("config", {"vocoders": ["a", "b", "c"], "metrics": ["m"]})
        for k in range(8):
            store.put_clip(f"c{k}", dataset="s", domain="music", path="", offset=0.0, duration=1.0, sha256=f"h{k}")
            store.put_score("a", f"c{k}", "m", 1.0 + k, {"direction": "lower"})
            store.put_score("b" if k < 4 else "c", f"c{k}", "m", 2.0 + k, {"direction": "lower"})
    section = write_report(tmp_path / "r").read_text().split("<h2>Comparison matrices</h2>")[1].split("<h2>")[0]
    rows = dict(re.findall(r"<tr><td>(\w+)</td>(.*?)</tr>", section))
    assert re.search(r"<td class=tie title='[^']+'>n/a</td>", rows["b"])   # b vs c: no clip in common
    assert "n/a" not in rows["a"]   # a is compared with both (4 clips each: too few to be significant)
