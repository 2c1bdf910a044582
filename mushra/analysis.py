"""Analysis of a listening test: post-screening, per-condition statistics per domain, plots and reports.

Each stored session is one assessor. Trials used: the test's mushra pages, without the training page when the
test was built by ``bench mushra build`` (its manifest names it; for other webMUSHRA configs every mushra page
counts). Domains come from the build manifest (clip domain per page); domain ``all`` pools every item.

Statistics per condition (:meth:`TestResults.summary`), both reported and labelled:

- over all ratings (BS.1534-3, 9.3): mean and t(0.975, N-1)·s/√N with N the number of ratings (assessors x items).
  Ratings of one assessor are not independent, so this interval is optimistic;
- over assessors (current practice): each assessor's mean over the items, then mean and t(0.975, L-1)·s/√L over
  the L assessors' means. This is the interval a claim about listeners in general needs.

Paired comparisons (:meth:`TestResults.comparisons`): between the systems under test (the hidden reference and
the anchors are not tested), Wilcoxon signed-rank on the per-assessor means (paired by assessor: every kept
assessor rates every condition of an item), Holm across all pairs of a domain
(:mod:`bench.results.significance`). :meth:`TestResults.compare_with_best` gives the table's marks.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.results.significance import Comparison, compare_with_best, pairwise
from mushra.config import ANCHOR35, ANCHOR70, HIDDEN_REFERENCE, TestConfig, find_config, load_config
from mushra.screening import ScreeningResult, screen
from mushra.stats import mean_ci95
from mushra.storage import Storage

MANIFEST_NAME = "manifest.json"
ALL_DOMAINS = "all"
#: Conditions that are bounds of the scale, not systems under test: never tested, never marked.
NOT_TESTED = (HIDDEN_REFERENCE, ANCHOR70, ANCHOR35)


def default_db_path(test_dir: str | Path, cfg: TestConfig) -> Path:
    """Where a test's submissions are stored: ``<test>/results/<testId>.sqlite`` (never served as audio)."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in cfg.testId).strip(".") or "test"
    return Path(test_dir) / "results" / f"{safe}.sqlite"


def training_page_ids(test_dir: str | Path) -> set[str]:
    """Page ids of the training page(s) named by a built test's manifest (empty for other webMUSHRA configs)."""
    manifest = read_manifest(test_dir)
    if not manifest:
        return set()
    return {str(manifest.get("training", {}).get("page_id"))} - {"None"}


def read_manifest(test_dir: str | Path) -> dict[str, Any] | None:
    path = Path(test_dir) / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise BenchError(f"{path}: not valid JSON ({err})") from None


@dataclass
class TestResults:
    """Everything the analysis needs, loaded once."""

    __test__ = False

    test_dir: Path
    cfg: TestConfig
    manifest: dict[str, Any] | None
    storage: Storage
    trial_domain: dict[str, str]
    conditions: list[str]
    ratings: list[dict[str, Any]] = field(default_factory=list)
    #: Keep assessors who rated only some of the test items (default: all items are required).
    allow_partial: bool = False

    @classmethod
    def load(cls, test_dir: str | Path, *, db_path: str | Path | None = None,
             config_name: str | None = None, allow_partial: bool = False) -> TestResults:
        test_dir = Path(test_dir)
        cfg = load_config(find_config(test_dir, config_name))
        db = Path(db_path) if db_path else default_db_path(test_dir, cfg)
        if not db.is_file():
            raise BenchError(f"{test_dir}: no submissions yet ({db} does not exist)")
        return cls.from_parts(test_dir, cfg, Storage(db), allow_partial=allow_partial)

    @classmethod
    def from_parts(cls, test_dir: str | Path, cfg: TestConfig, storage: Storage, *,
                   allow_partial: bool = False) -> TestResults:
        test_dir = Path(test_dir)
        manifest = read_manifest(test_dir)
        training: set[str] = set()
        trial_domain: dict[str, str] = {}
        if manifest:
            training = {manifest.get("training", {}).get("page_id")} - {None}
            trial_domain = {it["page_id"]: str(it.get("domain") or ALL_DOMAINS) for it in manifest.get("items", [])}
        for page in cfg.mushra_pages():
            if page.id not in training:
                trial_domain.setdefault(page.id, ALL_DOMAINS)
        ratings = [
            {"listener": r["session_uuid"], "trial_id": r["trial_id"], "stimulus": r["stimulus"],
             "score": float(r["score"]), "domain": trial_domain[r["trial_id"]]}
            for r in storage.ratings() if r["trial_id"] in trial_domain
        ]
        return cls(test_dir, cfg, manifest, storage, trial_domain, _condition_order(cfg, manifest), ratings,
                   allow_partial)

    def screening(self) -> list[ScreeningResult]:
        return list(self._screening)

    @functools.cached_property
    def _screening(self) -> list[ScreeningResult]:
        # the ratings do not change once loaded: screened once, not by every statistic that needs the kept ones
        return screen(self.ratings, items_total=len(self.trial_domain), require_all=not self.allow_partial)

    def kept_ratings(self) -> list[dict[str, Any]]:
        return list(self._kept)

    @functools.cached_property
    def _kept(self) -> list[dict[str, Any]]:
        excluded = {s.listener for s in self._screening if s.excluded}
        return [r for r in self.ratings if r["listener"] not in excluded]

    def domains(self) -> list[str]:
        found = sorted({d for d in self.trial_domain.values() if d != ALL_DOMAINS})
        return found + [ALL_DOMAINS]

    def assessor_means(self, domain: str) -> dict[str, dict[str, float]]:
        """condition -> {assessor: that assessor's mean score of the condition over the items of ``domain``}
        (screened assessors; ``all`` pools every item)."""
        sums: dict[str, dict[str, list[float]]] = {}
        for r in self.kept_ratings():
            if domain == ALL_DOMAINS or r["domain"] == domain:
                sums.setdefault(r["stimulus"], {}).setdefault(r["listener"], []).append(r["score"])
        return {c: {a: sum(v) / len(v) for a, v in by.items()} for c, by in sums.items()}

    def summary(self) -> list[dict[str, Any]]:
        """One row per (domain, condition) over the screened assessors: ``mean``, ``ci95`` over all ratings;
        ``mean_assessors``, ``ci95_assessors`` over the per-assessor means; ``n_ratings``, ``n_listeners``.
        Intervals are NaN with fewer than two listeners."""
        kept = self.kept_ratings()
        rows = []
        for domain in self.domains():
            sel = [r for r in kept if domain == ALL_DOMAINS or r["domain"] == domain]
            per_assessor = self.assessor_means(domain)
            for cond in self.conditions:
                scores = [r["score"] for r in sel if r["stimulus"] == cond]
                if not scores:
                    continue
                mean, ci = mean_ci95(scores)
                a_mean, a_ci = mean_ci95(list(per_assessor.get(cond, {}).values()))
                n_listeners = len({r["listener"] for r in sel if r["stimulus"] == cond})
                if n_listeners < 2:
                    # One assessor's scores over items say nothing about listeners in general: no interval.
                    ci = math.nan
                rows.append({"domain": domain, "condition": cond, "mean": mean, "ci95": ci,
                             "n_ratings": len(scores), "n_listeners": n_listeners,
                             "mean_assessors": a_mean, "ci95_assessors": a_ci})
        return rows

    def systems(self) -> list[str]:
        """The conditions under test (not the hidden reference or the anchors), in condition order."""
        return [c for c in self.conditions if c not in NOT_TESTED]

    def _system_means(self, domain: str) -> dict[str, dict[str, float]]:
        means = self.assessor_means(domain)
        return {c: means[c] for c in self.systems() if c in means}

    def comparisons(self, domain: str, *, alpha: float = 0.05, n_boot: int = 10000,
                    seed: int = 0) -> list[Comparison]:
        """Every pair of systems under test in ``domain``: Wilcoxon signed-rank on per-assessor means (paired by
        assessor), Holm across the pairs; bootstrap CI of the mean difference over assessors."""
        vals = self._system_means(domain)
        if len(vals) < 2:
            return []
        return pairwise(vals, higher_is_better=True, alpha=alpha, n_boot=n_boot, seed=seed)

    def compare_with_best(self, domain: str, *, alpha: float = 0.05) -> tuple[str, dict[str, Comparison]] | None:
        """(best, {system: comparison with the best}) of the systems under test in ``domain``, Holm across these
        comparisons; None when no system was rated there."""
        vals = self._system_means(domain)
        if not vals:
            return None
        return compare_with_best(vals, higher_is_better=True, alpha=alpha, n_boot=0)


def _condition_order(cfg: TestConfig, manifest: dict[str, Any] | None) -> list[str]:
    """Reference first, systems under test, then the mid and low anchors."""
    if manifest and manifest.get("conditions"):
        order = list(manifest["conditions"])
    else:
        order = []
        for page in cfg.mushra_pages():
            for c in page.conditions():
                if c not in order:
                    order.append(c)
    head = [c for c in order if c == HIDDEN_REFERENCE]
    tail = [c for c in (ANCHOR70, ANCHOR35) if c in order]
    return head + [c for c in order if c not in head and c not in tail] + tail


def condition_summary(test_dir: str | Path, *, db_path: str | Path | None = None) -> list[dict[str, Any]]:
    """Per-domain (and ``all``) per-condition rows: domain, condition, mean, ci95, n_ratings, n_listeners.

    Condition names are the vocoder names of the run the test was built from (plus reference/anchor35/anchor70).
    """
    return TestResults.load(test_dir, db_path=db_path).summary()


# -- reports -----------------------------------------------------------------------------------------
def _fmt(x: float, nd: int = 1) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{nd}f}"


def _ci_cell(row: dict[str, Any]) -> str:
    if row["n_listeners"] < 2:
        return f"n={row['n_listeners']}, no interval"
    return _fmt(row["ci95"])


def markdown_report(res: TestResults, comparisons: dict[str, list[Comparison]] | None = None) -> str:
    screening = res.screening()
    summary = res.summary()
    comparisons = comparisons_by_domain(res) if comparisons is None else comparisons
    kept = [s for s in screening if not s.excluded]
    partial_rule = ("assessors who rated only some items are kept (partial sessions allowed)" if res.allow_partial
                    else "every test item must be rated")
    lines = [f"# MUSHRA results: {res.cfg.testname} ({res.cfg.testId})", "",
             f"Assessors: {len(screening)} submitted, {len(kept)} kept after BS.1534-3 post-screening "
             f"(hidden reference < 90 or mid anchor > 90 in more than 15% of items; {partial_rule}).", ""]
    if screening:
        lines += ["| assessor | items rated | kept |", "|---|---:|---|"]
        lines += [f"| `{s.listener}` | {s.items_rated} of {s.items_total} | {'no' if s.excluded else 'yes'} |"
                  for s in screening]
        lines.append("")
    excluded = [s for s in screening if s.excluded]
    if excluded:
        lines += ["Excluded assessors:", ""]
        lines += [f"- `{s.listener}`: {'; '.join(s.reasons)}" for s in excluded]
        lines.append("")
    lines += ["Mean score with 95% confidence interval, two ways: over all ratings of the kept assessors "
              "(BS.1534-3: t(0.975, N-1)·s/√N, N = number of ratings) and over assessors (each assessor's mean over "
              "the items, then t(0.975, L-1)·s/√L over the L assessors); no interval from a single listener.", "",
              "Paired comparisons: systems under test only (the hidden reference and the anchors are not tested); "
              "Wilcoxon signed-rank on the per-assessor means, two-sided, paired by assessor, Holm across the pairs "
              "of a domain; mean difference A − B with a percentile bootstrap 95% CI over assessors (10000 "
              "resamples, seed 0); effect: matched-pairs rank-biserial r (> 0: A rated higher).", ""]
    for domain in res.domains():
        rows = [r for r in summary if r["domain"] == domain]
        if not rows:
            continue
        lines += [f"## {domain}", "",
                  "| condition | mean | ±95% CI | ratings | listeners | mean (assessors) | ±95% CI (assessors) |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        lines += [f"| {r['condition']} | {_fmt(r['mean'])} | {_ci_cell(r)} | {r['n_ratings']} | "
                  f"{r['n_listeners']} | {_fmt(r['mean_assessors'])} | "
                  f"{_ci_cell({**r, 'ci95': r['ci95_assessors']})} |" for r in rows]
        lines.append("")
        lines += _comparison_lines(comparisons.get(domain, []))
    return "\n".join(lines)


def _comparison_lines(comps: list[Comparison]) -> list[str]:
    if not comps:
        return []
    out = [f"Paired comparisons ({len(comps)} pair(s), Holm across them):", "",
           "| A | B | assessors | A − B | 95% CI | p | p Holm | r | better |", "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for c in comps:
        ci = "n/a" if math.isnan(c.ci_low) else f"[{c.ci_low:.1f}, {c.ci_high:.1f}]"
        out.append(f"| {c.a} | {c.b} | {c.n} | {c.mean_diff:.1f} | {ci} | {c.p:.4f} | {c.p_holm:.4f} | "
                   f"{c.effect_size:.2f} | {c.better or '–'} |")
    notes = [f"- {c.a} vs {c.b}: {c.note}" for c in comps if c.note]
    return out + ([""] + notes if notes else []) + [""]


def comparisons_by_domain(res: TestResults) -> dict[str, list[Comparison]]:
    """:meth:`TestResults.comparisons` of every domain."""
    return {d: res.comparisons(d) for d in res.domains()}


def summary_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["domain", "condition", "mean", "ci95", "n_ratings", "n_listeners",
                                        "mean_assessors", "ci95_assessors"], lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    return buf.getvalue()


def _json_row(r: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}


def box_plot_png(res: TestResults, *, kept_only: bool = True) -> bytes:
    """PNG of per-condition score distributions (box = quartiles, whiskers 1.5 IQR) with mean ± 95 % CI,
    one panel per domain."""
    # Figure without pyplot: no global backend state, safe in server threads.
    from matplotlib.figure import Figure

    ratings = res.kept_ratings() if kept_only else res.ratings
    domains = res.domains()
    if len(domains) == 2:  # one real domain: "all" would repeat it
        domains = [ALL_DOMAINS]
    fig = Figure(figsize=(max(6.0, 1.0 + 0.9 * len(res.conditions)), 3.6 * len(domains)), dpi=100)
    axes = fig.subplots(len(domains), 1, squeeze=False)[:, 0]
    for ax, domain in zip(axes, domains):
        sel = [r for r in ratings if domain == ALL_DOMAINS or r["domain"] == domain]
        conds = [c for c in res.conditions if any(r["stimulus"] == c for r in sel)]
        data = [[r["score"] for r in sel if r["stimulus"] == c] for c in conds]
        if data:
            ax.boxplot(data, showfliers=True, widths=0.5)
            for i, vals in enumerate(data, start=1):
                mean, ci = mean_ci95(vals)
                ax.errorbar([i + 0.3], [mean], yerr=[[0 if math.isnan(ci) else ci]], fmt="o", color="C3",
                            markersize=4, capsize=3)
            ax.set_xticks(range(1, len(conds) + 1), conds, rotation=20, ha="right")
        else:
            ax.text(0.5, 0.5, "no ratings", ha="center", va="center", transform=ax.transAxes)
        ax.set_ylim(-2, 102)
        ax.set_yticks([0, 20, 40, 60, 80, 100])
        for y in (20, 40, 60, 80):
            ax.axhline(y, color="0.85", linewidth=0.6, zorder=0)
        ax.set_ylabel("MUSHRA score")
        n_listeners = len({r["listener"] for r in sel})
        ax.set_title(f"{domain} ({n_listeners} assessors; box: quartiles, red: mean ± 95% CI)", fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def analyze(test_dir: str | Path, out_dir: str | Path | None = None, *,
            db_path: str | Path | None = None, allow_partial: bool = False) -> tuple[TestResults, dict[str, Path]]:
    """Screen, summarise and write summary.{csv,json,md}, screening.json and boxplot.png to ``out_dir``
    (default ``<test>/analysis``). Returns the loaded results and the written files.

    ``allow_partial`` keeps assessors who rated only some of the test items (excluded by default)."""
    res = TestResults.load(test_dir, db_path=db_path, allow_partial=allow_partial)
    out = Path(out_dir) if out_dir else Path(test_dir) / "analysis"
    out.mkdir(parents=True, exist_ok=True)
    summary = res.summary()
    screening = res.screening()
    comparisons = comparisons_by_domain(res)
    files = {
        "summary.csv": summary_csv(summary),
        "summary.json": json.dumps({"test_id": res.cfg.testId,
                                    "ci": "t(0.975,N-1)*s/sqrt(N) over ratings; null with one listener",
                                    "ci_assessors": "t(0.975,L-1)*s/sqrt(L) over the L per-assessor means (each "
                                                    "assessor's mean over items); null with one listener",
                                    "rows": [_json_row(r) for r in summary],
                                    "comparisons": {"rule": "Wilcoxon signed-rank on per-assessor means, two-sided, "
                                                            "Holm across the pairs of a domain; hidden reference "
                                                            "and anchors not tested",
                                                    "pairs": [{"domain": d, **_json_row(asdict(c))}
                                                              for d, cs in comparisons.items() for c in cs]}},
                                   indent=2),
        "summary.md": markdown_report(res, comparisons),
        "screening.json": json.dumps([s.as_dict() for s in screening], indent=2),
    }
    written = {}
    for name, text in files.items():
        (out / name).write_text(text + ("" if text.endswith("\n") else "\n"), encoding="utf-8")
        written[name] = out / name
    (out / "boxplot.png").write_bytes(box_plot_png(res))
    written["boxplot.png"] = out / "boxplot.png"
    return res, written


#: First characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: str) -> str:
    """``value`` made inert for spreadsheets: a leading formula character gets a ``'`` in front (the stored
    answer stays as sent; results.json has it raw)."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def mushra_csv(storage: Storage, cfg: TestConfig) -> str:
    """All mushra ratings in webMUSHRA's mushra.csv layout: session_test_id, one column per questionnaire item,
    session_uuid, trial_id, rating_stimulus, rating_score, rating_time, rating_comment.

    Questionnaire columns are the config's items only (a submission cannot add columns); text cells that a
    spreadsheet would run as a formula are neutralised with :func:`csv_cell`.
    """
    sessions = storage.sessions()
    qnames: list[str] = []
    for q in cfg.questionnaire():
        if q.get("name") is not None and str(q["name"]) not in qnames:
            qnames.append(str(q["name"]))
    by_uuid = {s["uuid"]: s for s in sessions}
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["session_test_id", *map(csv_cell, qnames), "session_uuid", "trial_id", "rating_stimulus",
                "rating_score", "rating_time", "rating_comment"])
    for r in storage.ratings():
        s = by_uuid[r["session_uuid"]]
        answers = dict(s["participant"])
        score = r["score"]
        w.writerow([csv_cell(s["test_id"]), *(csv_cell(answers.get(q, "")) for q in qnames),
                    csv_cell(r["session_uuid"]), csv_cell(r["trial_id"]), csv_cell(r["stimulus"]),
                    int(score) if float(score).is_integer() else score,
                    "" if r["time_ms"] is None else (int(r["time_ms"]) if float(r["time_ms"]).is_integer()
                                                     else r["time_ms"]),
                    "" if r["comment"] is None else csv_cell(r["comment"])])
    return buf.getvalue()
