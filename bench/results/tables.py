"""Paper-style result tables from a results store: per domain, vocoders as rows, metrics as columns.

A table covers the clips of the run's current selection (:mod:`bench.results.selection`). In each per-clip
column every row is averaged over the same clips: a row that lacks values on some of them (the vocoder or
the metric failed there, or it was never computed) shows its mean over the clips it has, marked with † and
``(n=k/N)``, is never bold, and the note under the table names what is missing. A failure is counted, not
dropped: it is why a row is marked, never a way to raise its mean.

Cells are mean ± 95% CI over clips; arrows give the direction. Bold marks, per metric column, the best
complete vocoder row (best mean) and every complete vocoder row that is not significantly worse than it: a
paired test over the table's clips (Wilcoxon signed-rank by default, :mod:`bench.results.significance`), Holm-
corrected across all comparisons with the best in that table (every metric column of the domain). † rows, the
hidden reference and the anchors are not tested and never bold. RTF is not tested (bold: fastest). A
precomputed column (MUSHRA) is marked by the comparisons given with it (per-assessor tests of the listening
test), else by its best mean. RTF is shown for vocoders only (the hidden reference and the anchors are signal
processing baselines, not timed synthesis). Rendered as Markdown, LaTeX (booktabs) and CSV.
"""

from __future__ import annotations

import csv
import functools
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bench.results.frame import from_store
from bench.results.significance import Comparison, compare_with_best, min_wilcoxon_p, \
    not_worse_than_best, with_holm
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


@dataclass(frozen=True)
class Tested:
    """Comparisons of one column's rows with its best row: ``comparisons[row]`` (a = row, b = best), Holm-adjusted
    across ``family`` comparisons (``scope`` names the family in the caption)."""

    best: str
    comparisons: dict[str, Comparison]
    family: int
    scope: str  # "table" (the metric columns' family), else the caption's phrase for this column


@dataclass
class Table:
    """One domain's table: ``cells[vocoder][column] = Cell`` over the covered clips ``clips``."""

    domain: str
    columns: list[Column]
    rows: list[str]
    cells: dict[str, dict[str, Cell]] = field(default_factory=dict)
    clips: list[str] = field(default_factory=list)
    covers: str = ""  # plain-text phrase naming the covered clips (caption)
    #: per-clip values of the complete cells: values[(row, column)] = {clip: value}
    values: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)
    #: significance marks per column key (metric columns and precomputed columns given with comparisons)
    tests: dict[str, Tested] = field(default_factory=dict)
    test: str = "wilcoxon"
    alpha: float = 0.05

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


def _directions(frame: pd.DataFrame, metrics: set[str]) -> dict[str, str]:
    """Direction of each metric: of its latest stored variant (default "lower"), else from the registry."""
    v = frame[(frame["kind"] == "value") & frame["latest_variant"]]
    out = dict(zip(v["metric"], v["direction"].fillna("lower")))  # in store order: the last one wins
    unknown = metrics - set(out)
    if unknown:  # a metric that only failed: its direction from the registry
        from bench.metrics.registry import metric_registry

        reg = metric_registry()
        out.update({m: reg.get(m).direction for m in unknown if m in reg.names()})
    return out


def _clip_sets(rows: pd.DataFrame, by: list[str]) -> dict[Any, set[str]]:
    """{group key: set of clip ids} of ``rows`` grouped by ``by``."""
    return rows.groupby(by, sort=False)["clip"].agg(set).to_dict() if len(rows) else {}


def build_tables(store: ResultsStore, *, rtf: bool = False,
                 extra: dict[str, dict[tuple[str, str], Summary]] | None = None,
                 extra_directions: dict[str, str] | None = None,
                 cover: Coverage | None = None, frame: pd.DataFrame | None = None,
                 extra_tests: dict[str, dict[str, Tested]] | None = None,
                 test: str = "wilcoxon", alpha: float = 0.05) -> list[Table]:
    """Aggregate the store into one :class:`Table` per domain over the covered clips (plus extra columns).

    The values, renders and failures come from ``frame`` (:func:`bench.results.frame.from_store` of ``store``
    unless given); the store gives the run's config (row and column order) and, unless given, the coverage.
    ``extra[column][(domain, vocoder)]`` adds a precomputed column (e.g. MUSHRA from a listening test);
    ``extra_tests[column][domain]`` its comparisons with the best, which mark it. Metric columns are tested with
    ``test`` at level ``alpha`` (:func:`mark_table`).
    """
    cover = cover or coverage(store)
    frame = frame if frame is not None else from_store(store)
    order = {c: i for i, c in enumerate(cover.ids())}  # covered clips, in selection order
    f = frame[frame["clip"].isin(order.keys()) & frame["latest_variant"]]
    # failures: (vocoder, clip) of synthesis, (vocoder, metric, clip) of metrics; a failure written after a value
    # or render made it stale (frame column), so the cell counts the failure, not the old number
    fails = f[f["kind"] == "failure"]
    synth_failed = _clip_sets(fails[fails["stage"] == "synthesis"], ["vocoder"])
    metric_failed = _clip_sets(fails[fails["stage"] == "metric"], ["vocoder", "metric"])
    counted = f[(f["kind"] == "value") & ~f["stale"]][["vocoder", "metric", "clip", "domain", "value"]]
    if rtf:
        timed = f[(f["kind"] == "render") & ~f["stale"] & f["rtf"].notna() & f["vocoder"].map(is_timed)]
        counted = pd.concat([counted, timed.assign(metric="rtf", value=timed["rtf"])[counted.columns]])
    counted = counted.assign(pos=counted["clip"].map(order)).sort_values("pos", kind="stable")
    # values[(domain, vocoder, metric)]: per-clip values in selection order; clips_with[...]: their clips
    cell_key = ["domain", "vocoder", "metric"]
    values = counted.groupby(cell_key, sort=False)["value"].agg(list).to_dict() if len(counted) else {}
    clips_with = _clip_sets(counted, cell_key)
    per_clip: dict[tuple[str, str, str], dict[str, float]] = {}
    for d, v, m, c, x in counted[[*cell_key, "clip", "value"]].itertuples(index=False):
        per_clip.setdefault((d, v, m), {})[c] = x

    metrics = {m for _, _, m in values} | {m for _, m in metric_failed}
    directions = _directions(frame, metrics - {"rtf"})
    directions["rtf"] = "higher"
    config = store.config()
    metric_order = [m for m in config.get("metrics", []) if m in metrics and m in directions] + sorted(
        m for m in metrics if m not in config.get("metrics", []) and m != "rtf" and m in directions)
    if rtf:
        metric_order.append("rtf")
    vocoder_order = config.get("vocoders", [])
    # per domain: the (vocoder, metric) pairs with a value or a failure, the vocoders with a synthesis failure
    pairs = pd.concat([counted[cell_key], fails[fails["stage"] == "metric"][cell_key]])
    has_by_domain = {d: set(zip(g["vocoder"], g["metric"])) for d, g in pairs.groupby("domain")}
    synth_by_domain = {d: set(g["vocoder"]) for d, g in fails[fails["stage"] == "synthesis"].groupby("domain")}
    tables = []
    domains = sorted(set(cover.domains()) | {d for col in (extra or {}).values() for d, _ in col if d != "all"})
    for domain in domains:
        clips = cover.ids(domain)
        has = has_by_domain.get(domain, set())
        cols = [m for m in metric_order if m != "rtf" and any(mm == m for _, mm in has)]
        present = ({v for v, m in has if m != "rtf"} | synth_by_domain.get(domain, set())
                   | {v for col in (extra or {}).values() for d, v in col if d == domain})
        if rtf and any(m == "rtf" for _, m in has):  # only when a vocoder (not anchor) was timed
            cols.append("rtf")
            present |= {v for v, m in has if m == "rtf"}
        if not present:
            continue
        rows = [v for v in vocoder_order if v in present] + sorted(present - set(vocoder_order))
        columns = [Column(m, directions[m]) for m in cols]
        columns += [Column(name, (extra_directions or {}).get(name, "higher")) for name in (extra or {})]
        t = Table(domain, columns, rows, clips=clips, covers=cover.describe(domain), test=test, alpha=alpha)
        for v in rows:
            t.cells[v] = {}
            for m in cols:
                if m == "rtf" and not is_timed(v):
                    continue
                failed = synth_failed.get(v, set()) | metric_failed.get((v, m), set())
                have = clips_with.get((domain, v, m), set())
                t.cells[v][m] = Cell(summarize(values.get((domain, v, m), [])), len(clips),
                                     tuple(c for c in clips if c not in have and c in failed),
                                     tuple(c for c in clips if c not in have and c not in failed))
                if t.cells[v][m].complete:
                    t.values[(v, m)] = per_clip.get((domain, v, m), {})
            for name, col in (extra or {}).items():
                if (domain, v) in col:
                    t.cells[v][name] = Cell(col[(domain, v)])
        mark_table(t)
        for name, by_domain in (extra_tests or {}).items():
            if name in (extra or {}) and domain in by_domain:
                t.tests[name] = by_domain[domain]
        tables.append(t)
    return tables


def mark_table(t: Table) -> None:
    """Fill ``t.tests`` for the metric columns: in each, every rankable row (complete, not the reference or an
    anchor) against the column's best row, paired over the table's clips; Holm across all these comparisons of
    the table. RTF is not tested."""
    found: list[tuple[str, str, Comparison]] = []
    bests: dict[str, str] = {}
    for col in t.columns:
        if col.key == "rtf" or not any((r, col.key) in t.values for r in t.rows):
            continue
        ranked = {r: t.values[(r, col.key)] for r in t.rows if _rankable(t, col, r) and (r, col.key) in t.values}
        if not ranked:
            continue
        best, comps = compare_with_best(ranked, higher_is_better=col.direction == "higher", test=t.test,
                                        alpha=t.alpha, n_boot=0, correct=False)
        bests[col.key] = best
        found += [(col.key, r, c) for r, c in comps.items()]
    adjusted = with_holm([c for _, _, c in found])
    for key, best in bests.items():
        comps = {r: c for (k, r, _), c in zip(found, adjusted) if k == key}
        t.tests[key] = Tested(best, comps, len(found), "table")


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
    """Whether ``row`` has the best mean of the column (as printed, rounded)."""
    best = t.best(col)
    if best is None or not _rankable(t, col, row):
        return False
    d = DECIMALS.get(col.key.partition("@")[0], 3)
    return round(t.cells[row][col.key].mean, d) == round(best, d)


def is_bold(t: Table, col: Column, row: str) -> bool:
    """The table's mark: a tested column bolds its best row and every row not significantly worse than it (after
    Holm); an untested column (RTF, a precomputed column given without comparisons) its best mean."""
    tested = t.tests.get(col.key)
    if tested is None:
        return _is_best(t, col, row)
    if not _rankable(t, col, row):
        return False
    if row == tested.best:
        return True
    c = tested.comparisons.get(row)
    return c is not None and not_worse_than_best(c)


_TEST_NAMES = {"wilcoxon": "Wilcoxon signed-rank", "t": "paired t"}


def _precomputed(t: Table, col: Column) -> bool:
    cells = [t.cells[r][col.key] for r in t.rows if col.key in t.cells[r]]
    return bool(cells) and all(c.expected is None for c in cells)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def caption(t: Table) -> str:
    """What the table averages and what bold means (plain text)."""
    text = f"mean ± 95% CI over {t.covers}; reference (upper bound) and anchors not ranked"
    metric_tests = [v for v in t.tests.values() if v.scope == "table"]
    if metric_tests and metric_tests[0].family == 0:
        text += "; best vocoder in bold (one complete vocoder per column: nothing to test)"
    elif metric_tests:
        family, n = metric_tests[0].family, len(t.clips)
        text += (f"; bold: the best vocoder and every vocoder not significantly worse than it ({_TEST_NAMES[t.test]} "
                 f"over the {_plural(n, 'clip')}, paired, two-sided; Holm across the {_plural(family, 'comparison')} "
                 f"with the best in this table, p < {t.alpha:g})")
        if t.incomplete():
            text += f"; {MARK} rows are not tested and never bold"
        smallest = min(1.0, family * min_wilcoxon_p(n))
        if t.test == "wilcoxon" and family and smallest >= t.alpha:
            text += (f"; with {_plural(n, 'clip')} and {_plural(family, 'comparison')} the smallest possible Holm p is "
                     f"{smallest:.3g}: no "
                     f"difference can be significant, every complete vocoder row is bold")
    elif any(c.key != "rtf" and not _precomputed(t, c) for c in t.columns):
        text += "; best vocoder in bold"
    for c in t.columns:
        tested = t.tests.get(c.key)
        if tested is not None and tested.scope != "table":
            text += f"; {metric_title(c.key)}: {tested.scope}"
        elif tested is None and _precomputed(t, c):
            text += f"; {metric_title(c.key)}: best mean in bold (not tested)"
    if any(c.key == "rtf" for c in t.columns):
        text += "; RTF for vocoders only (reference and anchors are not timed), fastest in bold, not tested"
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
    return text, is_bold(t, col, row)


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
            m = "--" if mean == "–" else (rf"\textbf{{{mean}}}" if is_bold(t, c, r) else mean)
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
    that are not per clip), ``n_failed`` covered clips whose value failed, ``complete`` n == n_covered, ``best``
    the best mean of the column, ``bold`` the table's mark (:func:`is_bold`); for tested rows other than the
    best: ``p_holm`` and ``effect`` (rank-biserial r or Cohen's d_z of row - best) of the comparison with the
    best (empty when not tested)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["domain", "vocoder", "metric", "direction", "mean", "ci95", "std", "n", "n_covered", "n_failed",
                "complete", "best", "bold", "p_holm", "effect"])
    for t in tables:
        for r in t.rows:
            for c in t.columns:
                cell = t.cells[r].get(c.key)
                if cell is None:
                    continue
                s = cell.summary
                w.writerow([t.domain, r, c.key, c.direction, repr(s.mean), repr(s.ci95), repr(s.std), s.n,
                            "" if cell.expected is None else cell.expected, len(cell.failed), int(cell.complete),
                            int(_is_best(t, c, r)), int(is_bold(t, c, r)), *_tested(t, c, r)])
    return buf.getvalue()


def _tested(t: Table, col: Column, row: str) -> list[str]:
    tested = t.tests.get(col.key)
    c = tested.comparisons.get(row) if tested else None
    return ["", ""] if c is None else [repr(c.p_holm), repr(c.effect_size)]


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
