"""A self-contained HTML report of a run: tables, plots, per-clip values with audio players, failures, config."""

from __future__ import annotations

import base64
import html
import json
import math
from collections import defaultdict
from pathlib import Path

from bench.results.plots import metric_boxplots
from bench.results.store import ResultsStore
from bench.results.tables import Table, _fmt, _is_best, build_tables

_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1200px;color:#222;padding:0 1rem}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}th,td{padding:.25rem .6rem;border-bottom:1px solid #ddd;
text-align:right}th:first-child,td:first-child{text-align:left}th{background:#f4f4f4}
.plots img{max-width:48%;margin:.3rem}audio{height:28px;width:180px}details{margin:.5rem 0}
code,pre{background:#f6f6f6;padding:.1rem .3rem}pre{padding:.6rem;overflow:auto;max-height:24rem}
.bad{color:#a00}
"""


def _table_html(t: Table) -> str:
    head = "".join(f"<th>{html.escape(c.title)}</th>" for c in t.columns)
    rows = []
    for r in t.rows:
        cells = []
        for c in t.columns:
            mean, ci = _fmt(t.cells[r].get(c.key), c.key)
            text = f"{mean} ± {ci}" if ci else mean
            cells.append(f"<td>{'<b>' + text + '</b>' if _is_best(t, c, r) else text}</td>")
        rows.append(f"<tr><td>{html.escape(r)}</td>{''.join(cells)}</tr>")
    return f"<h3>{html.escape(t.domain)}</h3><table><tr><th>Vocoder</th>{head}</tr>{''.join(rows)}</table>"


def write_report(run_dir: Path, out: Path | None = None) -> Path:
    """Write ``report.html`` (plots embedded; audio linked relative to the run directory)."""
    run_dir = Path(run_dir)
    out = out or run_dir / "report.html"
    with ResultsStore.open(run_dir) as store:
        tables = build_tables(store, rtf=True)
        plots = metric_boxplots(store, run_dir / "plots")
        scores, clips, renders = store.scores(), store.clips(), store.renders()
        failures, config = store.failures(), store.config()
        env = store.get_meta("environment", {})
    metrics = list(dict.fromkeys(s["metric"] for s in scores))
    per: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for s in scores:
        per[(s["clip_id"], s["vocoder"])][s["metric"]] = s["value"]
    audio = {(r["clip_id"], r["vocoder"]): Path(r["path"]).relative_to(run_dir).as_posix() for r in renders}
    parts = [f"<!doctype html><meta charset=utf-8><title>bench report: {html.escape(run_dir.name)}</title>",
             f"<style>{_CSS}</style><h1>Run <code>{html.escape(str(run_dir))}</code></h1>",
             "<p>Copy-synthesis: each reference clip goes through each vocoder's own front-end and back; values are "
             "mean ± 95% CI over clips; best non-reference value in bold.</p><h2>Results</h2>"]
    parts += [_table_html(t) for t in tables]
    parts.append("<h2>Distributions</h2><div class=plots>")
    for p in plots:
        b64 = base64.b64encode(p.read_bytes()).decode()
        parts.append(f"<img alt='{html.escape(p.stem)}' src='data:image/png;base64,{b64}'>")
    parts.append("</div><h2>Per clip</h2>")
    vocoders = config.get("vocoders", [])
    for c in clips:
        if c["status"] != "ok":
            continue
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
        parts.append(f"<details><summary>{html.escape(c['clip_id'])} ({c['domain']}, {c['duration']:.1f} s)</summary>"
                     f"<table><tr><th>vocoder</th>{head}<th>audio</th></tr>{''.join(rows)}</table></details>")
    if failures:
        parts.append("<h2 class=bad>Failures</h2><table><tr><th>stage</th><th>vocoder</th><th>clip</th><th>metric</th>"
                     "<th>error</th></tr>")
        parts += [f"<tr><td>{f['stage']}</td><td>{html.escape(f['vocoder'])}</td><td>{html.escape(f['clip_id'])}</td>"
                  f"<td>{html.escape(f['metric'])}</td><td style='text-align:left'>{html.escape(f['error'])}</td></tr>"
                  for f in failures]
        parts.append("</table>")
    variants = {s["metric"]: s["variant"] for s in scores}
    parts.append("<h2>Configuration</h2><pre>" + html.escape(json.dumps(
        {"config": config, "metric_variants": variants, "environment": env}, indent=2, default=str)) + "</pre>")
    out.write_text("\n".join(parts))
    return out
