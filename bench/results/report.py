"""A self-contained HTML report of a run: tables, plots, per-clip values with audio players, reference warnings,
per-vocoder provenance, failures, config.

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
from bench.results.tables import Table, build_tables, caption, cell_text, notes

_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1200px;color:#222;padding:0 1rem}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}th,td{padding:.25rem .6rem;border-bottom:1px solid #ddd;
text-align:right}th:first-child,td:first-child{text-align:left}th{background:#f4f4f4}
.plots img{max-width:48%;margin:.3rem}audio{height:28px;width:180px}details{margin:.5rem 0}
code,pre{background:#f6f6f6;padding:.1rem .3rem}pre{padding:.6rem;overflow:auto;max-height:24rem}
.bad{color:#a00}.warn{color:#8a5a00}.note{font-size:.9em;color:#444}td.l{text-align:left}
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


def _rel(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()


def write_report(run_dir: Path, out: Path | None = None) -> Path:
    """Write the report to ``out`` (default ``run_dir/report.html``); returns its path.

    Raises BenchError, writing nothing, when the store has no value for the current selection."""
    run_dir = Path(run_dir)
    out = Path(out) if out else run_dir / "report.html"
    with ResultsStore.open_readonly(run_dir) as store:
        cover = coverage(store)
        covered = set(cover.ids())
        frame = from_store(store)  # the tables and plots are aggregations of the run's frame
        tables = build_tables(store, rtf=True, cover=cover, frame=frame)
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
             f"mean ± 95% CI over {html.escape(cover.describe())}; best complete non-reference value in bold.</p>"
             "<h2>Results</h2>"]
    parts += [_table_html(t) for t in tables]
    parts.append("<h2>Distributions</h2><div class=plots>")
    for name, png in plots:
        parts.append(f"<img alt='{html.escape(name)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>")
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
