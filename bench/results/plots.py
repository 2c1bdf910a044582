"""Plots of a run: per-clip value distributions of each metric, per domain (box plots with points).

Like the tables, the plots cover the clips of the run's current selection and the values the tables average
(latest metric variant, not made stale by a newer failure); a vocoder with fewer values than the covered clips
(failures, values not computed) is labelled with its n.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench.results.frame import from_store  # noqa: E402
from bench.results.selection import Coverage, coverage  # noqa: E402
from bench.results.store import ResultsStore  # noqa: E402
from bench.results.tables import metric_title  # noqa: E402


def _figures(store: ResultsStore, cover: Coverage | None,
             frame: pd.DataFrame | None = None) -> Iterator[tuple[str, plt.Figure]]:
    """(``domain_metric`` name, figure) per (domain, metric) with values on covered clips.

    The values come from ``frame`` (:func:`bench.results.frame.from_store` of ``store`` unless given)."""
    cover = cover or coverage(store)
    frame = frame if frame is not None else from_store(store)
    # the values the tables average: a value made stale by a newer failure is a failure there, so not plotted
    vals = frame[(frame["kind"] == "value") & frame["latest_variant"] & ~frame["stale"]
                 & frame["clip"].isin(cover.ids())]
    # {(domain, metric): {vocoder: values in store order}}; direction of each metric's last stored variant
    values = {key: g.groupby("vocoder", sort=False)["value"].agg(list).to_dict()
              for key, g in vals.groupby(["domain", "metric"])}
    directions = dict(zip(vals["metric"], vals["direction"].fillna("lower")))
    order = store.config().get("vocoders", [])
    for (domain, metric), per_voc in sorted(values.items()):
        expected = len(cover.ids(domain))
        names = [v for v in order if v in per_voc] + sorted(set(per_voc) - set(order))
        fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(names), 3.4), dpi=110)
        data = [per_voc[n] for n in names]
        ax.boxplot(data, showmeans=True, widths=0.55)
        labels = [n if len(per_voc[n]) == expected else f"{n} (n={len(per_voc[n])}/{expected})" for n in names]
        ax.set_xticks(range(1, len(names) + 1), labels, rotation=30, ha="right")
        rng = np.random.default_rng(0)
        for i, vals in enumerate(data, start=1):
            ax.scatter(i + rng.uniform(-0.12, 0.12, len(vals)), vals, s=9, alpha=0.6, color="tab:blue")
        arrow = "lower is better" if directions[metric] == "lower" else "higher is better"
        ax.set_title(f"{metric_title(metric)} — {domain} ({arrow}, {expected} clips)", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        yield f"{domain}_{metric}", fig


def metric_boxplot_pngs(store: ResultsStore, cover: Coverage | None = None,
                        frame: pd.DataFrame | None = None) -> list[tuple[str, bytes]]:
    """The box plots as (name, PNG bytes), rendered in memory (the report embeds them; nothing is written)."""
    out = []
    for name, fig in _figures(store, cover, frame):
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        plt.close(fig)
        out.append((name, buf.getvalue()))
    return out


def metric_boxplots(store: ResultsStore, out_dir: Path, cover: Coverage | None = None) -> list[Path]:
    """Write one PNG per (domain, metric) into ``out_dir`` (a box per vocoder, per-clip values overlaid)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, png in metric_boxplot_pngs(store, cover):
        path = out_dir / f"{name}.png"
        path.write_bytes(png)
        paths.append(path)
    return paths
