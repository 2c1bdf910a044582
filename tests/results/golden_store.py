"""A deterministic results store that exercises every path of the tables, and the golden outputs made from it.

The store has the hidden reference, a MUSHRA anchor and four vocoders; two domains; a per-clip metric that is
stored but not in the run's config, a ``metric@variant`` one and one that only failed; metric and synthesis
failures (rows marked † with n=k/N), a value made stale by a newer failure, values never computed, a vocoder
that failed on every clip of a domain, a clip outside the selection, a skipped clip, RTF values. Values are
chosen so that the CI, bold and rounding paths all fire.

``python tests/results/golden_store.py`` rewrites the golden files under ``tests/results/golden/`` from the
current code (only do that when a change of the output is intended, and say so in the commit).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.results.stats import Summary
from bench.results.store import ResultsStore

GOLDEN = Path(__file__).parent / "golden"

VOCODERS = ["reference", "anchor35", "griffinlim", "fast", "broken", "never"]
METRICS = ["mrstft", "mrmel", "mrstft@discoder", "mrmel@dac"]
MUSIC = ["m0", "m1", "m2", "m3"]  # m3 is stored but outside the selection
SPEECH = ["s0", "s1", "s2"]
BASE = {"reference": 0.0, "anchor35": 0.4, "griffinlim": 1.1, "fast": 0.9, "broken": 0.7, "never": 2.0}
RTF = {"reference": 5000.0, "anchor35": 900.0, "griffinlim": 21.5, "fast": 48.25, "broken": 33.0}


def _variant(metric: str, direction: str) -> dict:
    base, _, var = metric.partition("@")
    return {"metric": metric, "direction": direction, **({"variant": var} if var else {}), "n_fft": [512, 1024]}


def _value(voc: str, clip: int, metric: int) -> float:
    # distinct per (vocoder, clip, metric); not round numbers, so rounding and CIs are exercised
    return BASE[voc] + 0.137 * clip + 0.0311 * metric * (clip + 1) + 0.00071 * (clip * clip)


def build(run_dir: Path) -> ResultsStore:
    """Write the store into ``run_dir`` (a fresh folder) and return it open for writing."""
    s = ResultsStore.create(run_dir, provenance={"packages": {"bench": "test"}, "git_commit": "0" * 40})
    s.set_meta("config", {"vocoders": VOCODERS[:-1], "metrics": METRICS})  # "never" is not in the config
    s.set_meta("selection", ["m0", "m1", "m2", "s0", "s1", "s2", "s9", "s10"])
    clips = [(c, "music") for c in MUSIC] + [(c, "speech") for c in SPEECH]
    for i, (cid, dom) in enumerate(clips):
        s.put_clip(cid, dataset="demo" if dom == "music" else "speechset", domain=dom, path=f"src/{cid}.wav",
                   offset=0.5 * i, duration=2.0, sha256=f"{i:064x}",
                   meta={"source_sha256": f"{i + 100:064x}", "speaker": f"p{i % 2}", "warnings": []})
    s.put_clip("s9", dataset="speechset", domain="speech", path="src/s9.wav", offset=0.0, duration=2.0,
               sha256="", status="error", error="reference is silent")
    for i, (cid, dom) in enumerate(clips):
        for voc in VOCODERS:
            if voc == "never" and dom == "speech":
                continue  # its synthesis fails on every speech clip (below)
            if voc == "never" and cid != "m0":
                continue
            s.put_render(voc, cid, sample_rate=24000, n_samples=48000, sha256=f"{i:064x}",
                         native_sample_rate=22050 if voc == "fast" else 24000, length_diff=i - 2,
                         rtf=RTF.get(voc, 10.0) * (1 + 0.1 * i), seconds=2.0 / (RTF.get(voc, 10.0) * (1 + 0.1 * i)),
                         device="cpu", precision="fp32" if voc != "fast" else "bf16", batch_size=1 + i % 2,
                         config_hash=f"k-{voc}", provenance={"vocoder": voc, "params": {}})
            for j, metric in enumerate(METRICS[:3]):
                if (voc, cid, metric) == ("fast", "s1", "mrmel"):
                    continue  # never computed (missing)
                if voc == "never" and j > 0:
                    continue
                s.put_score(voc, cid, metric, _value(voc, i, j), _variant(metric, "lower"), seconds=0.01 * (j + 1))
            # cdpam is stored but not in the run's config: its column comes after the configured ones
            if dom == "music":
                s.put_score(voc, cid, "cdpam", 0.05 + 0.5 * BASE[voc] + 0.003 * i, _variant("cdpam", "lower"))
    # an older variant of mrstft for griffinlim on m0 (the latest one counts)
    s.put_score("griffinlim", "m0", "mrstft", 7.5, {**_variant("mrstft", "lower"), "n_fft": [256]})
    s.put_score("griffinlim", "m0", "mrstft", _value("griffinlim", 0, 0), _variant("mrstft", "lower"))
    # metric failures: the anchor's mrstft on m1, fast's mrstft@discoder on s2; mrmel@dac failed wherever tried
    s.put_failure("metric", "ValueError: degraded signal is silent", vocoder="anchor35", clip_id="m1",
                  metric="mrstft")
    s.put_failure("metric", "RuntimeError: boom", vocoder="fast", clip_id="s2", metric="mrstft@discoder")
    for cid in ("m0", "s0"):
        s.put_failure("metric", "cannot build mrmel@dac: ImportError", vocoder="griffinlim", clip_id=cid,
                      metric="mrmel@dac")
    # synthesis failures: broken on m2 after its values were stored (they are stale), never on every speech clip
    s.put_failure("synthesis", "output has 12 non-finite samples", vocoder="broken", clip_id="m2")
    for cid in SPEECH:
        s.put_failure("synthesis", "RuntimeError: out of memory", vocoder="never", clip_id=cid)
    s.put_failure("reference", "reference is silent", clip_id="s9")
    # a metric failure of broken on s0, then a value stored after it (fixed and recomputed): the value counts
    s.put_failure("metric", "transient", vocoder="broken", clip_id="s0", metric="mrmel")
    s.put_score("broken", "s0", "mrmel", 0.777, _variant("mrmel", "lower"))
    return s


def mushra() -> dict[str, dict[tuple[str, str], Summary]]:
    """An extra MUSHRA column (n counts ratings): anchor, vocoders, a listener-only row and an "all" entry."""
    return {"mushra": {("music", "anchor35"): Summary(31.25, 4.5, 24, 11.0),
                       ("music", "griffinlim"): Summary(55.0, 6.25, 24, 15.3),
                       ("music", "fast"): Summary(72.5, 5.0, 24, 12.2),
                       ("music", "reference"): Summary(98.0, 1.0, 24, 2.4),
                       ("speech", "griffinlim"): Summary(48.0, float("nan"), 1, float("nan")),
                       ("speech", "listener_only"): Summary(60.0, 7.0, 12, 10.0),
                       ("all", "fast"): Summary(70.0, 4.0, 48, 12.0)}}


#: name -> (build_tables keyword arguments, formats)
CASES = {
    "plain": ({}, ("md", "tex", "csv")),
    "rtf": ({"rtf": True}, ("md", "tex", "csv")),
    "mushra": ({"rtf": True, "mushra": True}, ("md", "tex", "csv")),
    "mushra_nortf": ({"mushra": True}, ("md",)),
}


def outputs(store: ResultsStore) -> dict[str, str]:
    """{golden file name: text} of every table case and format, plus the plots' data."""
    from bench.results.tables import build_tables, render

    out = {}
    for name, (kw, formats) in CASES.items():
        kw = dict(kw)
        if kw.pop("mushra", False):
            kw.update(extra=mushra(), extra_directions={"mushra": "higher"})
        tables = build_tables(store, **kw)
        for fmt in formats:
            out[f"{name}.{fmt}"] = render(tables, fmt)
    out["plots.json"] = plot_data(store)
    return out


def plot_data(store: ResultsStore) -> str:
    """What the box plots show (names, titles, labels, box data, overlaid points) as JSON text."""
    import matplotlib.pyplot as plt

    from bench.results.plots import _figures

    figs = []
    for name, fig in _figures(store, None):
        ax = fig.axes[0]
        figs.append({"name": name, "title": ax.get_title(), "ylabel": ax.get_yaxis().get_label().get_text(),
                     "labels": [t.get_text() for t in ax.get_xticklabels()],
                     "points": [[[round(float(x), 12), round(float(y), 12)] for x, y in c.get_offsets()]
                                for c in ax.collections]})
        plt.close(fig)
    return json.dumps(figs, indent=1) + "\n"


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        store = build(Path(tmp) / "run")
        GOLDEN.mkdir(exist_ok=True)
        for fname, text in outputs(store).items():
            (GOLDEN / fname).write_text(text)
            print(f"wrote {GOLDEN / fname}", file=sys.stderr)
        store.close()
