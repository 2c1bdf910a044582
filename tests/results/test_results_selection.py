from bench.results.selection import coverage
from bench.results.store import ResultsStore
from bench.results.tables import build_tables, to_markdown
from bench.runner import RunConfig, run


def test_coverage_follows_the_selection(tmp_path):
    s = ResultsStore.create(tmp_path / "run")
    clips = [("a", "music", "ok"), ("b", "music", "ok"), ("x", "speech", "error"), ("c", "speech", "ok")]
    for cid, dom, status in clips:
        s.put_clip(cid, dataset="d", domain=dom, path="", offset=0, duration=1, sha256="", status=status)
    cov = coverage(s)
    assert not cov.from_selection and cov.ids() == ["a", "b", "c"]
    s.set_meta("selection", ["c", "x", "a", "gone"])
    cov = coverage(s)
    assert cov.from_selection and cov.ids() == ["c", "a"] and cov.ids("music") == ["a"]
    assert [c["clip_id"] for c in cov.skipped] == ["x"] and cov.unprepared == ["gone"]
    assert cov.describe("speech") == ("the 1 clip of the current selection (1 more selected skipped: reference "
                                      "failed; 1 selected not loaded yet)")


def test_smaller_limit_rerun_covers_only_the_new_selection(audio_folder, tmp_path):
    out = tmp_path / "r"
    opts = {"path": str(audio_folder), "domain": "music"}
    cfg = dict(out=out, dataset="folder", dataset_options=opts, vocoders=["reference", "anchor35"], metrics=["mrmel"],
               device="cpu", progress=False)
    run(RunConfig(**cfg))
    with ResultsStore.open(out) as s:
        assert len(build_tables(s)[0].clips) == 3  # low_rate, song0, song1 (corrupt and silent skipped)
    run(RunConfig(**cfg, limit=2))  # corrupt (skipped) and low_rate, in dataset order
    with ResultsStore.open(out) as s:
        selection = s.get_meta("selection")
        t = build_tables(s)[0]
    assert len(selection) == 2 and t.clips == selection[1:]
    assert t.cells["anchor35"]["mrmel"].summary.n == 1
    assert "over the 1 clip of the current selection (1 more selected skipped: reference failed)" in to_markdown(t)
