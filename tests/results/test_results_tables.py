import csv
import io

from bench.results.stats import Summary
from bench.results.store import ResultsStore
from bench.results.tables import build_tables, to_csv, to_latex, to_markdown, write_tables


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
    # the hidden reference is the bound, so the best competitor is bold
    assert "| good | **1.050 ± " in md
    assert "| reference | 0.050 ± " in md
    assert "| bad | 3.050" in md and "**3.050" not in md
    tex = to_latex(music)
    assert r"\toprule" in tex and r"\textbf{1.050}" in tex and r"$\downarrow$" in tex
    rows = list(csv.DictReader(io.StringIO(to_csv(tables))))
    good = [r for r in rows if r["vocoder"] == "good" and r["metric"] == "mrstft" and r["domain"] == "music"][0]
    assert float(good["mean"]) == 1.05 and good["n"] == "2" and good["best"] == "1"
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
