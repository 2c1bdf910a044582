"""`bench compare RUN A B`: two vocoders of one run compared per domain and metric, paired over clips.

Values are the ones the tables average (the frame's ``counted`` rows: selected clips, latest metric variant, not
made stale by a later failure). Each (domain, metric) pairs the clips both vocoders have; the tests and effect
sizes are those of :mod:`bench.results.significance`, Holm-corrected across the comparisons printed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench.errors import BenchError
from bench.results.significance import EXACT_MAX_N, Comparison, paired_test, with_holm
from bench.results.tables import metric_title


@dataclass(frozen=True)
class Row:
    domain: str
    metric: str
    direction: str  # "lower" | "higher"
    comparison: Comparison


def _direction(df: pd.DataFrame, metric: str) -> str:
    stored = df.loc[df["metric"] == metric, "direction"].dropna()
    if len(stored):
        return str(stored.iloc[-1])
    from bench.metrics.registry import metric_registry

    reg = metric_registry()
    if metric in reg.names():
        return reg.get(metric).direction
    raise BenchError(f"metric {metric}: no direction stored or registered (lower or higher is better?)")


def compare_vocoders(df: pd.DataFrame, a: str, b: str, *, metric_order: list[str] | None = None,
                     test: str = "wilcoxon", domain: str | None = None, metric: str | None = None,
                     n_boot: int = 10000, seed: int = 0, alpha: float = 0.05) -> tuple[list[Row], list[str]]:
    """Rows (one per domain and metric with shared clips, Holm across them) and notes on what was not compared.

    ``df`` is a run's frame (:func:`bench.results.frame.load`). One-line :class:`BenchError` for an unknown
    vocoder, domain or metric, A == B, or no clip scored for both.
    """
    if a == b:
        raise BenchError(f"compare {a} with another vocoder, not with itself")
    vals = df[(df["kind"] == "value") & df["counted"]]
    known = sorted(set(vals["vocoder"]))
    for name in (a, b):
        if name not in known:
            raise BenchError(f"no scored vocoder {name!r} in this run (scored: {', '.join(known) or 'none'})")
    vals = vals[vals["vocoder"].isin([a, b])]
    domains = sorted(set(vals["domain"].dropna()))
    if domain is not None:
        if domain not in domains:
            raise BenchError(f"no scores of {a} or {b} in domain {domain!r} (domains: {', '.join(domains)})")
        domains = [domain]
    present = set(vals["metric"])
    metrics = [m for m in (metric_order or []) if m in present] + sorted(present - set(metric_order or []))
    if metric is not None:
        if metric not in present:
            raise BenchError(f"no {metric!r} scores of {a} or {b} (metrics: {', '.join(metrics)})")
        metrics = [metric]
    rows: list[Row] = []
    notes: list[str] = []
    for dom in domains:
        for m in metrics:
            sel = vals[(vals["domain"] == dom) & (vals["metric"] == m)]
            per = {v: dict(zip(g["clip"], g["value"])) for v, g in sel.groupby("vocoder")}
            va, vb = per.get(a, {}), per.get(b, {})
            shared = [c for c in va if c in vb]
            if not shared:
                if va or vb:
                    notes.append(f"{dom} {metric_title(m)}: not compared, no clip scored for both "
                                 f"({a}: {len(va)} clips, {b}: {len(vb)})")
                continue
            direction = _direction(df, m)
            c = paired_test(a, [va[k] for k in shared], b, [vb[k] for k in shared],
                            higher_is_better=direction == "higher", test=test, n_boot=n_boot, seed=seed, alpha=alpha)
            if len(va) != len(shared) or len(vb) != len(shared):
                notes.append(f"{dom} {metric_title(m)}: paired over the {len(shared)} clips both have "
                             f"({a}: {len(va)}, {b}: {len(vb)})")
            rows.append(Row(dom, m, direction, c))
    if not rows:
        raise BenchError(f"{a} and {b} share no scored clip"
                         + (f" in domain {domain}" if domain else "") + (f" for {metric}" if metric else ""))
    adjusted = with_holm([r.comparison for r in rows])
    return [Row(r.domain, r.metric, r.direction, c) for r, c in zip(rows, adjusted)], notes


def _g(x: float, digits: int = 4) -> str:
    if x is None or math.isnan(x):
        return "–"
    return f"{x:.{digits}g}"


def _p(x: float) -> str:
    if math.isnan(x):
        return "–"
    return "<1e-4" if x < 1e-4 else f"{x:.4f}"


def format_comparison(rows: list[Row], notes: list[str], a: str, b: str) -> str:
    """Plain-text table of :func:`compare_vocoders`' rows, the rules used, and the notes."""
    first = rows[0].comparison
    head = ["domain", "metric", "n", f"mean {a}", f"mean {b}", "diff (A-B)", "95% CI", "stat", "p", "p Holm",
            first.effect_name, "better"]
    table = [head]
    for r in rows:
        c = r.comparison
        arrow = "↓" if r.direction == "lower" else "↑"
        table.append([r.domain, f"{metric_title(r.metric)} {arrow}", str(c.n), _g(c.mean_a), _g(c.mean_b),
                      _g(c.mean_diff, 3), f"[{_g(c.ci_low, 3)}, {_g(c.ci_high, 3)}]", _g(c.statistic),
                      _p(c.p), _p(c.p_holm), _g(c.effect_size, 2), c.better or "–"])
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    right = set(range(2, len(head) - 1))
    lines = ["  ".join(cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in
                       enumerate(zip(row, widths))).rstrip() for row in table]
    if first.test == "wilcoxon":
        test = (f"Wilcoxon signed-rank, two-sided (zero differences dropped; exact p up to {EXACT_MAX_N} non-zero "
                "differences, conditional on ties; normal approximation above); stat = min(T+, T-); "
                f"rank-biserial r = (T+ - T-)/(T+ + T-), > 0: {a} higher")
    else:
        test = f"paired t, two-sided; Cohen's d_z = mean(A-B)/sd(A-B), > 0: {a} higher"
    lines += ["", f"A = {a}, B = {b}. Test: {test}.",
              f"p Holm: Holm-corrected across the {len(rows)} comparison(s) printed; better: Holm p < "
              f"{first.alpha:g}, by the metric's direction (↓ lower is better, ↑ higher), else –.",
              f"95% CI: percentile bootstrap of the mean of A-B over clips "
              f"({max(r.comparison.n_boot for r in rows)} resamples, seed {first.seed}; none for n < 2)."]
    extra = [f"{r.domain} {metric_title(r.metric)}: {r.comparison.note}" for r in rows if r.comparison.note]
    if notes or extra:
        lines += ["", "Notes:"] + [f"- {x}" for x in notes + extra]
    return "\n".join(lines)


def compare_run(run: str | Path, a: str, b: str, **kw) -> tuple[list[Row], list[str]]:
    """:func:`compare_vocoders` on the run folder ``run`` (read-only), metrics in the run's order."""
    from bench.results.frame import from_store
    from bench.results.store import ResultsStore

    with ResultsStore.open_readonly(run) as store:
        df = from_store(store)
        order = list(store.config().get("metrics", []))
    return compare_vocoders(df, a, b, metric_order=order, **kw)
