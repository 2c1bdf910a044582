"""Post-screening of assessors (ITU-R BS.1534-3, section 4.1.2).

An assessor is excluded when, over the items (trials) they rated,

* the hidden reference got a score below 90 for MORE than 15 % of the items, or
* the mid-range anchor (``anchor70``, 7 kHz low-pass) got a score above 90 for MORE than 15 % of the items.

and, unless partial sessions are allowed, when they rated fewer test items than the test has (an assessor who rated
1 of 4 items would otherwise weigh in as fully as one who rated all).

Exactly 15 % is kept. Fractions are compared exactly (rational numbers), so 3 of 20 items is kept and 4 of 20 is
not, without floating-point surprises. An assessor is judged only on the items they rated.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any

from mushra.config import ANCHOR70, HIDDEN_REFERENCE

REFERENCE_MIN = 90.0
ANCHOR_MAX = 90.0
MAX_FRACTION = 0.15


@dataclass
class ScreeningResult:
    """One assessor's screening outcome."""

    listener: str
    n_items: int
    reference_below: int
    n_anchor_items: int
    anchor_above: int
    excluded: bool
    reasons: list[str] = field(default_factory=list)
    #: Test items (trials) this assessor rated, and how many the test has (None when not known).
    items_rated: int = 0
    items_total: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _over(count: int, n: int, max_fraction: float) -> bool:
    return n > 0 and Fraction(count, n) > Fraction(str(max_fraction))


def screen(
    ratings: Iterable[dict[str, Any]],
    *,
    reference: str = HIDDEN_REFERENCE,
    anchor: str = ANCHOR70,
    reference_min: float = REFERENCE_MIN,
    anchor_max: float = ANCHOR_MAX,
    max_fraction: float = MAX_FRACTION,
    items_total: int | None = None,
    require_all: bool = True,
) -> list[ScreeningResult]:
    """Screen every assessor in ``ratings`` (dicts with listener, trial_id, stimulus, score).

    ``items_total`` is the number of test items; with ``require_all`` an assessor who rated fewer is excluded.
    Returns one result per listener in first-appearance order.
    """
    ref_scores: dict[str, dict[str, float]] = defaultdict(dict)
    anchor_scores: dict[str, dict[str, float]] = defaultdict(dict)
    items: dict[str, set[str]] = {}
    for r in ratings:
        who = r["listener"]
        items.setdefault(who, set()).add(r["trial_id"])
        if r["stimulus"] == reference:
            ref_scores[who][r["trial_id"]] = float(r["score"])
        elif r["stimulus"] == anchor:
            anchor_scores[who][r["trial_id"]] = float(r["score"])
    out = []
    for who in items:
        refs = ref_scores.get(who, {})
        anchors = anchor_scores.get(who, {})
        below = sum(1 for s in refs.values() if s < reference_min)
        above = sum(1 for s in anchors.values() if s > anchor_max)
        reasons = []
        if _over(below, len(refs), max_fraction):
            reasons.append(f"hidden reference rated below {reference_min:g} in {below} of {len(refs)} items "
                           f"({100 * below / len(refs):.0f}% > {100 * max_fraction:g}%)")
        if _over(above, len(anchors), max_fraction):
            reasons.append(f"mid anchor ({anchor}) rated above {anchor_max:g} in {above} of {len(anchors)} items "
                           f"({100 * above / len(anchors):.0f}% > {100 * max_fraction:g}%)")
        rated = len(items[who])
        if require_all and items_total is not None and rated < items_total:
            reasons.append(f"rated {rated} of {items_total} items (all are required; --allow-partial keeps "
                           "partial sessions)")
        out.append(ScreeningResult(who, len(refs), below, len(anchors), above, bool(reasons), reasons,
                                   items_rated=rated, items_total=items_total))
    return out
