"""Which objective metric agrees with listeners: a run's metric values against a listening test's MUSHRA scores.

Data: the ratings of the test's kept assessors (BS.1534-3 post-screening, :mod:`mushra.screening`), its items
(``manifest.json`` of ``bench mushra build``: page id -> clip id and domain) and conditions (the run's vocoder
names), and the values stored in the run for those clips and vocoders. A value is computed on the whole clip;
the listeners heard an excerpt of it (the manifest records which).

Two levels, each per domain and pooled over domains (``all``):

* item: one point per (item, condition): the metric on that clip x vocoder against the mean score over assessors;
* system: one point per condition: the metric's mean over the items against the mean score over assessors and
  items (needs at least :data:`MIN_POINTS` conditions).

Correlations: Pearson, Spearman (Pearson of average ranks) and Kendall tau-b, sign-adjusted: for a lower-is-better
metric the coefficient is multiplied by -1, so for every metric +1 means "orders the points as the listeners do".
Confidence intervals: basic (reverse-percentile) bootstrap, ``[2r - q97.5, 2r - q2.5]`` clipped to [-1, 1], where
q are quantiles of the resampled coefficients. Each resample draws the kept assessors with replacement and,
independently, the items with replacement, recomputes the MUSHRA means (and the system-level metric means over
the drawn items) and the correlation; resamples where a coefficient is undefined (constant values) are left out
and counted. Why not the plain percentile interval: a mean over assessors drawn with replacement carries the
listener noise again, so resampled correlations sit below the estimate just as the estimate sits below the
correlation with the listeners' true means; the basic interval reflects that shift back. In the simulation of
``tests/mushra/test_mushra_correlate.py`` (listener noise sd 25, 8 assessors, 20 items) the percentile interval
never covered the true correlation, the basic one did at about the nominal rate.

The hidden reference and the anchors are left out by default: they sit at the ends of the scale by construction
(the reference near 100 and at every metric's best value, the 3.5 kHz anchor lowest), so they stretch the range
of both variables and inflate every correlation whether or not the metric orders the vocoders as listeners do.
``include_anchors=True`` keeps them.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import rankdata

from bench.errors import BenchError
from mushra.analysis import ALL_DOMAINS, TestResults
from mushra.config import ANCHOR35, ANCHOR70, HIDDEN_REFERENCE

METHODS = ("pearson", "spearman", "kendall")
LEVELS = ("system", "item")
#: Fewest points a correlation is computed from (two points always lie on a line).
MIN_POINTS = 3
#: Conditions left out unless ``include_anchors``: the hidden reference and the two BS.1534-3 anchors.
BOUNDS = (HIDDEN_REFERENCE, ANCHOR70, ANCHOR35)
ANCHOR_RULE = ("hidden reference and anchors excluded (default): they sit at the ends of the scale by construction "
               "and stretch the range of both variables, which inflates every correlation; --include-anchors "
               "keeps them")
ANCHOR_RULE_INCLUDED = ("Hidden reference and anchors included (--include-anchors): expect higher correlations "
                        "than among the vocoders alone, because they stretch the range of both variables")
#: Points per batch in the vectorised Kendall tau (bounds the memory of the pairwise differences).
_KENDALL_CHUNK = 2_000_000


# -- coefficients (batched over leading axes, points on the last axis) ----------------------------------------
def pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson's r of ``x`` and ``y`` [..., n] along the last axis; NaN where either is constant."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    xc = x - x.mean(axis=-1, keepdims=True)
    yc = y - y.mean(axis=-1, keepdims=True)
    den = np.sqrt((xc * xc).sum(axis=-1) * (yc * yc).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (xc * yc).sum(axis=-1) / den
    r = np.where(den > 0, r, np.nan)
    return np.clip(r, -1.0, 1.0)


def spearman(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho [...]: Pearson's r of the average ranks (ties share their mean rank)."""
    return pearson(rankdata(x, axis=-1), rankdata(y, axis=-1))


def kendall(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall's tau-b [...] (ties in x or y reduce the denominator): sum of sign products over all pairs
    / sqrt((pairs - x-tied pairs) (pairs - y-tied pairs)); NaN where either is constant."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = x.shape[-1]
    i, j = np.triu_indices(n, 1)
    lead = x.shape[:-1]
    xf, yf = x.reshape(-1, n), y.reshape(-1, n)
    out = np.empty(xf.shape[0])
    step = max(1, _KENDALL_CHUNK // max(1, i.size))
    for s in range(0, xf.shape[0], step):
        dx = np.sign(xf[s: s + step, j] - xf[s: s + step, i])
        dy = np.sign(yf[s: s + step, j] - yf[s: s + step, i])
        pairs = i.size
        den = np.sqrt((pairs - (dx == 0).sum(axis=-1)) * (pairs - (dy == 0).sum(axis=-1)).astype(np.float64))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[s: s + step] = np.where(den > 0, (dx * dy).sum(axis=-1) / den, np.nan)
    return np.clip(out.reshape(lead), -1.0, 1.0)


COEFFICIENTS = {"pearson": pearson, "spearman": spearman, "kendall": kendall}


# -- data --------------------------------------------------------------------------------------------------------
@dataclass
class Correlation:
    """One coefficient: ``r`` sign-adjusted (+1 = agrees with listeners), ``raw_r`` as computed on the values;
    ``ci_low``/``ci_high`` the basic bootstrap 95% interval of ``r``; ``n`` points; ``n_boot`` resamples that gave a
    defined coefficient (of ``n_boot_drawn``)."""

    metric: str
    direction: str
    domain: str
    level: str
    method: str
    n: int
    r: float
    raw_r: float
    ci_low: float
    ci_high: float
    n_boot: int
    n_boot_drawn: int
    note: str = ""


@dataclass
class Points:
    """What one (metric, domain) was computed from: ``x[i, c]`` metric values, ``y[i, c]`` mean scores over the
    kept assessors, for ``items`` (clip ids) x ``conditions``."""

    metric: str
    direction: str
    domain: str
    items: list[str]
    item_domains: list[str]
    conditions: list[str]
    x: np.ndarray
    y: np.ndarray


@dataclass
class Agreement:
    """Everything ``bench mushra correlate`` reports."""

    test_dir: Path
    run_dir: Path
    include_anchors: bool
    n_boot: int
    seed: int
    assessors_kept: int
    assessors_total: int
    conditions: list[str]
    items: list[dict[str, str]]
    correlations: list[Correlation] = field(default_factory=list)
    points: list[Points] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def rows(self, domain: str | None = None) -> list[Correlation]:
        return [c for c in self.correlations if domain is None or c.domain == domain]

    def domains(self) -> list[str]:
        return list(dict.fromkeys(c.domain for c in self.correlations))


def _direction(variant: dict[str, Any], metric: str) -> str:
    """Direction as the tables take it: the stored variant's, else the registry's, else lower-is-better."""
    if variant.get("direction") in ("lower", "higher"):
        return str(variant["direction"])
    from bench.metrics.registry import metric_registry

    reg = metric_registry()
    base = metric.partition("@")[0]
    return reg.get(base).direction if base in reg.names() else "lower"


def _summarise(names: list[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "") if names else "none"


def _bootstrap(x: np.ndarray, ratings: np.ndarray, n_boot: int, seed: int) -> tuple[np.ndarray, ...]:
    """Resampled (item x, item y, system x, system y): [B, I*C], [B, I*C], [B, C], [B, C].

    ``x`` [I, C] metric values, ``ratings`` [A, I, C] scores (NaN: not rated). Assessors and items are drawn with
    replacement, independently; a mean with no rating behind it is NaN (that resample is left out later)."""
    rng = np.random.default_rng(seed)
    n_a, n_i, n_c = ratings.shape
    rated = ~np.isnan(ratings)
    filled = np.where(rated, ratings, 0.0)
    xi = np.empty((n_boot, n_i * n_c))
    yi = np.empty((n_boot, n_i * n_c))
    xs = np.empty((n_boot, n_c))
    ys = np.empty((n_boot, n_c))
    for b in range(n_boot):
        a = rng.integers(0, n_a, n_a)
        it = rng.integers(0, n_i, n_i)
        total = filled[a][:, it].sum(axis=0)
        count = rated[a][:, it].sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            yi[b] = (total / count).ravel()
            ys[b] = total.sum(axis=0) / count.sum(axis=0)
        xi[b] = x[it].ravel()
        xs[b] = x[it].mean(axis=0)
    return xi, yi, xs, ys


def _coefficients(p: Points, ratings: np.ndarray, n_boot: int, seed: int) -> list[Correlation]:
    sign = -1.0 if p.direction == "lower" else 1.0
    xi, yi, xs, ys = _bootstrap(p.x, ratings, n_boot, seed)
    levels = {
        "item": (p.x.ravel(), p.y.ravel(), xi, yi),
        "system": (p.x.mean(axis=0), np.nanmean(ratings, axis=(0, 1)), xs, ys),
    }
    out = []
    for level in LEVELS:
        x0, y0, xb, yb = levels[level]
        n = int(x0.size)
        for method in METHODS:
            if n < MIN_POINTS:
                what = "condition" if level == "system" else "point"
                out.append(Correlation(p.metric, p.direction, p.domain, level, method, n, math.nan, math.nan,
                                       math.nan, math.nan, 0, n_boot,
                                       f"{n} {what}{'s' if n != 1 else ''}: at least {MIN_POINTS} needed"))
                continue
            f = COEFFICIENTS[method]
            raw = float(f(x0, y0))
            ok = ~np.isnan(yb).any(axis=1)
            boot = f(xb[ok], yb[ok]) if ok.any() else np.empty(0)
            boot = boot[~np.isnan(boot)]
            lo, hi = math.nan, math.nan
            if boot.size and not math.isnan(raw):
                q_lo, q_hi = np.percentile(boot, [2.5, 97.5])
                lo, hi = max(-1.0, 2 * raw - q_hi), min(1.0, 2 * raw - q_lo)   # basic bootstrap interval
                if sign < 0:
                    lo, hi = -hi, -lo
            note = "" if boot.size == n_boot else f"{n_boot - boot.size} of {n_boot} resamples undefined, left out"
            if math.isnan(raw):
                note = "undefined: the metric or the scores are constant over these points"
            out.append(Correlation(p.metric, p.direction, p.domain, level, method, n, sign * raw, raw,
                                   float(lo), float(hi), int(boot.size), n_boot, note))
    return out


def correlate(
    test_dir: str | Path,
    run_dir: str | Path,
    *,
    include_anchors: bool = False,
    n_boot: int = 2000,
    seed: int = 0,
    db_path: str | Path | None = None,
    allow_partial: bool = False,
) -> Agreement:
    """Correlate every metric stored in ``run_dir`` for the test's clips and conditions with the MUSHRA scores of
    the test's kept assessors (see the module docstring for levels, sign and bootstrap).

    Raises:
        BenchError: no manifest (items cannot be mapped to clips), no kept assessor, or the test and the run share
            no clips, no vocoders or no values.
    """
    from bench.results.store import ResultsStore

    test_dir, run_dir = Path(test_dir), Path(run_dir)
    if n_boot < 100:
        raise BenchError(f"--n-boot must be at least 100 for a 95% interval, got {n_boot}")
    res = TestResults.load(test_dir, db_path=db_path, allow_partial=allow_partial)
    if not res.manifest or not res.manifest.get("items"):
        raise BenchError(f"{test_dir}: no manifest.json with items (a test built by `bench mushra build`): its "
                         "pages cannot be matched to the run's clips")
    screening = res.screening()
    kept = res.kept_ratings()
    if not kept:
        raise BenchError(f"{test_dir}: no ratings from a kept assessor ({len(screening)} submitted, all excluded by "
                         f"post-screening; see `bench mushra analyze {test_dir}`)" if screening
                         else f"{test_dir}: no ratings stored yet")
    page_clip = {it["page_id"]: str(it["clip_id"]) for it in res.manifest["items"] if it["page_id"] in res.trial_domain}
    conditions = [c for c in res.conditions if include_anchors or c not in BOUNDS]
    notes: list[str] = []

    with ResultsStore.open_readonly(run_dir) as store:
        run_clips = {c["clip_id"] for c in store.clips()}
        scores = store.scores()
    shared_clips = [p for p, c in page_clip.items() if c in run_clips]
    if not shared_clips:
        test_clips = _summarise(sorted(set(page_clip.values())))
        raise BenchError(f"{test_dir} and {run_dir} share no clips (the test's: {test_clips}; "
                         f"it was built from {res.manifest.get('run_dir', 'an unknown run')})")
    run_vocoders = {s["vocoder"] for s in scores}
    shared_conditions = [c for c in conditions if c in run_vocoders]
    if not shared_conditions:
        raise BenchError(f"{test_dir} and {run_dir} share no vocoders with values (the test's conditions: "
                         f"{_summarise(conditions)}; the run's: {_summarise(sorted(run_vocoders))})")
    missing_conditions = [c for c in conditions if c not in run_vocoders]
    if missing_conditions:
        notes.append(f"conditions with no value in the run, left out: {', '.join(missing_conditions)}")
    if str(run_dir.resolve()) != str(res.manifest.get("run_dir", str(run_dir.resolve()))):
        notes.append(f"the test was built from {res.manifest.get('run_dir')}; matched by clip id and vocoder name")

    wanted = {page_clip[p] for p in shared_clips}
    values: dict[str, dict[tuple[str, str], float]] = {}
    directions: dict[str, str] = {}
    for s in scores:
        if s["clip_id"] in wanted and s["vocoder"] in shared_conditions and math.isfinite(s["value"]):
            values.setdefault(s["metric"], {})[(s["clip_id"], s["vocoder"])] = float(s["value"])
            directions.setdefault(s["metric"], _direction(s["variant"], s["metric"]))
    if not values:
        raise BenchError(f"{run_dir}: no metric value stored for the test's clips and vocoders")

    # ratings[a, i, c] over the kept assessors, the shared items and the shared conditions.
    assessors = list(dict.fromkeys(r["listener"] for r in kept))
    a_idx = {a: k for k, a in enumerate(assessors)}
    i_idx = {p: k for k, p in enumerate(shared_clips)}
    c_idx = {c: k for k, c in enumerate(shared_conditions)}
    ratings = np.full((len(assessors), len(shared_clips), len(shared_conditions)), np.nan)
    for r in kept:
        if r["trial_id"] in i_idx and r["stimulus"] in c_idx:
            ratings[a_idx[r["listener"]], i_idx[r["trial_id"]], c_idx[r["stimulus"]]] = r["score"]
    domain_of = {p: res.trial_domain[p] for p in shared_clips}
    domains = sorted(set(domain_of.values()))
    scopes = domains + ([ALL_DOMAINS] if len(domains) > 1 else [])

    out = Agreement(test_dir, run_dir, include_anchors, n_boot, seed, len(assessors), len(screening),
                    shared_conditions, [{"page_id": p, "clip_id": page_clip[p], "domain": domain_of[p]}
                                        for p in shared_clips], notes=notes)
    for metric, vals in values.items():
        for scope in scopes:
            pages = [p for p in shared_clips if scope == ALL_DOMAINS or domain_of[p] == scope]
            # Conditions without any value here are left out, then items lacking one of the rest: x stays complete.
            conds = [c for c in shared_conditions if any((page_clip[p], c) in vals for p in pages)]
            dropped = [p for p in pages if any((page_clip[p], c) not in vals for c in conds)
                       or np.isnan(ratings[:, i_idx[p], [c_idx[c] for c in conds]]).all(axis=0).any()]
            pages = [p for p in pages if p not in dropped]
            if dropped:
                notes.append(f"{metric} ({scope}): items without a value or a rating for every condition left out: "
                             f"{_summarise([page_clip[p] for p in dropped])}")
            if not pages or not conds:
                continue
            sub = ratings[:, [i_idx[p] for p in pages]][:, :, [c_idx[c] for c in conds]]
            x = np.array([[vals[(page_clip[p], c)] for c in conds] for p in pages])
            pts = Points(metric, directions[metric], scope, [page_clip[p] for p in pages],
                         [domain_of[p] for p in pages], conds, x, np.nanmean(sub, axis=0))
            out.points.append(pts)
            out.correlations += _coefficients(pts, sub, n_boot, seed)
    if any(p.domain == ALL_DOMAINS for p in out.points):
        out.notes.append("'all' pools the domains; a metric whose variant differs by domain (e.g. ViSQOL's speech "
                         "and audio modes) is on different scales there: read the per-domain rows")
    return out


# -- output ------------------------------------------------------------------------------------------------------
def metric_label(metric: str, direction: str) -> str:
    from bench.results.tables import metric_title

    return f"{metric_title(metric)} {'↓' if direction == 'lower' else '↑'}"


def _fmt(c: Correlation) -> str:
    if math.isnan(c.r):
        return "n/a"
    # + 0.0 turns -0.0 (a sign-adjusted zero) into 0.0: no "-0.00"
    ci = "" if math.isnan(c.ci_low) else f" [{c.ci_low + 0.0:+.2f}, {c.ci_high + 0.0:+.2f}]"
    return f"{c.r + 0.0:+.2f}{ci}"


def method_text(ag: Agreement) -> list[str]:
    """Plain-text lines saying what the numbers are (shared by the Markdown output and the HTML report)."""
    return [
        f"Assessors: {ag.assessors_kept} kept of {ag.assessors_total} (BS.1534-3 post-screening). Items: "
        f"{len(ag.items)}. Conditions: {', '.join(ag.conditions)}.",
        ANCHOR_RULE_INCLUDED if ag.include_anchors else ANCHOR_RULE.capitalize() + ".",
        "Sign-adjusted: +1 = the metric orders the points as the listeners do (for lower-is-better metrics, ↓, the "
        "coefficient is multiplied by -1). System level: one point per condition (metric mean over the items vs "
        "mean score); item level: one point per item x condition (metric vs mean score over assessors).",
        "System-level intervals cover the sampling of assessors and items only, not of the systems: with few "
        "systems a high coefficient can arise by chance even inside a narrow interval.",
        f"95% CI: basic bootstrap, {ag.n_boot} resamples (seed {ag.seed}); each resample draws the kept "
        "assessors with replacement and the items with replacement, then recomputes the MUSHRA means and the "
        "coefficient; interval [2r - q97.5, 2r - q2.5] of the resampled coefficients, clipped to [-1, 1]. Metric "
        "values are computed on the whole clip; listeners heard an excerpt.",
    ]


def to_markdown(ag: Agreement) -> str:
    lines = [f"# Which metric agrees with listeners: `{ag.test_dir}` vs `{ag.run_dir}`", ""]
    lines += [f"{t}  " for t in method_text(ag)] + [""]
    for domain in ag.domains():
        rows = ag.rows(domain)
        n_items = len({i for p in ag.points if p.domain == domain for i in p.items})
        lines += [f"## {domain} ({n_items} items)", "",
                  "| metric | level | n | Pearson | Spearman | Kendall |", "|---|---|---:|---:|---:|---:|"]
        keys = list(dict.fromkeys((c.metric, c.level) for c in rows))
        for metric, level in keys:
            cs = {c.method: c for c in rows if c.metric == metric and c.level == level}
            first = cs["pearson"]
            lines.append(f"| {metric_label(metric, first.direction)} | {level} | {first.n} | "
                         + " | ".join(_fmt(cs[m]) for m in METHODS) + " |")
        lines.append("")
    foot = notes_of(ag)
    if foot:
        lines += ["Notes:", ""] + [f"- {n}" for n in foot] + [""]
    return "\n".join(lines)


def notes_of(ag: Agreement) -> list[str]:
    """The agreement's notes, then each distinct coefficient note once per level, naming its metrics and domains."""
    grouped: dict[tuple[str, str], tuple[dict[str, None], dict[str, None]]] = {}
    for c in ag.correlations:
        if c.note:
            metrics, domains = grouped.setdefault((c.level, c.note), ({}, {}))
            metrics[c.metric] = None
            domains[c.domain] = None
    lines = list(ag.notes)
    lines += [f"{level} level, {', '.join(domains)} ({', '.join(metrics)}): {note}"
              for (level, note), (metrics, domains) in grouped.items()]
    return list(dict.fromkeys(lines))


def to_csv(ag: Agreement) -> str:
    buf = io.StringIO()
    names = list(Correlation.__dataclass_fields__)
    w = csv.DictWriter(buf, fieldnames=names, lineterminator="\n")
    w.writeheader()
    for c in ag.correlations:
        w.writerow(asdict(c))
    return buf.getvalue()


def _nan_none(v: Any) -> Any:
    return None if isinstance(v, float) and math.isnan(v) else v


def to_json(ag: Agreement) -> str:
    doc = {
        "test": str(ag.test_dir), "run": str(ag.run_dir), "include_anchors": ag.include_anchors,
        "bootstrap": {"resamples": ag.n_boot, "seed": ag.seed,
                      "interval": "basic 95%: [2r - q97.5, 2r - q2.5] of the resampled coefficients, clipped to "
                                  "[-1, 1]",
                      "resampled": "kept assessors with replacement and items with replacement, independently"},
        "sign": "adjusted: +1 agrees with listeners; raw_r is the coefficient of the stored values",
        "assessors_kept": ag.assessors_kept, "assessors_total": ag.assessors_total, "conditions": ag.conditions,
        "items": ag.items, "notes": ag.notes,
        "correlations": [{k: _nan_none(v) for k, v in asdict(c).items()} for c in ag.correlations],
        "points": [{"metric": p.metric, "domain": p.domain, "items": p.items, "conditions": p.conditions,
                    "metric_values": p.x.tolist(), "mean_scores": p.y.tolist()} for p in ag.points],
    }
    return json.dumps(doc, indent=2)


def scatter_png(ag: Agreement, metric: str) -> bytes:
    """PNG: item level (left: one point per item x condition, colour = condition) and system level (right: one
    point per condition), pooled over domains when the test has several; the coefficients in the titles."""
    from matplotlib.figure import Figure  # no pyplot: no global backend state

    pts = [p for p in ag.points if p.metric == metric]
    p = next((q for q in pts if q.domain == ALL_DOMAINS), pts[0])
    from matplotlib.lines import Line2D

    fig = Figure(figsize=(10.0, 3.8), dpi=100, layout="constrained")
    ax_i, ax_s = fig.subplots(1, 2)
    domains = sorted(set(p.item_domains))
    markers = {d: m for d, m in zip(domains, "os^Dv")}
    for k, cond in enumerate(p.conditions):
        for d in domains:
            rows = [i for i, dd in enumerate(p.item_domains) if dd == d]
            ax_i.scatter(p.x[rows, k], p.y[rows, k], color=f"C{k % 10}", marker=markers[d], s=28, alpha=0.8)
        ax_s.scatter([p.x[:, k].mean()], [np.nanmean(p.y[:, k])], color=f"C{k % 10}", s=60)
        ax_s.annotate(cond, (p.x[:, k].mean(), np.nanmean(p.y[:, k])), fontsize=8, xytext=(4, 4),
                      textcoords="offset points")
    ax_s.margins(x=0.15)  # room for the condition names
    label = metric_label(metric, p.direction)
    for ax, level in ((ax_i, "item"), (ax_s, "system")):
        cs = {c.method: c for c in ag.correlations if c.metric == metric and c.domain == p.domain and c.level == level}
        rs = ", ".join(f"{m[0].upper()} {_fmt(cs[m]).split(' ')[0]}" for m in METHODS if m in cs)
        ax.set_title(f"{level} level, {p.domain}: {rs}", fontsize=9)
        ax.set_xlabel(label)
        ax.set_ylabel("mean MUSHRA score")
        ax.set_ylim(-2, 102)
        ax.grid(alpha=0.3)
        if p.direction == "lower":
            ax.invert_xaxis()  # better to the right on both axes: agreement rises to the right
    # One legend entry per condition (colour) and per domain (marker), outside the axes: it never hides a point.
    handles = [Line2D([], [], color=f"C{k % 10}", marker="o", linestyle="", label=c)
               for k, c in enumerate(p.conditions)]
    if len(domains) > 1:
        handles += [Line2D([], [], color="0.4", marker=markers[d], linestyle="", label=d) for d in domains]
    fig.legend(handles=handles, loc="outside right upper", fontsize=8, frameon=False)
    fig.suptitle(f"{label} vs listeners (sign-adjusted; x axis reversed for ↓ metrics)" if p.direction == "lower"
                 else f"{label} vs listeners", fontsize=10)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def metrics_of(ag: Agreement) -> list[str]:
    return list(dict.fromkeys(p.metric for p in ag.points))


def write_outputs(ag: Agreement, out_dir: str | Path) -> dict[str, Path]:
    """Write correlations.{md,csv,json} and scatter_<metric>.png into ``out_dir``; returns the paths by name."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, text in (("correlations.md", to_markdown(ag)), ("correlations.csv", to_csv(ag)),
                       ("correlations.json", to_json(ag))):
        (out / name).write_text(text + ("" if text.endswith("\n") else "\n"), encoding="utf-8")
        written[name] = out / name
    for metric in metrics_of(ag):
        name = f"scatter_{re.sub(r'[^A-Za-z0-9_.-]+', '-', metric)}.png"
        (out / name).write_bytes(scatter_png(ag, metric))
        written[name] = out / name
    return written
