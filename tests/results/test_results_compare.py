"""bench compare: per domain and metric over the clips both vocoders have, checked against scipy."""

import numpy as np
import pytest
from scipy import stats

from bench.cli import main
from bench.errors import BenchError
from bench.results.compare import compare_run, format_comparison
from bench.results.significance import holm
from bench.results.store import ResultsStore
from golden_store import build


@pytest.fixture(scope="module")
def golden_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("cmp") / "run"
    build(path).close()
    return path


def _store_values(run, voc, metric, clips):
    with ResultsStore.open_readonly(run) as s:
        got = {r["clip_id"]: r["value"] for r in s.scores() if r["vocoder"] == voc and r["metric"] == metric}
    return [got[c] for c in clips]


def test_rows_are_paired_over_counted_clips_and_match_scipy(golden_run):
    rows, notes = compare_run(golden_run, "griffinlim", "fast", n_boot=200)
    keys = [(r.domain, r.metric) for r in rows]
    # music: the configured metrics, then cdpam (stored, not configured); speech: no cdpam
    assert keys == [("music", "mrstft"), ("music", "mrmel"), ("music", "mrstft@discoder"), ("music", "cdpam"),
                    ("speech", "mrstft"), ("speech", "mrmel"), ("speech", "mrstft@discoder")]
    music = rows[0].comparison
    assert music.n == 3  # m3 is outside the selection
    a = _store_values(golden_run, "griffinlim", "mrstft", ["m0", "m1", "m2"])
    b = _store_values(golden_run, "fast", "mrstft", ["m0", "m1", "m2"])
    ref = stats.wilcoxon(np.array(a) - np.array(b), method="exact")
    assert music.p == pytest.approx(ref.pvalue) and music.statistic == ref.statistic
    assert music.mean_a == pytest.approx(np.mean(a)) and music.mean_b == pytest.approx(np.mean(b))
    assert [r.comparison.p_holm for r in rows] == pytest.approx(holm([r.comparison.p for r in rows]))
    # fast's mrmel was never computed on s1 and its mrstft@discoder failed on s2: paired over the other two
    speech_mel = rows[5].comparison
    assert speech_mel.n == 2
    assert "speech MR-MEL: paired over the 2 clips both have (griffinlim: 3, fast: 2)" in notes
    text = format_comparison(rows, notes, "griffinlim", "fast")
    assert "Holm-corrected across the 7 comparison(s) printed" in text
    assert "smallest possible p is 0.25" in text  # n = 3: cannot be significant, and the output says so


def test_stale_values_are_not_compared(golden_run):
    rows, _ = compare_run(golden_run, "broken", "fast", domain="music", metric="mrstft", n_boot=0)
    assert [r.comparison.n for r in rows] == [2]  # broken's m2 value is stale (synthesis failed afterwards)


def _clear_store(tmp_path):
    s = ResultsStore.create(tmp_path / "run")
    s.set_meta("config", {"vocoders": ["x", "y"], "metrics": ["mrstft", "visqol"]})
    rng = np.random.default_rng(0)
    for i in range(10):
        s.put_clip(f"c{i}", dataset="d", domain="music", path="", offset=0, duration=1, sha256="")
        base = rng.uniform(0.5, 1.5)
        s.put_score("x", f"c{i}", "mrstft", base, {"direction": "lower"})
        s.put_score("y", f"c{i}", "mrstft", base + 0.2 + 0.01 * i, {"direction": "lower"})
        s.put_score("x", f"c{i}", "visqol", 4.0 + 0.01 * i, {"direction": "higher"})
        s.put_score("y", f"c{i}", "visqol", 4.0 + 0.01 * i + (0.001 if i % 2 else -0.001), {"direction": "higher"})
    s.close()
    return tmp_path / "run"


def test_better_follows_the_metric_direction_and_the_t_test_is_scipys(tmp_path):
    run = _clear_store(tmp_path)
    rows, _ = compare_run(run, "x", "y", n_boot=500)
    mr, vq = rows[0].comparison, rows[1].comparison
    assert mr.significant and mr.better == "x" and mr.mean_diff < 0  # lower MR-STFT is better
    assert mr.p == pytest.approx(stats.wilcoxon(np.full(10, -0.2) - 0.01 * np.arange(10), method="exact").pvalue)
    assert mr.ci_low < mr.mean_diff < mr.ci_high
    assert not vq.significant and vq.better is None
    rows_t, _ = compare_run(run, "x", "y", test="t", metric="mrstft", n_boot=0)
    with ResultsStore.open_readonly(run) as s:
        vals = {(r["vocoder"], r["clip_id"]): r["value"] for r in s.scores() if r["metric"] == "mrstft"}
    ref = stats.ttest_rel([vals[("x", f"c{i}")] for i in range(10)], [vals[("y", f"c{i}")] for i in range(10)])
    assert rows_t[0].comparison.p == pytest.approx(ref.pvalue) and rows_t[0].comparison.effect_name == "Cohen's d_z"


def test_cli_prints_the_table_and_one_line_errors(tmp_path, golden_run, capsys):
    run = _clear_store(tmp_path)
    assert main(["compare", str(run), "x", "y", "--n-boot", "300"]) == 0
    out = capsys.readouterr().out
    assert "MR-STFT ↓" in out and "ViSQOL ↑" in out and "300 resamples, seed 0" in out
    line = [x for x in out.splitlines() if x.startswith("music") and "MR-STFT" in x][0]
    assert line.rstrip().endswith("x")  # the better one
    for argv, says in [(["x", "nope"], "no scored vocoder 'nope'"), (["x", "x"], "not with itself"),
                       (["x", "y", "--domain", "speech"], "no scores of x or y in domain 'speech'"),
                       (["x", "y", "--metric", "cdpam"], "no 'cdpam' scores"),
                       (["x", "y", "--n-boot", "-1"], "--n-boot must be 0 or more")]:
        assert main(["compare", str(run), *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert says in err and len(err.splitlines()) == 1, err
    assert main(["compare", str(golden_run), "never", "fast", "--domain", "speech"]) == 2
    assert "share no scored clip in domain speech" in capsys.readouterr().err


def test_no_shared_clip_is_one_error(golden_run):
    with pytest.raises(BenchError, match="share no scored clip"):
        compare_run(golden_run, "never", "fast", domain="speech")
