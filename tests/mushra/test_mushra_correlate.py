"""`bench mushra correlate`: synthetic listeners with a known relation to a metric, scipy as the reference for the
coefficients, sign adjustment, the anchors flag, screening, bootstrap resampling and one-line errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
from numerics import F64_EPS, assert_close_f32
from reportcheck import CHROMIUM, CHROMIUM_ARGS, check_report_in_chromium, require_browser

from bench.cli import main
from bench.errors import BenchError
from bench.results.store import ResultsStore
from mushra.analysis import TestResults
from mushra.config import ANCHOR35, ANCHOR70, HIDDEN_REFERENCE
from mushra.correlate import _bootstrap, correlate, kendall, pearson, spearman, to_markdown, write_outputs
from mushra.storage import Storage
from mushra.testing import BASE, SYSTEMS, latent_quality, make_scored_study

N_ITEMS = 10
N_ASSESSORS = 12


def _get(ag, metric: str, level: str, method: str, domain: str = "all"):
    (c,) = [c for c in ag.correlations if (c.metric, c.level, c.method, c.domain) == (metric, level, method, domain)]
    return c


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    test, run, _ = make_scored_study(tmp_path_factory.mktemp("corr"))
    return test, run


def test_known_relation_agrees_and_unrelated_metric_does_not(synthetic: tuple[Path, Path]) -> None:
    test, run = synthetic
    ag = correlate(test, run, n_boot=500)
    assert ag.conditions == list(SYSTEMS) and ag.assessors_kept == N_ASSESSORS and len(ag.items) == N_ITEMS
    q = latent_quality()
    qs = np.array([q[(i, v)] for i in range(N_ITEMS) for v in SYSTEMS])
    xs = {"good": np.exp(-qs / 30), "good_up": qs / 10 + 1}
    for metric in ("good", "good_up"):
        for method, at_least in (("pearson", 0.9), ("spearman", 0.9), ("kendall", 0.75)):
            c = _get(ag, metric, "item", method)
            assert c.n == N_ITEMS * len(SYSTEMS)
            # The listeners' true means are q, and the metric is a monotone function of q: the true rank
            # coefficients are 1, Pearson's is that of (metric, q) over these points; the interval covers it.
            truth = 1.0 if method != "pearson" else float(abs(pearson(xs[metric], qs)))
            assert c.r > at_least and 0.5 < c.ci_low <= truth <= c.ci_high, (c, truth)
        # System level: five vocoders whose order the listeners see without doubt.
        assert _get(ag, metric, "system", "spearman").r == 1.0
        assert _get(ag, metric, "system", "kendall").r == 1.0
        assert _get(ag, metric, "system", "pearson").n == len(SYSTEMS)
    for method in ("pearson", "spearman", "kendall"):
        c = _get(ag, "noise", "item", method)
        assert abs(c.r) < 0.3 and c.ci_low < 0 < c.ci_high, c   # the interval covers "no relation"
    # Per domain too (items 1,3,.. speech; 2,4,.. music).
    assert {c.domain for c in ag.correlations} == {"speech", "music", "all"}
    assert _get(ag, "good", "item", "spearman", "speech").n == (N_ITEMS // 2) * len(SYSTEMS)


def test_interval_covers_the_true_correlation_at_about_the_nominal_rate() -> None:
    """Simulated studies with a known item-level correlation between the metric and the listeners' true means
    (metric = q + N(0, 10), q = system base + U(-8, 8)): the basic interval covers it in about 95% of studies, also
    with noisy listeners, whose noise pulls every estimate down (the plain percentile interval misses it there)."""
    from mushra.correlate import Points, _coefficients

    base = np.array(list(BASE.values()))
    var_q = base.var() + 16**2 / 12
    truth = math.sqrt(var_q / (var_q + 10.0**2))
    rng = np.random.default_rng(0)
    n_studies, covered, percentile_covered = 100, 0, 0
    for k in range(n_studies):
        q = base[None, :] + rng.uniform(-8, 8, (20, 5))
        x = q + rng.normal(0, 10, q.shape)
        ratings = q[None] + rng.normal(0, 25, (8, 20, 5))   # 8 noisy assessors
        p = Points("m", "higher", "all", [f"c{i}" for i in range(20)], ["all"] * 20, list(BASE), x,
                   ratings.mean(axis=0))
        c = next(c for c in _coefficients(p, ratings, 200, seed=k) if (c.level, c.method) == ("item", "pearson"))
        covered += c.ci_low <= truth <= c.ci_high
        xi, yi, _, _ = _bootstrap(x, ratings, 200, seed=k)
        lo, hi = np.percentile(pearson(xi, yi), [2.5, 97.5])
        percentile_covered += lo <= truth <= hi
    assert covered >= 88, covered              # P(X < 88) for Binomial(100, 0.95) is about 0.1%
    assert percentile_covered < 50, percentile_covered


def test_sign_adjustment(synthetic: tuple[Path, Path]) -> None:
    """A lower-is-better metric that agrees has a negative raw coefficient and a positive adjusted one; the
    interval is flipped with it. A higher-is-better one is unchanged."""
    test, run = synthetic
    ag = correlate(test, run, n_boot=300)
    for level in ("item", "system"):
        for method in ("pearson", "spearman", "kendall"):
            low = _get(ag, "good", level, method)
            assert low.direction == "lower" and low.raw_r < 0 and low.r == -low.raw_r
            up = _get(ag, "good_up", level, method)
            assert up.direction == "higher" and up.r == up.raw_r > 0
    # Ranks are the same for exp(-q/30) (decreasing) and q/10 + 1 (increasing): adjusted rank coefficients agree.
    for level in ("item", "system"):
        for method in ("spearman", "kendall"):
            a, b = _get(ag, "good", level, method), _get(ag, "good_up", level, method)
            assert a.r == pytest.approx(b.r, rel=8 * F64_EPS)
            assert (a.ci_low, a.ci_high) == pytest.approx((b.ci_low, b.ci_high), rel=8 * F64_EPS)


def test_point_values_match_scipy(synthetic: tuple[Path, Path]) -> None:
    """Each coefficient equals scipy.stats.pearsonr/spearmanr/kendalltau (tau-b) on the same points."""
    test, run = synthetic
    ag = correlate(test, run, n_boot=100, include_anchors=True)
    checked = 0
    for p in ag.points:
        for level, (x, y) in (("item", (p.x.ravel(), p.y.ravel())),
                              ("system", (p.x.mean(axis=0), None))):
            if level == "system":
                ratings = [c for c in ag.correlations if c.metric == p.metric and c.domain == p.domain]
                assert ratings
                y = np.nanmean(p.y, axis=0)   # complete ratings: mean of item means = mean of all ratings
            for method, ref in (("pearson", scipy.stats.pearsonr(x, y).statistic),
                                ("spearman", scipy.stats.spearmanr(x, y).statistic),
                                ("kendall", scipy.stats.kendalltau(x, y).statistic)):
                c = _get(ag, p.metric, level, method, p.domain)
                assert_close_f32(c.raw_r, ref, ulps=64, scale=1.0, eps=F64_EPS, what=f"{p.metric} {level} {method}")
                checked += 1
    assert checked == 3 * 3 * 2 * 3


def test_batched_coefficients_match_scipy_with_ties() -> None:
    rng = np.random.default_rng(5)
    x = rng.integers(0, 5, size=(40, 17)).astype(float)   # many ties
    y = x + rng.integers(-2, 3, size=x.shape)
    got = {"pearson": pearson(x, y), "spearman": spearman(x, y), "kendall": kendall(x, y)}
    for b in range(x.shape[0]):
        ref = {"pearson": scipy.stats.pearsonr(x[b], y[b]).statistic,
               "spearman": scipy.stats.spearmanr(x[b], y[b]).statistic,
               "kendall": scipy.stats.kendalltau(x[b], y[b]).statistic}
        for m, r in ref.items():
            assert_close_f32(got[m][b], r, ulps=64, scale=1.0, eps=F64_EPS, what=f"{m} row {b}")
    assert math.isnan(pearson(np.ones(5), np.arange(5.0))) and math.isnan(kendall(np.ones(5), np.arange(5.0)))


def test_anchors_excluded_by_default_and_inflate_when_included(synthetic: tuple[Path, Path]) -> None:
    test, run = synthetic
    excluded = correlate(test, run, n_boot=200)
    included = correlate(test, run, n_boot=200, include_anchors=True)
    assert excluded.conditions == list(SYSTEMS)
    assert included.conditions == [HIDDEN_REFERENCE, *SYSTEMS, ANCHOR70, ANCHOR35]
    # The unrelated metric looks good once the scale's ends are in: the reason for the default.
    assert abs(_get(excluded, "noise", "item", "pearson").r) < 0.3
    assert _get(included, "noise", "item", "pearson").r > 0.6
    assert _get(included, "noise", "system", "spearman").n == 8
    md = to_markdown(excluded)
    assert "hidden reference and anchors excluded (default)" in md.lower() and "inflates" in md
    assert "included (--include-anchors)" in to_markdown(included)


def test_only_kept_assessors_count(tmp_path: Path) -> None:
    """An assessor excluded by post-screening (who rates every vocoder the other way round) changes nothing."""
    test_a, run_a, _ = make_scored_study(tmp_path / "a")
    test_b, run_b, _ = make_scored_study(tmp_path / "b", bad_assessor=True)
    a, b = correlate(test_a, run_a, n_boot=200), correlate(test_b, run_b, n_boot=200)
    assert (b.assessors_kept, b.assessors_total) == (N_ASSESSORS, N_ASSESSORS + 1)
    assert [(c.metric, c.level, c.method, c.r, c.ci_low, c.ci_high) for c in a.correlations] == \
           [(c.metric, c.level, c.method, c.r, c.ci_low, c.ci_high) for c in b.correlations]


def test_bootstrap_resamples_assessors_and_items() -> None:
    """Replicate 0 equals the means recomputed by hand from the assessors and items the seeded generator draws."""
    rng = np.random.default_rng(1)
    ratings = rng.integers(0, 101, size=(6, 4, 3)).astype(float)
    ratings[2, 1, 0] = np.nan   # one rating missing: means over the ratings there are
    x = rng.normal(size=(4, 3))
    xi, yi, xs, ys = _bootstrap(x, ratings, 3, seed=42)
    draw = np.random.default_rng(42)
    a, it = draw.integers(0, 6, 6), draw.integers(0, 4, 4)
    assert len(set(a)) < 6 or len(set(it)) < 4, "draws are with replacement (this seed repeats one)"
    for k, i in enumerate(it):
        for c in range(3):
            vals = [ratings[j, i, c] for j in a if not np.isnan(ratings[j, i, c])]
            assert yi[0, k * 3 + c] == pytest.approx(sum(vals) / len(vals), rel=4 * F64_EPS)
            assert xi[0, k * 3 + c] == x[i, c]
    for c in range(3):
        vals = [ratings[j, i, c] for j in a for i in it if not np.isnan(ratings[j, i, c])]
        assert ys[0, c] == pytest.approx(sum(vals) / len(vals), rel=4 * F64_EPS)
        assert xs[0, c] == pytest.approx(np.mean([x[i, c] for i in it]), rel=4 * F64_EPS)
    # Seeded: the same seed gives the same resamples, another seed others.
    assert np.array_equal(_bootstrap(x, ratings, 3, seed=42)[1], yi, equal_nan=True)
    assert not np.array_equal(_bootstrap(x, ratings, 3, seed=43)[1], yi, equal_nan=True)


def test_too_few_conditions_is_na_not_a_perfect_correlation(tmp_path: Path) -> None:
    test, run, _ = make_scored_study(tmp_path, n_items=4, systems=("v1", "v2"))
    ag = correlate(test, run, n_boot=100)
    sys_rows = [c for c in ag.correlations if c.level == "system"]
    assert sys_rows and all(math.isnan(c.r) and c.n == 2 and "at least 3" in c.note for c in sys_rows)
    assert not math.isnan(_get(ag, "good", "item", "pearson").r)
    assert "| system | 2 | n/a | n/a | n/a |" in to_markdown(ag)


def test_cli_writes_outputs_and_errors_are_one_line(synthetic: tuple[Path, Path], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    test, run = synthetic
    out = tmp_path / "out"
    assert main(["mushra", "correlate", str(test), str(run), "--out", str(out), "--n-boot", "200"]) == 0
    text = capsys.readouterr().out
    assert "| good ↓ | system | 5 | +" in text and "excluded (default)" in text and "## all (10 items)" in text
    names = sorted(p.name for p in out.iterdir())
    assert names == ["correlations.csv", "correlations.json", "correlations.md", "scatter_good.png",
                     "scatter_good_up.png", "scatter_noise.png"]
    assert (out / "scatter_good.png").read_bytes()[:4] == b"\x89PNG"
    doc = json.loads((out / "correlations.json").read_text())
    assert doc["include_anchors"] is False and doc["bootstrap"]["resamples"] == 200
    assert len(doc["correlations"]) == 3 * 3 * 2 * 3   # metrics x scopes x levels x methods

    # A run that shares no clip with the test, one that shares no vocoder: one-line errors, nothing written.
    other_clips = tmp_path / "other"
    make_scored_study(other_clips, clip_prefix="elsewhere")
    no_voc = tmp_path / "novoc"
    with ResultsStore.create(no_voc) as store:
        store.put_clip("clip0", dataset="s", domain="speech", path="", offset=0.0, duration=1.0, sha256="x")
        store.put_score("other_vocoder", "clip0", "good", 1.0, {"direction": "lower"})
    for bad_run, words in ((other_clips / "run", "share no clips"), (no_voc, "share no vocoders")):
        assert main(["mushra", "correlate", str(test), str(bad_run), "--out", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("bench: error:") and words in err and "\n" not in err, err
        assert not (tmp_path / "x").exists()
    with pytest.raises(BenchError, match="no manifest.json"):
        (test / "manifest.json").rename(test / "m.json")
        try:
            correlate(test, run)
        finally:
            (test / "m.json").rename(test / "manifest.json")


def test_write_outputs_file_names_are_safe(synthetic: tuple[Path, Path], tmp_path: Path) -> None:
    test, run = synthetic
    ag = correlate(test, run, n_boot=100)
    for p in ag.points:
        p.metric = "mrstft@discoder" if p.metric == "good" else p.metric
    for c in ag.correlations:
        c.metric = "mrstft@discoder" if c.metric == "good" else c.metric
    files = write_outputs(ag, tmp_path / "o")
    assert "scatter_mrstft-discoder.png" in files


# -- end to end: a run, a listening test completed in Chromium, `bench mushra correlate`, the report --------------
#: The test listener rates by the known degradation (noise at 30/20/10 dB SNR); Griffin-Lim in between.
LISTENER = {"reference": 100, "noisy30": 80, "noisy20": 62, "griffinlim": 50, "noisy10": 30, "anchor70": 40,
            "anchor35": 15}


def _small_run(root: Path) -> Path:
    """A real `bench run` of 3 music clips (2 s): reference, anchors, Griffin-Lim, and three pre-rendered systems
    (the reference as evaluated plus white noise at 30, 20 and 10 dB SNR); metrics mrstft and mrmel."""
    import soundfile as sf
    from testsignals import music_like

    from bench.export_references import export_references
    from bench.runner import RunConfig, run

    clips = root / "clips"
    clips.mkdir()
    for k in range(3):
        sf.write(clips / f"song{k}.wav", music_like(2.0, 44100, seed=k), 44100)
    out = root / "run"
    base = dict(out=out, dataset="folder", dataset_options={"path": str(clips), "domain": "music"}, device="cpu",
                progress=False, metrics=["mrstft", "mrmel"], vocoder_params={"griffinlim": {"iterations": 4}})
    run(RunConfig(vocoders=["reference"], **base))
    refs = root / "refs"
    export_references(out, refs)
    rng = np.random.default_rng(0)
    renders = {}
    for snr in (30, 20, 10):
        d = root / f"noisy{snr}"
        d.mkdir()
        for f in sorted(refs.glob("*.wav")):
            x, sr = sf.read(f, dtype="float32")
            noise = rng.standard_normal(x.size).astype(np.float32)
            noise *= np.sqrt(np.mean(x**2) / np.mean(noise**2)) * 10 ** (-snr / 20)
            sf.write(d / f.name, x + noise, sr, subtype="FLOAT")
        renders[f"noisy{snr}"] = str(d)
    run(RunConfig(vocoders=["reference", "anchor35", "anchor70", "griffinlim"], renders=renders, **base))
    return out


def _complete_session(browser, url: str, assessor: int, pages: int) -> None:
    """Go through welcome, volume, training, the items and the questionnaire as a listener would (play every
    condition, then set its slider), rating by :data:`LISTENER` with a small deterministic spread."""
    from playwright.sync_api import expect

    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(url)
    mushra_pages = 0
    for _ in range(12):
        title = page.locator("h2.page-title").inner_text(timeout=20_000)
        if title == "Thank you":
            break
        if title == "Volume":
            expect(page.locator("#btn-volume-play")).to_be_enabled(timeout=20_000)
            page.click("#btn-volume-play")
        elif page.locator("#play-reference").count():
            expect(page.locator("#play-reference")).to_be_enabled(timeout=20_000)
            page.click("#play-reference")
            state = page.evaluate("window.mushraApp.state()")
            (trial,) = [k.split(":", 2)[2] for k in state["pages"] if k.startswith(f"{state['pageIndex']}:")]
            for n, label in enumerate(page.evaluate("window.mushraApp.currentOrder()"), start=1):
                page.click(f"#play-{n}")
                score = LISTENER.get(label, 50)
                if label != "reference":   # a spread that depends on the item and condition, not on the page order
                    score += (sum(map(ord, trial + label)) * 7 + assessor * 5) % 9 - 4
                expect(page.locator(f"#rating-{n}")).to_be_enabled()
                page.locator(f"#rating-{n}").fill(str(score))
                expect(page.locator(f"#score-{n}")).to_have_text(str(score))
            if page.locator("#btn-play").inner_text() == "Pause":
                page.locator("body").press(" ")
            mushra_pages += 1
        before = page.evaluate("window.mushraApp.state().pageIndex")
        page.click("#btn-next")
        page.wait_for_function(f"window.mushraApp.state().pageIndex > {before}", timeout=10_000)
    assert mushra_pages == pages   # training + the items
    page.fill("#q-0", str(30 + assessor))
    page.check("#q-1-0")
    page.check("#q-2-1")
    page.click("#btn-submit")
    expect(page.locator("#submit-ok")).to_be_visible(timeout=10_000)
    ctx.close()
    assert errors == [], errors


def _rate_in_chromium(test_dir: Path, *, n_assessors: int, pages: int) -> None:
    """Serve ``test_dir`` (mushra.app on 127.0.0.1, a thread) and complete it ``n_assessors`` times in Chromium."""
    import threading

    from werkzeug.serving import make_server

    from mushra.app import create_app

    sync_playwright = require_browser()
    srv = make_server("127.0.0.1", 0, create_app(test_dir, admin_token="t"), threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            try:
                for assessor in range(n_assessors):
                    _complete_session(browser, f"http://127.0.0.1:{srv.server_port}/", assessor, pages)
            finally:
                browser.close()
    finally:
        srv.shutdown()
        thread.join(timeout=5)


@pytest.mark.browser
def test_listening_test_completed_in_chromium_then_correlate_and_report(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from mushra.build import build_test

    require_browser()
    run_dir = _small_run(tmp_path)
    test_dir = tmp_path / "test"
    build_test(run_dir, ["griffinlim", "noisy30", "noisy20", "noisy10"], 3, test_dir, excerpt_seconds=1.5,
               name="correlate-e2e")
    _rate_in_chromium(test_dir, n_assessors=2, pages=4)

    out = tmp_path / "correlate"
    assert main(["mushra", "correlate", str(test_dir), str(run_dir), "--out", str(out), "--n-boot", "1000"]) == 0
    printed = capsys.readouterr().out
    print(printed)
    print(f"browser-completed test: {test_dir}\nrun: {run_dir}")
    doc = json.loads((out / "correlations.json").read_text())
    assert doc["assessors_kept"] == 2 and doc["conditions"] == ["griffinlim", "noisy30", "noisy20", "noisy10"]
    rows = {(c["metric"], c["level"], c["method"]): c for c in doc["correlations"]}
    assert {m for m, _, _ in rows} == {"mrstft", "mrmel"}
    assert rows[("mrmel", "system", "pearson")]["n"] == 4 and rows[("mrmel", "item", "pearson")]["n"] == 12

    # Recompute the item-level points independently (stored ratings, manifest, run store) and compare with scipy.
    manifest = json.loads((test_dir / "manifest.json").read_text())
    clip_of = {it["page_id"]: it["clip_id"] for it in manifest["items"]}
    storage = TestResults.load(test_dir).storage
    sums: dict[tuple[str, str], list[float]] = {}
    for r in storage.ratings():
        if r["trial_id"] in clip_of and r["stimulus"] in doc["conditions"]:
            sums.setdefault((clip_of[r["trial_id"]], r["stimulus"]), []).append(r["score"])
    with ResultsStore.open_readonly(run_dir) as store:
        vals = {(s["clip_id"], s["vocoder"], s["metric"]): s["value"] for s in store.scores()}
    for metric in ("mrstft", "mrmel"):
        keys = sorted(sums)
        x = np.array([vals[(c, v, metric)] for c, v in keys])
        y = np.array([np.mean(sums[k]) for k in keys])
        for method, ref in (("pearson", scipy.stats.pearsonr(x, y).statistic),
                            ("spearman", scipy.stats.spearmanr(x, y).statistic),
                            ("kendall", scipy.stats.kendalltau(x, y).statistic)):
            c = rows[(metric, "item", method)]
            assert_close_f32(c["raw_r"], ref, ulps=64, scale=1.0, eps=F64_EPS, what=f"{metric} {method}")
            assert c["r"] == -c["raw_r"]   # both lower-is-better
    # The run is what the listener assumed: more noise, larger distance.
    for metric in ("mrstft", "mrmel"):
        means = [np.mean([vals[(c, f"noisy{s}", metric)] for c in clip_of.values()]) for s in (30, 20, 10)]
        assert means[0] < means[1] < means[2], (metric, means)

    # The report with the listener-agreement section, checked in Chromium.
    report = tmp_path / "report.html"
    assert main(["report", str(run_dir), "--mushra", str(test_dir), "--out", str(report)]) == 0
    check_report_in_chromium(report, tmp_path / "report.png",
                             ["Results", "Comparison matrices", "Which metric agrees with listeners", "Distributions"])


@pytest.mark.browser
def test_existing_run_listening_test_in_chromium(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With BENCH_E2E_RUN=<run folder> (e.g. results/demo): a 4-item test built from that run, completed in Chromium
    by two test listeners (scores by :data:`LISTENER`, 50 for other vocoders), then `bench mushra correlate` with
    and without the anchors; item-level points checked against scipy. Skipped without the variable."""
    import os

    from mushra.build import build_test

    run_dir = os.environ.get("BENCH_E2E_RUN")
    if not run_dir:
        pytest.skip("BENCH_E2E_RUN not set (a run folder, e.g. results/demo after `make demo`)")
    require_browser()
    run_dir = Path(run_dir)
    with ResultsStore.open_readonly(run_dir) as store:
        vocoders = [v for v in store.config().get("vocoders", []) if v not in (HIDDEN_REFERENCE, ANCHOR35, ANCHOR70)]
    test_dir = tmp_path / "test"
    build_test(run_dir, vocoders, 4, test_dir, excerpt_seconds=4.0, name="correlate-existing-run")
    _rate_in_chromium(test_dir, n_assessors=2, pages=5)
    for extra in ([], ["--include-anchors"]):
        out = tmp_path / f"correlate{len(extra)}"
        assert main(["mushra", "correlate", str(test_dir), str(run_dir), "--out", str(out), *extra]) == 0
        print(capsys.readouterr().out)
        doc = json.loads((out / "correlations.json").read_text())
        manifest = json.loads((test_dir / "manifest.json").read_text())
        clip_of = {it["page_id"]: it["clip_id"] for it in manifest["items"]}
        sums: dict[tuple[str, str], list[float]] = {}
        for r in TestResults.load(test_dir).storage.ratings():
            if r["trial_id"] in clip_of and r["stimulus"] in doc["conditions"]:
                sums.setdefault((clip_of[r["trial_id"]], r["stimulus"]), []).append(r["score"])
        with ResultsStore.open_readonly(run_dir) as store:
            vals = {(s["clip_id"], s["vocoder"], s["metric"]): s["value"] for s in store.scores()}
        pooled = "all" if any(c["domain"] == "all" for c in doc["correlations"]) else doc["correlations"][0]["domain"]
        for c in doc["correlations"]:
            if c["level"] != "item" or c["domain"] != pooled or c["raw_r"] is None:
                continue
            keys = sorted(k for k in sums if (k[0], k[1], c["metric"]) in vals)
            x = np.array([vals[(k[0], k[1], c["metric"])] for k in keys])
            y = np.array([np.mean(sums[k]) for k in keys])
            ref = {"pearson": scipy.stats.pearsonr, "spearman": scipy.stats.spearmanr,
                   "kendall": scipy.stats.kendalltau}[c["method"]](x, y).statistic
            assert_close_f32(c["raw_r"], ref, ulps=64, scale=1.0, eps=F64_EPS, what=f"{c['metric']} {c['method']}")
    print(f"test folder: {test_dir}")
