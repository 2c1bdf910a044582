"""Paper-style result tables from a results store: per domain, vocoders as rows, metrics as columns.

A table covers the clips of the run's current selection (:mod:`bench.results.selection`). In each per-clip
column every row is averaged over the same clips: a row that lacks values on some of them (the vocoder or
the metric failed there, or it was never computed) shows its mean over the clips it has, marked with † and
``(n=k/N)``, is never bold, and the note under the table names what is missing. A failure is counted, not
dropped: it is why a row is marked, never a way to raise its mean.

Cells are mean ± 95% CI over clips; the best mean per column among complete non-reference rows is bold;
arrows give the direction. RTF is shown for vocoders only (the hidden reference and the anchors are signal
processing baselines, not timed synthesis). Rendered as Markdown, LaTeX (booktabs) and CSV.
"""

from __future__ import annotations

import csv
import functools
import io
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from bench.results.selection import Coverage, coverage
from bench.results.stats import Summary, summarize
from bench.results.store import ResultsStore

#: Column titles and directions of the paper's metrics (others use their name and the stored direction).
TITLES = {"mrstft": "MR-STFT", "mrmel": "MR-MEL", "cdpam": "CDPAM", "visqol": "ViSQOL", "mushra": "MUSHRA",
          "rtf": "RTF", "pesq": "PESQ", "periodicity": "Periodicity", "vuv_f1": "V/UV F1", "mcd": "MCD"}
DECIMALS = {"mrstft": 3, "mrmel": 3, "cdpam": 3, "visqol": 3, "mushra": 1, "rtf": 1,
            "pesq": 3, "periodicity": 4, "vuv_f1": 4, "mcd": 3}
MARK = "†"


@dataclass(frozen=True)
class Cell:
    """One table cell: ``summary`` over the clips with a value; for per-clip columns ``expected`` is the number of
    covered clips, ``failed``/``missing`` the covered clip ids whose value failed / was never computed.
    ``expected`` is None for precomputed columns (MUSHRA: n counts ratings, not clips)."""

    summary: Summary
    expected: int | None = None
    failed: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return self.expected is None or self.summary.n == self.expected

    @property
    def mean(self) -> float:
        return self.summary.mean


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
    """One domain's table: ``cells[vocoder][column] = Cell`` over the covered clips ``clips``."""

    domain: str
    columns: list[Column]
    rows: list[str]
    cells: dict[str, dict[str, Cell]] = field(default_factory=dict)
    clips: list[str] = field(default_factory=list)
    covers: str = ""  # plain-text phrase naming the covered clips (caption)

    def best(self, col: Column) -> float | None:
        means = [self.cells[r][col.key].mean for r in self.rows if _rankable(self, col, r)]
        if not means:
            return None
        return min(means) if col.direction == "lower" else max(means)

    def incomplete(self) -> list[tuple[str, Column, Cell]]:
        """(row, column, cell) of every marked cell, in table order."""
        return [(r, c, self.cells[r][c.key]) for r in self.rows for c in self.columns
                if c.key in self.cells[r] and not self.cells[r][c.key].complete]


def _is_bound(row: str) -> bool:
    # The hidden reference (the metrics' upper bound) and the MUSHRA anchors (low-pass references) are not
    # competitors: neither is ever the bold "best" (an anchor beat Griffin-Lim on speech CDPAM in the demo).
    return not is_timed(row)


def _rankable(t: Table, col: Column, row: str) -> bool:
    cell = t.cells[row].get(col.key)
    return (cell is not None and cell.complete and not math.isnan(cell.mean) and not _is_bound(row))


@functools.lru_cache(maxsize=1)
def _untimed() -> frozenset[str]:
    """Registered names that are not vocoders (family reference or anchor): they get no RTF."""
    from bench.vocoders.registry import vocoder_registry

    return frozenset(e.name for e in vocoder_registry() if e.family in ("reference", "anchor"))


def is_timed(vocoder: str) -> bool:
    """Whether ``vocoder``'s real-time factor is a synthesis speed worth reporting (not reference/anchors)."""
    return vocoder not in _untimed()


def _directions(store: ResultsStore, metrics: set[str]) -> dict[str, str]:
    out = {s["metric"]: s["variant"].get("direction", "lower") for s in store.scores()}
    unknown = metrics - set(out)
    if unknown:  # a metric that only failed: its direction from the registry
        from bench.metrics.registry import metric_registry

        reg = metric_registry()
        out.update({m: reg.get(m).direction for m in unknown if m in reg.names()})
    return out


def _cell(values: dict[str, float], failed: set[str], clips: list[str]) -> Cell:
    present = [c for c in clips if c in values]
    return Cell(summarize([values[c] for c in present]), len(clips),
                tuple(c for c in clips if c not in values and c in failed),
                tuple(c for c in clips if c not in values and c not in failed))


def build_tables(store: ResultsStore, *, rtf: bool = False,
                 extra: dict[str, dict[tuple[str, str], Summary]] | None = None,
                 extra_directions: dict[str, str] | None = None,
                 cover: Coverage | None = None) -> list[Table]:
    """Aggregate the store into one :class:`Table` per domain over the covered clips (plus extra columns).

    ``extra[column][(domain, vocoder)]`` adds a precomputed column (e.g. MUSHRA from a listening test).
    """
    cover = cover or coverage(store)
    covered = set(cover.ids())
    # values[(vocoder, metric)][clip] and failures: (vocoder, clip) of synthesis, (vocoder, clip, metric) of metrics
    synth_failed: dict[str, set[str]] = defaultdict(set)
    metric_failed: dict[tuple[str, str], set[str]] = defaultdict(set)
    failed_at: dict[tuple[str, str, str], float] = {}  # (vocoder, clip, metric or "") -> time of the failure
    for f in store.failures():
        if f["clip_id"] not in covered:
            continue
        if f["stage"] == "synthesis":
            synth_failed[f["vocoder"]].add(f["clip_id"])
            failed_at[(f["vocoder"], f["clip_id"], "")] = f["created"] or 0.0
        elif f["stage"] == "metric":
            metric_failed[(f["vocoder"], f["metric"])].add(f["clip_id"])
            failed_at[(f["vocoder"], f["clip_id"], f["metric"])] = f["created"] or 0.0
    values: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for s in store.scores():
        if s["clip_id"] not in covered:
            continue
        # A failure recorded after the value (a re-render or a new metric variant that failed) makes the value
        # stale: the cell counts the failure, not the old number.
        last_failure = max(failed_at.get((s["vocoder"], s["clip_id"], k), -math.inf) for k in ("", s["metric"]))
        if last_failure < (s["created"] or 0.0):
            values[(s["vocoder"], s["metric"])][s["clip_id"]] = s["value"]
    if rtf:
        for r in store.renders():
            if (r["clip_id"] in covered and r["rtf"] is not None and is_timed(r["vocoder"])
                    and failed_at.get((r["vocoder"], r["clip_id"], ""), -math.inf) < (r["created"] or 0.0)):
                values[(r["vocoder"], "rtf")][r["clip_id"]] = r["rtf"]

    metrics = {m for _, m in values} | {m for _, m in metric_failed}
    directions = _directions(store, metrics - {"rtf"})
    directions["rtf"] = "higher"
    config = store.config()
    metric_order = [m for m in config.get("metrics", []) if m in metrics and m in directions] + sorted(
        m for m in metrics if m not in config.get("metrics", []) and m != "rtf" and m in directions)
    if rtf:
        metric_order.append("rtf")
    vocoder_order = config.get("vocoders", [])
    keys = set(values) | set(metric_failed)  # (vocoder, metric) pairs with a value or a failure
    tables = []
    domains = sorted(set(cover.domains()) | {d for col in (extra or {}).values() for d, _ in col if d != "all"})
    for domain in domains:
        clips = cover.ids(domain)
        in_domain = set(clips)

        def has(v: str, m: str) -> bool:
            return bool(in_domain & (values.get((v, m), {}).keys() | metric_failed.get((v, m), set())))

        cols = [m for m in metric_order if m != "rtf" and any(has(v, m) for v, mm in keys if mm == m)]
        present = ({v for (v, m) in keys if m != "rtf" and has(v, m)}
                   | {v for v, cs in synth_failed.items() if cs & in_domain}
                   | {v for col in (extra or {}).values() for d, v in col if d == domain})
        if rtf and any(has(v, m) for v, m in values if m == "rtf"):  # only when a vocoder (not anchor) was timed
            cols.append("rtf")
            present |= {v for (v, m) in values if m == "rtf" and has(v, m)}
        if not present:
            continue
        rows = [v for v in vocoder_order if v in present] + sorted(present - set(vocoder_order))
        columns = [Column(m, directions[m]) for m in cols]
        columns += [Column(name, (extra_directions or {}).get(name, "higher")) for name in (extra or {})]
        t = Table(domain, columns, rows, clips=clips, covers=cover.describe(domain))
        for v in rows:
            t.cells[v] = {}
            for m in cols:
                if m == "rtf" and not is_timed(v):
                    continue
                failed = synth_failed.get(v, set()) | metric_failed.get((v, m), set())
                t.cells[v][m] = _cell(values.get((v, m), {}), failed, clips)
            for name, col in (extra or {}).items():
                if (domain, v) in col:
                    t.cells[v][name] = Cell(col[(domain, v)])
        tables.append(t)
    return tables


# -- text --------------------------------------------------------------------------------------------
def _fmt(s: Summary | Cell | None, key: str) -> tuple[str, str]:
    """(mean, ci) strings of a cell; ('–', '') when there is no value."""
    if isinstance(s, Cell):
        s = s.summary
    if s is None or math.isnan(s.mean):
        return "–", ""
    d = DECIMALS.get(key.partition("@")[0], 3)
    ci = "" if math.isnan(s.ci95) else f"{s.ci95:.{d}f}"
    return f"{s.mean:.{d}f}", ci


def _count(cell: Cell | None) -> str:
    """'' for complete cells, else '(n=k/N)'."""
    if cell is None or cell.complete:
        return ""
    return f"(n={cell.summary.n}/{cell.expected})"


def _is_best(t: Table, col: Column, row: str) -> bool:
    best = t.best(col)
    if best is None or not _rankable(t, col, row):
        return False
    d = DECIMALS.get(col.key.partition("@")[0], 3)
    return round(t.cells[row][col.key].mean, d) == round(best, d)


def caption(t: Table) -> str:
    """What the table averages (plain text)."""
    text = f"mean ± 95% CI over {t.covers}; best vocoder in bold; reference (upper bound) and anchors not ranked"
    if any(c.key == "rtf" for c in t.columns):
        text += "; RTF for vocoders only (reference and anchors are not timed)"
    return text


def notes(t: Table) -> list[str]:
    """One plain-text line per marked cell: which covered clips it lacks and why."""
    out = []
    for row, col, cell in t.incomplete():
        why = []
        if cell.failed:
            why.append(f"failed on {len(cell.failed)} ({', '.join(cell.failed)})")
        if cell.missing:
            why.append(f"not computed on {len(cell.missing)} ({', '.join(cell.missing)})")
        out.append(f"{row} {metric_title(col.key)}: {'; '.join(why)}")
    if out:
        out.insert(0, f"{MARK} mean over fewer clips than the column's (n = clips with a value / clips covered); "
                      "never bold:")
    return out


def cell_text(t: Table, col: Column, row: str) -> tuple[str, bool]:
    """Plain text of a cell ('0.512 ± 0.030', '0.512 ± 0.030 (n=9/10)†', '–') and whether it is bold."""
    cell = t.cells[row].get(col.key)
    mean, ci = _fmt(cell, col.key)
    text = f"{mean} ± {ci}" if ci else mean
    if cell is not None and not cell.complete:
        text += f" {_count(cell)}{MARK}"
    return text, _is_best(t, col, row)


def to_markdown(t: Table) -> str:
    head = f"**{t.domain}** ({caption(t)})\n\n"
    lines = ["| Vocoder | " + " | ".join(c.title for c in t.columns) + " |",
             "|---|" + "|".join("---:" for _ in t.columns) + "|"]
    for r in t.rows:
        cells = []
        for c in t.columns:
            text, bold = cell_text(t, c, r)
            cells.append(f"**{text}**" if bold else text)
        lines.append(f"| {r} | " + " | ".join(cells) + " |")
    foot = notes(t)
    return head + "\n".join(lines) + "\n" + ("\n" + "\n".join(f"{x}  " for x in foot) + "\n" if foot else "")


_LATEX = {"\\": r"\textbackslash{}", "_": r"\_", "&": r"\&", "%": r"\%", "#": r"\#", "$": r"\$", "{": r"\{",
          "}": r"\}", "^": r"\^{}", "~": r"\~{}", "±": r"$\pm$", MARK: r"\dag{}", "–": "--"}


def _latex_escape(s: str) -> str:
    return "".join(_LATEX.get(ch, ch) for ch in s)


def to_latex(t: Table) -> str:
    arrows = {"lower": r"$\downarrow$", "higher": r"$\uparrow$"}
    cols = " & ".join(f"{_latex_escape(metric_title(c.key))} {arrows[c.direction]}" for c in t.columns)
    out = [r"\begin{table}[t]", r"\centering", r"\begin{tabular}{l" + "c" * len(t.columns) + "}", r"\toprule",
           f"Vocoder & {cols} \\\\", r"\midrule"]
    for r in t.rows:
        cells = []
        for c in t.columns:
            cell = t.cells[r].get(c.key)
            mean, ci = _fmt(cell, c.key)
            m = "--" if mean == "–" else (rf"\textbf{{{mean}}}" if _is_best(t, c, r) else mean)
            text = f"{m} {{\\scriptsize $\\pm$ {ci}}}" if ci else m
            if cell is not None and not cell.complete:
                text += rf" {{\scriptsize $(n{{=}}{cell.summary.n}/{cell.expected})$}}\textsuperscript{{\dag}}"
            cells.append(text)
        out.append(f"{_latex_escape(r)} & " + " & ".join(cells) + r" \\")
    cap = _latex_escape(f"{t.domain.capitalize()}: {caption(t)}.")
    foot = notes(t)
    if foot:
        cap += " " + _latex_escape(" ".join(x.rstrip(":") + ("." if not x.endswith(":") else ":") for x in foot))
    out += [r"\bottomrule", r"\end{tabular}", rf"\caption{{{cap}}}", rf"\label{{tab:{_latex_escape(t.domain)}}}",
            r"\end{table}"]
    return "\n".join(out) + "\n"


def to_csv(tables: list[Table]) -> str:
    """One line per cell; ``n`` clips with a value, ``n_covered`` clips the column covers (empty for columns
    that are not per clip), ``n_failed`` covered clips whose value failed, ``complete`` n == n_covered."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["domain", "vocoder", "metric", "direction", "mean", "ci95", "std", "n", "n_covered", "n_failed",
                "complete", "best"])
    for t in tables:
        for r in t.rows:
            for c in t.columns:
                cell = t.cells[r].get(c.key)
                if cell is None:
                    continue
                s = cell.summary
                w.writerow([t.domain, r, c.key, c.direction, repr(s.mean), repr(s.ci95), repr(s.std), s.n,
                            "" if cell.expected is None else cell.expected, len(cell.failed), int(cell.complete),
                            int(_is_best(t, c, r))])
    return buf.getvalue()


def render(tables: list[Table], fmt: str) -> str:
    """All tables in one format: "md", "tex" or "csv"."""
    if fmt == "csv":
        return to_csv(tables)
    return "\n".join((to_markdown if fmt == "md" else to_latex)(t) for t in tables)


def write_tables(tables: list[Table], out_dir: Path) -> dict[str, Path]:
    """Write ``table.md``, ``table.tex`` and ``table.csv`` into ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"md": out_dir / "table.md", "tex": out_dir / "table.tex", "csv": out_dir / "table.csv"}
    for fmt, path in paths.items():
        path.write_text(render(tables, fmt))
    return paths
