"""Paper-style result tables from a results store: per domain, vocoders as rows, metrics as columns.

Cells are mean ± 95% CI over clips; the best mean per column is bold; arrows give the direction.
Rendered as Markdown, LaTeX (booktabs) and CSV.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from bench.results.stats import Summary, summarize
from bench.results.store import ResultsStore

#: Column titles and directions of the paper's metrics (others use their name and the stored direction).
TITLES = {"mrstft": "MR-STFT", "mrmel": "MR-MEL", "cdpam": "CDPAM", "visqol": "ViSQOL", "mushra": "MUSHRA",
          "rtf": "RTF"}
DECIMALS = {"mrstft": 3, "mrmel": 3, "cdpam": 3, "visqol": 3, "mushra": 1, "rtf": 1}
#: Paper-comparable metric variants are stored as ``metric@variant`` (one column each, never mixed).
VARIANT_TITLES = {"discoder": "DisCoder", "dac": "DAC", "bigvgan": "BigVGAN"}


def metric_title(key: str) -> str:
    """Column title of a metric key, e.g. "MR-STFT" or, for ``mrstft@discoder``, "MR-STFT (DisCoder)"."""
    base, _, variant = key.partition("@")
    title = TITLES.get(base, base)
    return f"{title} ({VARIANT_TITLES.get(variant, variant)})" if variant else title


@dataclass
class Column:
    key: str
    direction: str  # "lower" | "higher"

    @property
    def title(self) -> str:
        return f"{metric_title(self.key)} {'↓' if self.direction == 'lower' else '↑'}"


@dataclass
class Table:
    """One domain's table: ``cells[vocoder][column] = Summary``."""

    domain: str
    columns: list[Column]
    rows: list[str]
    cells: dict[str, dict[str, Summary]] = field(default_factory=dict)

    def best(self, col: Column) -> float | None:
        means = [self.cells[r][col.key].mean for r in self.rows if col.key in self.cells[r]
                 and not math.isnan(self.cells[r][col.key].mean) and not _is_bound(r)]
        if not means:
            return None
        return min(means) if col.direction == "lower" else max(means)


def _is_bound(row: str) -> bool:
    # The hidden reference is the metrics' upper bound, not a competitor: it is never the bold "best".
    return row == "reference"


def build_tables(store: ResultsStore, *, rtf: bool = False,
                 extra: dict[str, dict[tuple[str, str], Summary]] | None = None,
                 extra_directions: dict[str, str] | None = None) -> list[Table]:
    """Aggregate the store into one :class:`Table` per domain (plus extra columns such as MUSHRA).

    ``extra[column][(domain, vocoder)]`` adds a precomputed column (e.g. MUSHRA from a listening test).
    """
    values: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    directions: dict[str, str] = {}
    for s in store.scores():
        values[(s["domain"], s["vocoder"], s["metric"])].append(s["value"])
        directions[s["metric"]] = s["variant"].get("direction", "lower")
    if rtf:
        for r in store.renders():
            if r["rtf"] is not None:
                values[(r["domain"], r["vocoder"], "rtf")].append(r["rtf"])
        directions["rtf"] = "higher"
    config = store.config()
    metric_order = [m for m in config.get("metrics", []) if m in directions] + sorted(
        m for m in directions if m not in config.get("metrics", []) and m != "rtf")
    if rtf:
        metric_order.append("rtf")
    vocoder_order = config.get("vocoders", [])
    tables = []
    domains = sorted({d for d, _, _ in values} | {d for col in (extra or {}).values() for d, _ in col if d != "all"})
    for domain in domains:
        cols = [Column(m, directions[m]) for m in metric_order if any(k[0] == domain and k[2] == m for k in values)]
        for name, col in (extra or {}).items():
            cols.append(Column(name, (extra_directions or {}).get(name, "higher")))
        present = {v for d, v, _ in values if d == domain} | {v for col in (extra or {}).values()
                                                              for d, v in col if d == domain}
        rows = [v for v in vocoder_order if v in present] + sorted(present - set(vocoder_order))
        t = Table(domain, cols, rows)
        for v in rows:
            t.cells[v] = {}
            for m in metric_order:
                if (domain, v, m) in values:
                    t.cells[v][m] = summarize(values[(domain, v, m)])
            for name, col in (extra or {}).items():
                if (domain, v) in col:
                    t.cells[v][name] = col[(domain, v)]
        tables.append(t)
    return tables


def _fmt(s: Summary | None, key: str) -> tuple[str, str]:
    if s is None or math.isnan(s.mean):
        return "–", ""
    d = DECIMALS.get(key.partition("@")[0], 3)
    ci = "" if math.isnan(s.ci95) else f"{s.ci95:.{d}f}"
    return f"{s.mean:.{d}f}", ci


def _is_best(t: Table, col: Column, row: str) -> bool:
    s = t.cells[row].get(col.key)
    best = t.best(col)
    if s is None or best is None or _is_bound(row):
        return False
    d = DECIMALS.get(col.key.partition("@")[0], 3)
    return round(s.mean, d) == round(best, d)


def to_markdown(t: Table) -> str:
    n = max((s.n for r in t.rows for s in t.cells[r].values()), default=0)
    head = f"**{t.domain}** (mean ± 95% CI over up to {n} clips; best in bold; reference = upper bound)\n\n"
    lines = ["| Vocoder | " + " | ".join(c.title for c in t.columns) + " |",
             "|---|" + "|".join("---:" for _ in t.columns) + "|"]
    for r in t.rows:
        cells = []
        for c in t.columns:
            mean, ci = _fmt(t.cells[r].get(c.key), c.key)
            text = f"{mean} ± {ci}" if ci else mean
            cells.append(f"**{text}**" if _is_best(t, c, r) else text)
        lines.append(f"| {r} | " + " | ".join(cells) + " |")
    return head + "\n".join(lines) + "\n"


def _latex_escape(s: str) -> str:
    return s.replace("\\", r"\textbackslash{}").replace("_", r"\_").replace("&", r"\&").replace("%", r"\%")


def to_latex(t: Table) -> str:
    arrows = {"lower": r"$\downarrow$", "higher": r"$\uparrow$"}
    cols = " & ".join(f"{_latex_escape(metric_title(c.key))} {arrows[c.direction]}" for c in t.columns)
    out = [r"\begin{table}[t]", r"\centering", r"\begin{tabular}{l" + "c" * len(t.columns) + "}", r"\toprule",
           f"Vocoder & {cols} \\\\", r"\midrule"]
    for r in t.rows:
        cells = []
        for c in t.columns:
            mean, ci = _fmt(t.cells[r].get(c.key), c.key)
            if mean == "–":
                cells.append("--")
                continue
            m = rf"\textbf{{{mean}}}" if _is_best(t, c, r) else mean
            cells.append(f"{m} {{\\scriptsize $\\pm$ {ci}}}" if ci else m)
        out.append(f"{_latex_escape(r)} & " + " & ".join(cells) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}",
            rf"\caption{{{_latex_escape(t.domain.capitalize())}: mean $\pm$ 95\% CI over clips; best in bold.}}",
            rf"\label{{tab:{_latex_escape(t.domain)}}}", r"\end{table}"]
    return "\n".join(out) + "\n"


def to_csv(tables: list[Table]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["domain", "vocoder", "metric", "direction", "mean", "ci95", "std", "n", "best"])
    for t in tables:
        for r in t.rows:
            for c in t.columns:
                s = t.cells[r].get(c.key)
                if s is None:
                    continue
                w.writerow([t.domain, r, c.key, c.direction, repr(s.mean), repr(s.ci95), repr(s.std), s.n,
                            int(_is_best(t, c, r))])
    return buf.getvalue()


def write_tables(tables: list[Table], out_dir: Path) -> dict[str, Path]:
    """Write ``table.md``, ``table.tex`` and ``table.csv`` into ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"md": out_dir / "table.md", "tex": out_dir / "table.tex", "csv": out_dir / "table.csv"}
    paths["md"].write_text("\n".join(to_markdown(t) for t in tables))
    paths["tex"].write_text("\n".join(to_latex(t) for t in tables))
    paths["csv"].write_text(to_csv(tables))
    return paths
