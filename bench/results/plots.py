"""Plots of a run: per-clip value distributions of each metric, per domain (box plots with points)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bench.results.store import ResultsStore  # noqa: E402
from bench.results.tables import metric_title  # noqa: E402


def metric_boxplots(store: ResultsStore, out_dir: Path) -> list[Path]:
    """One PNG per (domain, metric): a box per vocoder with the per-clip values overlaid; returns the paths."""
    values: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    directions: dict[str, str] = {}
    for s in store.scores():
        values[(s["domain"], s["metric"])][s["vocoder"]].append(s["value"])
        directions[s["metric"]] = s["variant"].get("direction", "lower")
    order = store.config().get("vocoders", [])
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for (domain, metric), per_voc in sorted(values.items()):
        names = [v for v in order if v in per_voc] + sorted(set(per_voc) - set(order))
        fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(names), 3.4), dpi=110)
        data = [per_voc[n] for n in names]
        ax.boxplot(data, showmeans=True, widths=0.55)
        ax.set_xticks(range(1, len(names) + 1), names, rotation=30, ha="right")
        rng = np.random.default_rng(0)
        for i, vals in enumerate(data, start=1):
            ax.scatter(i + rng.uniform(-0.12, 0.12, len(vals)), vals, s=9, alpha=0.6, color="tab:blue")
        arrow = "lower is better" if directions[metric] == "lower" else "higher is better"
        ax.set_title(f"{metric_title(metric)} — {domain} ({arrow})", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        path = out_dir / f"{domain}_{metric}.png"
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    return paths
