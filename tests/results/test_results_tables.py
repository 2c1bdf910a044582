import csv
import io

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from bench.results.stats import Summary
from bench.results.store import ResultsStore
from bench.results.tables import build_tables, is_bold, to_csv, to_latex, to_markdown, write_tables


def _fill(tmp_path):
    s = ResultsStore.create(tmp_path / "run")
    s.set_meta("config", {"vocoders": ["reference", "good", "bad"], "metrics": ["mrstft", "visqol"]})
    for i, dom in enumerate(["music", "music", "speech"]):
        s.put_clip(f"c{i}", dataset="d", domain=dom, path="", offset=0, duration=1, sha256="")
        for voc, base in [("reference", 0.0), ("good", 1.0), ("bad", 3.0)]:
            s.put_score(voc, f"c{i}", "mrstft", base + 0.1 * i, {"direction": "lower"})
            s.put_score(voc, f"c{i}", "visqol", 4.7 - base, {"direction": "higher"})
    return s


def test_tables_per_domain_with_best_in_bold(tmp_path):
    s = _fill(tmp_path)
    tables = build_tables(s)
    assert [t.domain for t in tables] == ["music", "speech"]
    music = tables[0]
    assert music.rows == ["reference", "good", "bad"]
    md = to_markdown(music)
    assert "MR-STFT ↓" in md and "ViSQOL ↑" in md
    # the hidden reference is the bound, so the best competitor is bold; with 2 clips no paired test can find
    # "bad" worse (smallest Wilcoxon p 0.5), so it is not significantly worse than the best: bold too
    assert "| good | **1.050 ± " in md
    assert "| reference | 0.050 ± " in md
    assert "| bad | **3.050" in md
    assert "with 2 clips and 2 comparisons the smallest possible Holm p is 1: no difference can be significant" in md
    tex = to_latex(music)
    assert r"\toprule" in tex and r"\textbf{1.050}" in tex and r"$\downarrow$" in tex
    rows = list(csv.DictReader(io.StringIO(to_csv(tables))))
    good = [r for r in rows if r["vocoder"] == "good" and r["metric"] == "mrstft" and r["domain"] == "music"][0]
    assert float(good["mean"]) == 1.05 and good["n"] == "2" and good["best"] == "1" and good["bold"] == "1"
    bad = [r for r in rows if r["vocoder"] == "bad" and r["metric"] == "mrstft" and r["domain"] == "music"][0]
    assert (bad["best"], bad["bold"], bad["p_holm"]) == ("0", "1", "1.0")
    single = [r for r in rows if r["domain"] == "speech"][0]
    assert single["ci95"] == "nan"
    paths = write_tables(tables, tmp_path / "out")
    assert all(p.is_file() for p in paths.values())


def test_extra_column(tmp_path):
    s = _fill(tmp_path)
    extra = {"mushra": {("music", "good"): Summary(80.0, 5.0, 10, 8.0), ("music", "bad"): Summary(30.0, 6.0, 10, 9.0)}}
    t = build_tables(s, extra=extra, extra_directions={"mushra": "higher"})[0]
    assert t.columns[-1].key == "mushra"
    assert "**80.0 ± 5.0**" in to_markdown(t)


def _rows(text):
    return {r["vocoder"] + "/" + r["metric"] + "/" + r["domain"]: r for r in csv.DictReader(io.StringIO(text))}


def test_tables_cover_only_the_current_selection(tmp_path):
    s = _fill(tmp_path)
    s.set_meta("selection", ["c0", "c2"])  # a later run with --limit 1: c1 is stored but no longer selected
    music = build_tables(s)[0]
    assert music.clips == ["c0"]
    md = to_markdown(music)
    assert "over the 1 clip of the current selection" in md
    assert "| good | **1.000" in md  # c0 only, not the mean of c0 and c1 (1.05)
    assert _rows(to_csv([music]))["good/mrstft/music"]["n"] == "1"


def test_caption_without_selection_and_skipped_clips(tmp_path):
    s = _fill(tmp_path)
    assert "over all 2 stored clips with status ok (this store records no selection)" in to_markdown(build_tables(s)[0])
    s.put_clip("c9", dataset="d", domain="music", path="", offset=0, duration=1, sha256="", status="error",
               error="silent")
    s.set_meta("selection", ["c0", "c1", "c9"])
    md = to_markdown(build_tables(s)[0])
    assert "the 2 clips of the current selection (1 more selected skipped: reference failed)" in md


def test_a_failure_marks_the_row_instead_of_raising_its_mean(tmp_path):
    s = _fill(tmp_path)
    # anchor-like row: best ViSQOL on c0, silent output on c1 (ViSQOL failed there)
    s.put_score("lucky", "c0", "mrstft", 0.5, {"direction": "lower"})
    s.put_score("lucky", "c1", "mrstft", 9.0, {"direction": "lower"})
    s.put_score("lucky", "c0", "visqol", 4.9, {"direction": "higher"})
    s.put_failure("metric", "ValueError: degraded signal is silent", vocoder="lucky", clip_id="c1", metric="visqol")
    music = build_tables(s)[0]
    cell = music.cells["lucky"]["visqol"]
    assert (cell.summary.n, cell.expected, cell.failed, cell.complete) == (1, 2, ("c1",), False)
    md = to_markdown(music)
    assert "| lucky | **4.750 ± " in md and "| 4.900 (n=1/2)† |" in md  # shown with n, not bold
    assert "**4.900" not in md and "| good | **1.050 ± 0.635** | **3.700 ± 0.000** |" in md  # complete rows rank
    assert "lucky ViSQOL: failed on 1 (c1)" in md and "† mean over fewer clips" in md
    tex = to_latex(music)
    assert r"4.900 {\scriptsize $(n{=}1/2)$}\textsuperscript{\dag}" in tex and r"\textbf{4.900}" not in tex
    assert r"lucky ViSQOL: failed on 1 (c1)" in tex
    row = _rows(to_csv([music]))["lucky/visqol/music"]
    assert (row["n"], row["n_covered"], row["n_failed"], row["complete"], row["best"]) == ("1", "2", "1", "0", "0")
    assert _rows(to_csv([music]))["good/visqol/music"]["complete"] == "1"


def test_synthesis_failure_counts_in_every_column(tmp_path):
    s = _fill(tmp_path)
    s.put_score("broken", "c0", "mrstft", 0.2, {"direction": "lower"})
    s.put_score("broken", "c0", "visqol", 4.0, {"direction": "higher"})
    s.put_failure("synthesis", "output has 12 non-finite samples", vocoder="broken", clip_id="c1")
    s.put_failure("synthesis", "output has 12 non-finite samples", vocoder="never", clip_id="c2")
    music, speech = build_tables(s)
    assert all(not c.complete and c.failed == ("c1",) for c in music.cells["broken"].values())
    assert "**0.200" not in to_markdown(music)
    # a vocoder that failed on every clip is a row of failures, not an absent row
    assert "never" in speech.rows and speech.cells["never"]["mrstft"].summary.n == 0
    assert "| never | – (n=0/1)† | – (n=0/1)† |" in to_markdown(speech)


def test_rtf_only_for_vocoders(tmp_path):
    s = ResultsStore.create(tmp_path / "run")
    s.set_meta("config", {"vocoders": ["reference", "anchor35", "griffinlim", "fast"], "metrics": ["mrstft"]})
    for i in range(2):
        s.put_clip(f"c{i}", dataset="d", domain="music", path="", offset=0, duration=1, sha256="")
        for voc, rtf in [("reference", 3588.0 * (i + 1)), ("anchor35", 900.0), ("griffinlim", 20.0), ("fast", 50.0)]:
            if (voc, i) == ("fast", 1):
                continue  # its synthesis failed on c1
            s.put_render(voc, f"c{i}", sample_rate=44100, n_samples=44100, sha256="", native_sample_rate=44100,
                         length_diff=0, rtf=rtf, seconds=1 / rtf, device="cpu", precision="fp32", batch_size=1,
                         config_hash="k")
            s.put_score(voc, f"c{i}", "mrstft", 1.0 + i, {"direction": "lower"})
    s.put_failure("synthesis", "boom", vocoder="fast", clip_id="c1")
    t = build_tables(s, rtf=True)[0]
    assert "rtf" not in t.cells["reference"] and "rtf" not in t.cells["anchor35"]
    assert t.cells["griffinlim"]["rtf"].summary.n == 2
    md = to_markdown(t)
    assert "RTF for vocoders only" in md
    assert "| reference | 1.500 ± 6.353 | – |" in md and "3588" not in md and "900" not in md
    assert "**20.0 ± 0.0**" in md and "| 50.0 (n=1/2)† |" in md  # the fast one failed on c1: marked, not best


def test_a_failure_newer_than_the_value_makes_it_stale(tmp_path):
    s = _fill(tmp_path)
    # a later run re-rendered "good" on c1 (new parameters) and that failed: the old value is not averaged
    s.put_failure("synthesis", "RuntimeError: out of memory", vocoder="good", clip_id="c1")
    # a later variant of ViSQOL failed for "bad" on c0: its older-variant value is not averaged either
    s.put_failure("metric", "ValueError: degraded signal is silent", vocoder="bad", clip_id="c0", metric="visqol")
    music = build_tables(s)[0]
    assert music.cells["good"]["mrstft"].failed == ("c1",) and music.cells["good"]["mrstft"].summary.n == 1
    assert music.cells["bad"]["visqol"].failed == ("c0",) and music.cells["bad"]["mrstft"].complete
    # a value stored after the failure (the clip was fixed and recomputed) counts again
    s.put_score("bad", "c0", "visqol", 1.7, {"direction": "higher"})
    assert build_tables(s)[0].cells["bad"]["visqol"].complete


def test_latex_escapes_names_in_cells_and_notes(tmp_path):
    s = ResultsStore.create(tmp_path / "run")
    for cid in ("take_1", "50%_{mix}"):
        s.put_clip(cid, dataset="d", domain="music", path="", offset=0, duration=1, sha256="")
        s.put_score("my_voc", cid, "mrstft", 1.0, {"direction": "lower"})
    s.put_score("x$", "take_1", "mrstft", 1.0, {"direction": "lower"})
    s.put_failure("metric", "boom", vocoder="x$", clip_id="50%_{mix}", metric="mrstft")
    tex = to_latex(build_tables(s)[0])
    assert r"my\_voc & " in tex and r"x\$ & " in tex
    assert r"x\$ MR-STFT: failed on 1 (50\%\_\{mix\})" in tex and r"$\pm$" in tex

def test_metric_variants_get_their_own_titled_column(tmp_path):
    """``mrstft`` and ``mrstft@discoder`` are different computations: two columns, the variant in the header."""
    s = ResultsStore.create(tmp_path / "run")
    s.set_meta("config", {"vocoders": ["good"], "metrics": ["mrstft", "mrstft@discoder", "mrmel@dac"]})
    s.put_clip("c0", dataset="d", domain="music", path="", offset=0, duration=1, sha256="")
    s.put_score("good", "c0", "mrstft", 1.0, {"direction": "lower", "metric": "mrstft"})
    s.put_score("good", "c0", "mrstft@discoder", 0.5, {"direction": "lower", "metric": "mrstft@discoder",
                                                       "variant": "discoder"})
    s.put_score("good", "c0", "mrmel@dac", 2.0, {"direction": "lower", "metric": "mrmel@dac", "variant": "dac"})
    t = build_tables(s)[0]
    assert [c.key for c in t.columns] == ["mrstft", "mrstft@discoder", "mrmel@dac"]
    assert t.cells["good"]["mrstft"].mean == 1.0 and t.cells["good"]["mrstft@discoder"].mean == 0.5
    md = to_markdown(t)
    assert "| Vocoder | MR-STFT ↓ | MR-STFT (DisCoder) ↓ | MR-MEL (DAC) ↓ |" in md
    assert "MR-STFT (DisCoder) $\\downarrow$ & MR-MEL (DAC) $\\downarrow$" in to_latex(t)


def test_anchors_are_never_the_bold_best(tmp_path):
    """A MUSHRA anchor (a low-pass reference) that scores better than every vocoder is not bolded (it was)."""
    s = ResultsStore.create(tmp_path / "run")
    s.set_meta("config", {"vocoders": ["reference", "anchor70", "griffinlim"], "metrics": ["cdpam"]})
    for i in range(2):
        s.put_clip(f"c{i}", dataset="d", domain="speech", path="", offset=0, duration=1, sha256="")
        for voc, v in [("reference", 0.0), ("anchor70", 0.10), ("griffinlim", 0.17)]:
            s.put_score(voc, f"c{i}", "cdpam", v + 0.01 * i, {"direction": "lower"})
    md = to_markdown(build_tables(s)[0])
    assert "| griffinlim | **0.175 ± " in md and "**0.105" not in md
    assert "reference (upper bound) and anchors not ranked" in md


def _significance_store(tmp_path):
    """10 music clips: "best", "tied" (differences from best +-, p near 1), "worse" (worse on every clip), an
    anchor better than all (not tested) and "partial" (best mean, one clip failed: a † row, not tested)."""
    s = ResultsStore.create(tmp_path / "run")
    s.set_meta("config", {"vocoders": ["reference", "anchor35", "best", "tied", "worse", "partial"],
                          "metrics": ["mrstft", "visqol"]})
    rng = np.random.default_rng(1)
    values = {}
    for i in range(10):
        cid = f"c{i}"
        s.put_clip(cid, dataset="d", domain="music", path="", offset=0, duration=1, sha256="")
        base = rng.uniform(1.0, 2.0)
        wiggle = (0.051 if i % 2 else -0.05) * (1 + i // 2)  # tied: slightly worse mean, p near 1
        row = {"reference": 0.0, "anchor35": base - 0.5, "best": base, "tied": base + wiggle,
               "worse": base + 0.3 + 0.01 * i, "partial": base - 0.4}
        for voc, v in row.items():
            if voc == "partial" and i == 3:
                s.put_failure("metric", "boom", vocoder=voc, clip_id=cid, metric="mrstft")
            else:
                s.put_score(voc, cid, "mrstft", v, {"direction": "lower"})
            s.put_score(voc, cid, "visqol", 5.0 - v, {"direction": "higher"})
            values[(voc, cid)] = v
    return s, values


def test_bold_marks_every_vocoder_not_significantly_worse_than_the_best(tmp_path):
    s, values = _significance_store(tmp_path)
    t = build_tables(s)[0]
    md = to_markdown(t)
    bold = {(r, c.key) for r in t.rows for c in t.columns if is_bold(t, c, r)}
    # mrstft: partial is a † row (never tested), so best is the best complete row; visqol: partial is complete
    assert bold == {("best", "mrstft"), ("tied", "mrstft"), ("partial", "visqol")}
    assert t.tests["mrstft"].best == "best" and t.tests["visqol"].best == "partial"
    assert "anchor35" not in t.tests["mrstft"].comparisons and "partial" not in t.tests["mrstft"].comparisons
    # the p-values: scipy's exact Wilcoxon on the per-clip differences, Holm (statsmodels) across the table
    clips = [f"c{i}" for i in range(10)]
    fam = [("mrstft", "tied", "best"), ("mrstft", "worse", "best"), ("visqol", "best", "partial"),
           ("visqol", "tied", "partial"), ("visqol", "worse", "partial")]
    raw = []
    for metric, a, b in fam:
        sign = 1 if metric == "mrstft" else -1
        d = np.array([sign * (values[(a, c)] - values[(b, c)]) for c in clips])
        raw.append(stats.wilcoxon(d, method="exact").pvalue)
    _, adjusted, _, _ = multipletests(raw, method="holm")
    got = [t.tests[m].comparisons[a].p_holm for m, a, _ in fam]
    assert got == pytest.approx(list(adjusted))
    assert "Holm across the 5 comparisons with the best in this table" in md
    assert not is_bold(t, t.columns[0], "worse") and "| worse | 1." in md
    assert "| anchor35 | 1." in md  # better mean than every vocoder, never bold
    rows = _rows(to_csv([t]))
    assert float(rows["worse/mrstft/music"]["p_holm"]) == pytest.approx(adjusted[1])
    assert rows["partial/mrstft/music"]["p_holm"] == "" and rows["partial/mrstft/music"]["bold"] == "0"


def test_one_vocoder_per_column_is_bold_without_a_test(tmp_path):
    t = build_tables(_fill(tmp_path))[1]  # speech: 1 clip; good and bad are each compared with the best
    assert t.tests["mrstft"].family == 2 and "Holm across the 2 comparisons" in to_markdown(t)
    s2 = ResultsStore.create(tmp_path / "one")
    s2.put_clip("c0", dataset="d", domain="music", path="", offset=0, duration=1, sha256="")
    for voc, v in [("reference", 0.0), ("good", 1.0)]:
        s2.put_score(voc, "c0", "mrstft", v, {"direction": "lower"})
    md = to_markdown(build_tables(s2)[0])
    assert "| good | **1.000** |" in md and "nothing to test" in md and "0 comparisons" not in md


def test_mushra_column_marks_come_from_its_own_comparisons(tmp_path):
    from bench.results.significance import compare_with_best
    from bench.results.tables import Tested

    s = _fill(tmp_path)
    extra = {"mushra": {("music", "good"): Summary(80.0, 5.0, 10, 8.0), ("music", "bad"): Summary(78.0, 6.0, 10, 9.0),
                        ("music", "reference"): Summary(99.0, 1.0, 10, 1.0)}}
    # per-assessor means: "bad" lower than "good" for all 8 assessors -> significantly worse
    per = {"good": {f"a{k}": 80.0 + k for k in range(8)}, "bad": {f"a{k}": 78.0 + k - 0.1 * k for k in range(8)}}
    best, comps = compare_with_best(per, higher_is_better=True, n_boot=0)
    marks = {"mushra": {"music": Tested(best, comps, 1, "per-assessor test")}}
    t = build_tables(s, extra=extra, extra_directions={"mushra": "higher"}, extra_tests=marks)[0]
    md = to_markdown(t)
    assert "**80.0 ± 5.0**" in md and "| 78.0 ± 6.0 |" in md and "**99.0" not in md
    assert "MUSHRA: per-assessor test" in md
    # without comparisons the column keeps the best-mean rule, and the caption says so
    md = to_markdown(build_tables(s, extra=extra, extra_directions={"mushra": "higher"})[0])
    assert "**80.0 ± 5.0**" in md and "| 78.0 ± 6.0 |" in md and "MUSHRA: best mean in bold (not tested)" in md
