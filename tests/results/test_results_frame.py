import hashlib
import json

import pandas as pd
import pytest
from golden_store import RTF, build

import bench.results
from bench.errors import BenchError
from bench.results.frame import BASE_COLUMNS, CLIP_COLUMNS, RENDER_COLUMNS, load
from bench.results.store import ResultsStore


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("frame") / "run"
    build(out).close()
    return out


def _snapshot(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _row(df, **key):
    sel = df
    for k, v in key.items():
        sel = sel[sel[k] == v]
    assert len(sel) == 1, (key, len(sel))
    return sel.iloc[0]


def test_columns_and_one_row_per_value_render_and_failure(run):
    before = _snapshot(run)
    df = load(run)
    assert _snapshot(run) == before  # read-only: no -wal/-shm, no migration
    assert bench.results.load is load
    assert list(df.columns) == BASE_COLUMNS + CLIP_COLUMNS + ["meta_speaker", "meta_warnings"] + RENDER_COLUMNS
    with ResultsStore.open_readonly(run) as s:
        n_scores, n_renders, n_fail = len(s.scores()), len(s.renders()), len(s.failures())
    assert df["kind"].value_counts().to_dict() == {"value": n_scores, "render": n_renders, "failure": n_fail}
    assert df["run"].unique().tolist() == ["run"]


def test_values_carry_clip_metadata_and_render_facts(run):
    df = load(run)
    v = _row(df, kind="value", vocoder="fast", clip="m1", metric="mrstft@discoder")
    assert v["domain"] == "music" and v["dataset"] == "demo" and v["source_path"] == "src/m1.wav"
    assert v["offset"] == 0.5 and v["duration"] == 2.0 and v["source_sha256"] == f"{101:064x}"
    assert v["meta_speaker"] == "p1" and v["meta_warnings"] == "[]"
    assert v["rtf"] == RTF["fast"] * 1.1 and v["precision"] == "bf16" and v["native_sample_rate"] == 22050
    assert v["batch_size"] == 2 and v["device"] == "cpu" and v["audio"] == "audio/fast/m1.wav"
    variant = json.loads(v["variant"])
    assert variant["variant"] == "discoder" and v["direction"] == "lower" and len(v["variant_id"]) == 16
    assert v["selected"] and v["counted"] and not v["stale"] and v["latest_variant"]
    assert _row(df, kind="value", vocoder="anchor35", clip="m0", metric="mrstft")["family"] == "anchor"
    assert _row(df, kind="value", vocoder="reference", clip="m0", metric="mrstft")["family"] == "reference"
    assert _row(df, kind="value", vocoder="fast", clip="m0", metric="mrstft")["family"] is None  # not registered


def test_selection_staleness_and_failures(run):
    df = load(run)
    assert not df[df["clip"] == "m3"]["selected"].any()  # stored, not in the current selection
    assert not df[df["clip"] == "m3"]["counted"].any()
    # broken's synthesis failed on m2 after its values and render were stored: stale, not counted
    m2 = df[(df["vocoder"] == "broken") & (df["clip"] == "m2")]
    assert m2[m2["kind"] != "failure"]["stale"].all() and not m2["counted"].any()
    f = _row(df, kind="failure", vocoder="broken", clip="m2")
    assert f["stage"] == "synthesis" and f["metric"] is None and pd.isna(f["value"])
    assert "non-finite" in f["error"]
    # a metric failure after the value makes that value stale, not the others of the clip
    assert _row(df, kind="value", vocoder="anchor35", clip="m1", metric="mrstft")["stale"]
    assert not _row(df, kind="value", vocoder="anchor35", clip="m1", metric="mrmel")["stale"]
    # the reference failure of a selected clip without a reference: selected, no values
    s9 = _row(df, clip="s9")
    assert s9["kind"] == "failure" and s9["stage"] == "reference" and s9["selected"] and s9["clip_status"] == "error"
    # render rows count (for RTF) when they have an RTF, are selected and not stale
    assert _row(df, kind="render", vocoder="griffinlim", clip="s0")["counted"]


def test_all_variants(run):
    latest = load(run)
    every = load(run, all_variants=True)
    assert len(every) == len(latest) + 1 and latest["latest_variant"].all()
    old = every[~every["latest_variant"]]
    assert old[["vocoder", "clip", "metric", "value"]].values.tolist() == [["griffinlim", "m0", "mrstft", 7.5]]
    assert not old["counted"].any()
    assert json.loads(old.iloc[0]["variant"])["n_fft"] == [256]


def test_empty_store_and_no_store(tmp_path):
    ResultsStore.create(tmp_path / "empty").close()
    df = load(tmp_path / "empty")
    assert df.empty and list(df.columns) == BASE_COLUMNS + CLIP_COLUMNS + RENDER_COLUMNS
    with pytest.raises(BenchError, match="no results store"):
        load(tmp_path / "nothing")


def test_counted_values_give_the_tables_means(run):
    """The README's recipe: a group-by of the counted rows gives every table cell's mean and n (RTF included)."""
    from numerics import F64_EPS, assert_close_f32

    from bench.results.tables import build_tables

    df = load(run)
    v = df[df["counted"] & (df["kind"] == "value")]
    r = df[df["counted"] & (df["kind"] == "render") & ~df["family"].isin(["reference", "anchor"])]
    got = pd.concat([v, r.assign(metric="rtf", value=r["rtf"])]).groupby(["domain", "vocoder", "metric"])["value"]
    means, counts = got.mean(), got.count()
    with ResultsStore.open_readonly(run) as s:
        tables = build_tables(s, rtf=True)
    cells = [(t.domain, row, key, cell) for t in tables for row, cs in t.cells.items() for key, cell in cs.items()]
    assert len(cells) > 40
    for domain, row, key, cell in cells:
        n = int(counts.get((domain, row, key), 0))
        assert n == cell.summary.n, (domain, row, key)
        if n:
            assert_close_f32(means[(domain, row, key)], cell.mean, ulps=8, eps=F64_EPS, what=f"{domain}/{row}/{key}")
