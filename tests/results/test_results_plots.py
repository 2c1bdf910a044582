import matplotlib.pyplot as plt

from bench.results.plots import _figures, metric_boxplot_pngs, metric_boxplots
from bench.results.store import ResultsStore


def _store(tmp_path):
    s = ResultsStore.create(tmp_path / "run")
    s.set_meta("config", {"vocoders": ["reference", "good", "flaky"], "metrics": ["mrstft"]})
    for i in range(3):
        s.put_clip(f"c{i}", dataset="d", domain="music", path="", offset=0, duration=1, sha256="")
        for voc in ("reference", "good", "flaky"):
            if (voc, i) != ("flaky", 1):
                s.put_score(voc, f"c{i}", "mrstft", 1.0 + i, {"direction": "lower"})
    s.set_meta("selection", ["c0", "c1"])  # c2 is stored but not selected
    return s


def test_plots_cover_the_selection_and_label_short_rows(tmp_path):
    s = _store(tmp_path)
    (name, fig), = list(_figures(s, None))
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert name == "music_mrstft" and labels == ["reference", "good", "flaky (n=1/2)"]
    assert [len(c.get_offsets()) for c in ax.collections] == [2, 2, 1]  # per-clip points: c2 left out
    assert "2 clips" in ax.get_title()
    plt.close(fig)
    (_, png), = metric_boxplot_pngs(s)
    assert png.startswith(b"\x89PNG")
    assert not (tmp_path / "run" / "plots").exists()  # in-memory rendering writes nothing
    paths = metric_boxplots(s, tmp_path / "out")
    assert [p.name for p in paths] == ["music_mrstft.png"] and paths[0].read_bytes() == png
