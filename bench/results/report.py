"""A self-contained HTML report of a run: tables, comparison matrices, plots, per-clip values with audio players,
reference warnings, per-vocoder provenance, failures, config; with a listening test (``mushra=``) also the MUSHRA
column and the listener-agreement section (which metric agrees with the listeners, :mod:`mushra.correlate`).

The report reads the store read-only and covers the clips of the run's current selection, like the tables.
It writes one file, ``report.html`` in the run folder unless another path is given (plots are embedded); a
store without any value for the selection is an error and nothing is written.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import sqlite3
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.results.frame import from_store
from bench.results.plots import metric_boxplot_pngs
from bench.results.selection import coverage
from bench.results.store import ResultsStore
from bench.results.tables import Table, _directions, build_tables, caption, cell_text, notes

_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1200px;color:#222;padding:0 1rem}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}th,td{padding:.25rem .6rem;border-bottom:1px solid #ddd;
text-align:right}th:first-child,td:first-child{text-align:left}th{background:#f4f4f4}
.plots img{max-width:48%;margin:.3rem}audio{height:28px;width:180px}details{margin:.5rem 0}
code,pre{background:#f6f6f6;padding:.1rem .3rem}pre{padding:.6rem;overflow:auto;max-height:24rem}
.bad{color:#a00}.warn{color:#8a5a00}.note{font-size:.9em;color:#444}td.l{text-align:left}
table.matrix td{text-align:center;font-variant-numeric:tabular-nums}table.matrix td.win{background:#e3f4e3}
table.matrix td.loss{background:#fbe3e3}table.matrix td.tie{color:#555}table.matrix td.self{background:#f4f4f4}
table.matrix td:first-child{text-align:left}table.agreement td.l,table.agreement th:nth-child(2){text-align:left}
.matrices{display:flex;flex-wrap:wrap;gap:0 2rem}.matrices>div{min-width:0;overflow-x:auto}
.scatter img{max-width:100%}
"""

#: Render columns that say how a render was made, for stores without per-render provenance records.
_RENDER_COLUMNS = ("config_hash", "device", "precision")


def _table_html(t: Table) -> str:
    head = "".join(f"<th>{html.escape(c.title)}</th>" for c in t.columns)
    rows = []
    for r in t.rows:
        cells = []
        for c in t.columns:
            text, bold = cell_text(t, c, r)
            cells.append(f"<td>{'<b>' + html.escape(text) + '</b>' if bold else html.escape(text)}</td>")
        rows.append(f"<tr><td>{html.escape(r)}</td>{''.join(cells)}</tr>")
    foot = "".join(f"<div class=note>{html.escape(x)}</div>" for x in notes(t))
    return (f"<h3>{html.escape(t.domain)}</h3><p class=note>{html.escape(caption(t))}</p>"
            f"<table><tr><th>Vocoder</th>{head}</tr>{''.join(rows)}</table>{foot}")


def _provenance_groups(store: ResultsStore, renders: list[dict[str, Any]],
                       clip_ids: list[str]) -> tuple[dict[str, dict[str, Any]], bool]:
    """Per vocoder, the distinct provenances of its covered renders and values, and whether the store records
    provenance. Stores with provenance records answer :meth:`ResultsStore.provenance`
    (``{vocoder: {"render": [{"provenance": dict | None, "clips": n}], "metrics": {metric: [group]}}}``);
    older ones are grouped by the render columns that say how each render was made."""
    api = getattr(store, "provenance", None)
    if callable(api):
        try:
            return api(clip_ids), True
        except sqlite3.OperationalError:  # a store written before provenance tables existed (read, not migrated)
            pass
    out: dict[str, dict[str, Any]] = {}
    for r in renders:
        prov = {k: r[k] for k in _RENDER_COLUMNS if k in r}
        groups = out.setdefault(r["vocoder"], {"render": [], "metrics": {}})["render"]
        for g in groups:
            if g["provenance"] == prov:
                g["clips"] += 1
                break
        else:
            groups.append({"provenance": prov, "clips": 1})
    return out, False


def _groups_html(groups: list[dict[str, Any]]) -> str:
    parts = []
    for g in groups:
        n = g["clips"]
        body = ("not recorded (written before provenance was stored)" if g["provenance"] is None
                else json.dumps(g["provenance"], indent=2, sort_keys=True, default=str))
        parts.append(f"<p class=note>{n} clip{'s' if n != 1 else ''}</p><pre>{html.escape(body)}</pre>")
    return "".join(parts)


def _provenance_html(groups: dict[str, dict[str, Any]], recorded: bool, vocoders: list[str]) -> str:
    """Per vocoder: each distinct way its covered renders (and values) were made, with the number of clips."""
    parts = ["<h2>Provenance per vocoder</h2>"]
    if not recorded:
        parts.append("<p class=note>This store records no per-render provenance (vocoder parameters, weights hash, "
                     "package versions, commit): it predates it. Shown: the render key, device and precision of each "
                     "render.</p>")
    order = [v for v in vocoders if v in groups] + sorted(set(groups) - set(vocoders))
    for v in order:
        render, metrics = groups[v].get("render", []), groups[v].get("metrics", {})
        mixed = (f" <span class=warn>renders from {len(render)} different configurations</span>"
                 if len(render) > 1 else "")
        parts.append(f"<h3>{html.escape(v)}{mixed}</h3>{_groups_html(render)}")
        for m, mgroups in metrics.items():
            differ = f", <span class=warn>{len(mgroups)} different</span>" if len(mgroups) > 1 else ""
            parts.append(f"<details><summary>{html.escape(m)} values: provenance{differ}</summary>"
                         f"{_groups_html(mgroups)}</details>")
    return "\n".join(parts)


def _png(png: bytes, alt: str) -> str:
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"


def _matrix_values(frame: Any, covered: set[str]) -> dict[tuple[str, str], dict[str, dict[str, float]]]:
    """{(domain, metric): {vocoder: {clip: value}}} of the values the tables average (counted) on the covered
    clips, vocoders only (the hidden reference and the anchors are bounds, not competitors: never compared)."""
    from bench.results.tables import is_timed

    rows = frame[(frame["kind"] == "value") & frame["counted"] & frame["clip"].isin(covered)
                 & frame["vocoder"].map(is_timed)]
    out: dict[tuple[str, str], dict[str, dict[str, float]]] = {}
    for (domain, metric, vocoder), g in rows.groupby(["domain", "metric", "vocoder"], sort=False):
        out.setdefault((domain, metric), {})[vocoder] = dict(zip(g["clip"], g["value"].astype(float)))
    return out


def _matrix_html(metric: str, direction: str, vocoders: list[str], comps: list[Any]) -> str:
    """Row vocoder vs column vocoder: mean paired difference row - column, green where the row is significantly
    better (Holm-corrected), red where significantly worse; p values and effect sizes in the tooltips."""
    from bench.results.tables import DECIMALS, metric_title

    by = {(c.a, c.b): c for c in comps}
    d = DECIMALS.get(metric.partition("@")[0], 3)
    head = "".join(f"<th>{html.escape(v)}</th>" for v in vocoders)
    rows = []
    for a in vocoders:
        cells = []
        for b in vocoders:
            if a == b:
                cells.append("<td class=self>–</td>")
                continue
            c, flip = (by[(a, b)], 1.0) if (a, b) in by else (by.get((b, a)), -1.0)
            if c is None or math.isnan(c.p):   # untested (e.g. no clip in common): not a tie
                why = html.escape(c.note) if c is not None else "not compared"
                cells.append(f"<td class=tie title='{why}'>n/a</td>")
                continue
            diff = flip * c.mean_diff
            diff = 0.0 if round(diff, d) == 0 else diff   # no "-0.000"
            lo, hi = sorted((flip * c.ci_low, flip * c.ci_high))
            cls, mark = "tie", "="
            if c.significant and c.better:
                cls, mark = ("win", "▲") if c.better == a else ("loss", "▼")
            tip = (f"{a} - {b}: mean difference {diff:+.{d}f} (95% CI {lo:+.{d}f} to {hi:+.{d}f}), {c.test} p = "
                   f"{c.p:.3g}, Holm p = {c.p_holm:.3g}, {c.effect_name} = {c.effect_size:.2f}, n = {c.n} clips")
            cells.append(f"<td class={cls} title='{html.escape(tip)}'>{mark} {diff:+.{d}f}</td>")
        rows.append(f"<tr><td>{html.escape(a)}</td>{''.join(cells)}</tr>")
    arrow = "↓" if direction == "lower" else "↑"
    why = sorted({c.note for c in comps if c.note})
    foot = "".join(f"<div class=note>{html.escape(n)}</div>" for n in why)
    return (f"<div><h4>{html.escape(metric_title(metric))} {arrow}</h4><table class=matrix><tr><th>row vs column</th>"
            f"{head}</tr>{''.join(rows)}</table>{foot}</div>")


def _matrices_html(frame: Any, covered: set[str], order: list[str]) -> str:
    """The comparison matrices, one per domain and metric (pairwise paired tests over clips, Holm-corrected)."""
    from bench.results.significance import pairwise

    parts = ["<h2>Comparison matrices</h2><p class=note>Each cell: mean paired difference row − column over the "
             "clips both have (Wilcoxon signed-rank test over clips, Holm-corrected across the pairs of one matrix, "
             "α = 0.05): ▲ green = the row vocoder is significantly better, ▼ red = significantly worse, = no "
             "significant difference (for ↓ metrics a negative difference favours the row). Hover a cell for the p "
             "values, effect size and the bootstrap 95% CI. The hidden reference and the anchors are not compared.</p>"]
    values = _matrix_values(frame, covered)
    directions = _directions(frame, {m for _, m in values})  # as the tables take them (stored, else registry)
    shown = 0
    for domain in sorted({d for d, _ in values}):
        blocks = []
        for (dom, metric), per in values.items():
            names = [v for v in order if v in per] + sorted(set(per) - set(order))
            if dom != domain or len(names) < 2:
                continue
            higher = directions.get(metric, "lower") == "higher"
            comps = pairwise({v: per[v] for v in names}, higher_is_better=higher)
            blocks.append(_matrix_html(metric, directions.get(metric, "lower"), names, comps))
        if blocks:
            shown += len(blocks)
            parts.append(f"<h3>{html.escape(domain)}</h3><div class=matrices>{''.join(blocks)}</div>")
    if not shown:
        parts.append("<p class=note>No matrix: fewer than two vocoders have values in any domain.</p>")
    return "\n".join(parts)


def _agreement_html(run_dir: Path, test_dir: Path) -> str:
    """The listener-agreement section: correlation of each metric with the test's MUSHRA scores, scatter plots and
    the score distributions; a one-line reason instead when it cannot be computed."""
    from mushra.analysis import TestResults, box_plot_png
    from mushra.correlate import METHODS, correlate, method_text, metric_label, metrics_of, notes_of, scatter_png

    parts = [f"<h2>Which metric agrees with listeners</h2><p class=note>Listening test "
             f"<code>{html.escape(str(test_dir))}</code>.</p>"]
    try:
        ag = correlate(test_dir, run_dir)
    except BenchError as err:
        return parts[0] + f"<p class=bad>Not computed: {html.escape(' '.join(str(err).split()))}</p>"
    parts += [f"<p class=note>{html.escape(t)}</p>" for t in method_text(ag)]
    for domain in ag.domains():
        rows = ag.rows(domain)
        lines = []
        for metric, level in dict.fromkeys((c.metric, c.level) for c in rows):
            cs = {c.method: c for c in rows if c.metric == metric and c.level == level}
            cells = []
            for m in METHODS:
                c = cs[m]
                if math.isnan(c.r):
                    cells.append(f"<td title='{html.escape(c.note)}'>n/a</td>")
                else:
                    ci = ("" if math.isnan(c.ci_low)
                          else f" <span class=note>[{c.ci_low + 0.0:+.2f}, {c.ci_high + 0.0:+.2f}]</span>")
                    cells.append(f"<td>{c.r + 0.0:+.2f}{ci}</td>")
            first = cs["pearson"]
            lines.append(f"<tr><td>{html.escape(metric_label(metric, first.direction))}</td><td class=l>{level}</td>"
                         f"<td>{first.n}</td>{''.join(cells)}</tr>")
        parts.append(f"<h3>{html.escape(domain)}</h3><table class=agreement><tr><th>metric</th><th>level</th>"
                     "<th>n</th><th>Pearson</th><th>Spearman</th><th>Kendall</th></tr>" + "".join(lines) + "</table>")
    parts += [f"<div class=note>{html.escape(n)}</div>" for n in notes_of(ag)]
    parts.append("<h3>Scatter plots</h3><div class=scatter>")
    parts += [_png(scatter_png(ag, m), f"scatter {m}") for m in metrics_of(ag)]
    parts.append("</div><h3>MUSHRA scores</h3><div class=scatter>")
    parts.append(_png(box_plot_png(TestResults.load(test_dir)), "MUSHRA scores per condition"))
    parts.append("</div>")
    return "\n".join(parts)


def _rel(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()


def write_report(run_dir: Path, out: Path | None = None, *, mushra: Path | None = None,
                 mushra_column: dict[tuple[str, str], Any] | None = None,
                 mushra_marks: dict[str, Any] | None = None) -> Path:
    """Write the report to ``out`` (default ``run_dir/report.html``); returns its path.

    ``mushra``: a listening test folder built from this run; adds the listener-agreement section.
    ``mushra_column``: its MUSHRA means as a table column, ``{(domain, condition): Summary}``; ``mushra_marks``
    the column's significance marks (``{domain: Tested}``, as ``bench table --mushra``).

    Raises BenchError, writing nothing, when the store has no value for the current selection."""
    run_dir = Path(run_dir)
    out = Path(out) if out else run_dir / "report.html"
    extra = {"mushra": mushra_column} if mushra_column else None
    with ResultsStore.open_readonly(run_dir) as store:
        cover = coverage(store)
        covered = set(cover.ids())
        frame = from_store(store)  # the tables and plots are aggregations of the run's frame
        tables = build_tables(store, rtf=True, cover=cover, frame=frame, extra=extra,
                              extra_directions={"mushra": "higher"},
                              extra_tests={"mushra": mushra_marks} if extra and mushra_marks else None)
        scores = frame[(frame["kind"] == "value") & frame["latest_variant"] & frame["clip"].isin(covered)]
        if scores.empty:
            raise BenchError(f"{run_dir}: no values stored for the current selection; no report written")
        plots = metric_boxplot_pngs(store, cover, frame=frame)
        renders = [r for r in store.renders() if r["clip_id"] in covered]
        provenance, recorded = _provenance_groups(store, renders, cover.ids())
        selected = covered | {c["clip_id"] for c in cover.skipped} | set(cover.unprepared)
        failures = [f for f in store.failures() if f["clip_id"] in selected or not f["clip_id"]]
        config, env = store.config(), store.get_meta("environment", {})
    metrics = list(dict.fromkeys(scores["metric"]))
    per = {key: dict(zip(g["metric"], g["value"])) for key, g in scores.groupby(["clip", "vocoder"], sort=False)}
    base = out.resolve().parent
    audio = {(r["clip_id"], r["vocoder"]): _rel(Path(r["path"]).resolve(), base) for r in renders}
    parts = [f"<!doctype html><meta charset=utf-8><title>bench report: {html.escape(run_dir.name)}</title>",
             f"<style>{_CSS}</style><h1>Run <code>{html.escape(str(run_dir))}</code></h1>",
             "<p>Copy-synthesis: each reference clip goes through each vocoder's own front-end and back; values are "
             f"mean ± 95% CI over {html.escape(cover.describe())}; bold: the best vocoder and those not significantly "
             "worse than it (each table's caption gives the test).</p>"
             "<h2>Results</h2>"]
    parts += [_table_html(t) for t in tables]
    parts.append(_matrices_html(frame, covered, config.get("vocoders", [])))
    if mushra is not None:
        parts.append(_agreement_html(run_dir, Path(mushra)))
    parts.append("<h2>Distributions</h2><div class=plots>")
    parts += [_png(png, name) for name, png in plots]
    parts.append("</div>")
    warned = [(c, [str(w) for w in c["meta"].get("warnings") or []]) for c in cover.clips]
    warned = [(c, w) for c, w in warned if w]
    if warned:
        parts.append("<h2 class=warn>Reference warnings</h2><table><tr><th>clip</th><th>warning</th></tr>")
        parts += [f"<tr><td>{html.escape(c['clip_id'])}</td><td class=l>{html.escape(w)}</td></tr>"
                  for c, ws in warned for w in ws]
        parts.append("</table>")
    parts.append("<h2>Per clip</h2>")
    vocoders = list(dict.fromkeys([*config.get("vocoders", []), *sorted({v for _, v in per} | {v for _, v in audio})]))
    for c in cover.clips:
        rows = []
        for v in vocoders:
            vals = per.get((c["clip_id"], v), {})
            if not vals and (c["clip_id"], v) not in audio:
                continue
            player = (f"<audio controls preload=none src='{html.escape(audio[(c['clip_id'], v)])}'></audio>"
                      if (c["clip_id"], v) in audio else "")
            cells = "".join(f"<td>{vals[m]:.3f}</td>" if m in vals and not math.isnan(vals[m]) else "<td>–</td>"
                            for m in metrics)
            rows.append(f"<tr><td>{html.escape(v)}</td>{cells}<td>{player}</td></tr>")
        head = "".join(f"<th>{html.escape(m)}</th>" for m in metrics)
        ws = c["meta"].get("warnings") or []
        warn = f" <span class=warn>⚠ {html.escape('; '.join(str(w) for w in ws))}</span>" if ws else ""
        dur = f", {c['duration']:.1f} s" if c["duration"] is not None else ""
        parts.append(f"<details><summary>{html.escape(c['clip_id'])} ({html.escape(c['domain'])}{dur}){warn}</summary>"
                     f"<table><tr><th>vocoder</th>{head}<th>audio</th></tr>{''.join(rows)}</table></details>")
    parts.append(_provenance_html(provenance, recorded, config.get("vocoders", [])))
    if failures:
        parts.append("<h2 class=bad>Failures</h2><table><tr><th>stage</th><th>vocoder</th><th>clip</th><th>metric</th>"
                     "<th>error</th></tr>")
        parts += [f"<tr><td>{html.escape(f['stage'])}</td><td>{html.escape(f['vocoder'])}</td>"
                  f"<td>{html.escape(f['clip_id'])}</td><td>{html.escape(f['metric'])}</td>"
                  f"<td class=l>{html.escape(f['error'])}</td></tr>" for f in failures]
        parts.append("</table>")
    variants = dict(zip(scores["metric"], scores["variant"].map(json.loads)))
    parts.append("<h2>Configuration of the last run command</h2><pre>" + html.escape(json.dumps(
        {"config": config, "metric_variants": variants, "environment": env}, indent=2, default=str)) + "</pre>")
    out.write_text("\n".join(parts))
    return out
