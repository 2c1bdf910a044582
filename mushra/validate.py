"""Parsing and validation of result submissions (webMUSHRA's session JSON).

The real front-end posts ``sessionJSON=<raw JSON text>`` as application/x-www-form-urlencoded *without*
url-encoding the JSON, so '+' and '&' inside comments or names would be mangled by a form parser: the raw body
is parsed here. A url-encoded body and application/json are accepted too.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from bench.errors import BenchError
from mushra.config import MushraPage, Page, TestConfig

#: Largest accepted request body (bytes). A complete 30-page session is ~30 kB.
MAX_BODY_BYTES = 1 << 20
MAX_TRIALS = 500
MAX_RESPONSES = 200
MAX_TEXT = 10_000
MAX_ID = 200
MAX_QUESTIONNAIRE = 100
#: Deepest nesting of lists/objects accepted. A webMUSHRA session nests about 6 levels (session, trials, trial,
#: responses, response, stimulusRating); deeper bodies are rejected before anything walks them recursively.
MAX_DEPTH = 32

_PREFIX = b"sessionJSON="
# ASCII digits only: Python's \d and float() also read "５０" (fullwidth) and "٥٠" (Arabic-Indic) as 50.
_NUMBER = re.compile(r"^\s*-?[0-9]+(\.[0-9]+)?\s*$", re.ASCII)


class SubmissionError(BenchError):
    """A rejected submission; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Rating:
    trial_id: str
    stimulus: str
    score: float
    time_ms: float | None
    comment: str | None


@dataclass
class Choice:
    """A paired-comparison answer."""

    trial_id: str
    reference: str
    non_reference: str
    answer: str
    time_ms: float | None
    comment: str | None


@dataclass
class Submission:
    """A validated session: what is stored."""

    uuid: str
    test_id: str
    participant: list[tuple[str, str]]
    ratings: list[Rating] = field(default_factory=list)
    choices: list[Choice] = field(default_factory=list)
    trial_types: dict[str, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)


def parse_body(body: bytes, content_type: str | None) -> dict[str, Any]:
    """The session mapping of a POST body.

    Raises:
        SubmissionError: body too large (413), not JSON or not a mapping (400).
    """
    if len(body) > MAX_BODY_BYTES:
        raise SubmissionError(f"request body too large ({len(body)} bytes > {MAX_BODY_BYTES})", 413)
    ctype = (content_type or "").split(";")[0].strip().lower()
    text: str | None = None
    stripped = body.lstrip()
    if ctype == "application/json" or stripped.startswith(b"{"):
        text = _decode(stripped)
    elif stripped.startswith(_PREFIX):
        raw = _decode(stripped[len(_PREFIX):])
        # The raw form first; a client that did url-encode the JSON gives text that only parses once decoded.
        for candidate in (raw, unquote_plus(raw)):
            try:
                obj = _loads(candidate)
            except ValueError:
                continue
            return _require_mapping(obj)
        raise SubmissionError("sessionJSON is not valid JSON")
    else:
        raise SubmissionError("expected a body 'sessionJSON=<json>' or a JSON object")
    try:
        obj = _loads(text)
    except ValueError as err:
        raise SubmissionError(f"body is not valid JSON ({err.msg} at char {err.pos})") from None
    return _require_mapping(obj)


def _loads(text: str) -> Any:
    """``json.loads`` that answers nesting deeper than :data:`MAX_DEPTH` with a 400 instead of a RecursionError
    (the parser recurses once per level and gives up near 1000 levels, i.e. a 2 kB body)."""
    try:
        obj = json.loads(text)
    except RecursionError:
        raise SubmissionError(f"JSON is nested too deeply (more than {MAX_DEPTH} levels)") from None
    if _depth_exceeds(obj, MAX_DEPTH):
        raise SubmissionError(f"JSON is nested too deeply (more than {MAX_DEPTH} levels)")
    return obj


def _depth_exceeds(obj: Any, limit: int) -> bool:
    """True if lists/objects in ``obj`` nest deeper than ``limit`` (iterative: no recursion on hostile input)."""
    stack = [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (list, dict)):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return False


def _decode(b: bytes) -> str:
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        raise SubmissionError("body is not UTF-8") from None


def _require_mapping(obj: Any) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise SubmissionError("session JSON must be an object")
    return obj


def _require(obj: dict[str, Any], keys: tuple[str, ...], where: str = "") -> None:
    """Raise :class:`SubmissionError` naming the first of ``keys`` missing from ``obj``."""
    for key in keys:
        if key not in obj:
            raise SubmissionError(f"{where}: missing field '{key}'" if where else f"missing field '{key}'")


def _text(v: Any, what: str, *, limit: int = MAX_TEXT, allow_none: bool = False) -> str | None:
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, (str, int, float)):
        raise SubmissionError(f"{what} must be a string")
    s = str(v)
    if len(s) > limit:
        raise SubmissionError(f"{what} is too long ({len(s)} > {limit} characters)")
    return s


def parse_score(v: Any, what: str) -> float:
    """A 0..100 score from a number or a string of ASCII digits (as webMUSHRA sends it, e.g. "40").

    Messages quote the value as sent: "score -1 is outside 0..100", "score 100.0001 is outside 0..100".
    """
    if isinstance(v, bool):
        raise SubmissionError(f"{what}: score must be a number, got {v!r}")
    if isinstance(v, str):
        if not _NUMBER.match(v):
            raise SubmissionError(f"{what}: score {v[:20]!r} is not a number (ASCII digits expected)")
        shown = v.strip()
        x = float(shown)
    elif isinstance(v, (int, float)):
        x = float(v)
        shown = str(v) if isinstance(v, int) else repr(x)
    else:
        raise SubmissionError(f"{what}: score must be a number")
    if not math.isfinite(x):
        raise SubmissionError(f"{what}: score {shown[:20]} is not a finite number")
    if x < 0 or x > 100:
        if len(shown) > 20:
            shown = shown[:20] + "..."
        raise SubmissionError(f"{what}: score {shown} is outside 0..100")
    return x


def _time(v: Any, what: str) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool):
        raise SubmissionError(f"{what}: time must be a number of milliseconds")
    try:
        t = float(v)
    except (TypeError, ValueError):
        raise SubmissionError(f"{what}: time must be a number of milliseconds") from None
    if not math.isfinite(t) or t < 0:
        raise SubmissionError(f"{what}: time {v!r} is not a non-negative number")
    return t


def validate_session(obj: dict[str, Any], cfg: TestConfig, *, training: Collection[str] = ()) -> Submission:
    """Check a session against the test's config; raise :class:`SubmissionError` (400/422) on any problem.

    ``training`` names the training page(s) (from a built test's manifest): a session must hold at least one rated
    trial of another page, so that a session of only the training page (or no trial at all) is refused.
    """
    _require(obj, ("testId", "uuid", "trials"))
    test_id = _text(obj["testId"], "testId", limit=MAX_ID)
    if test_id != cfg.testId:
        raise SubmissionError(f"unknown testId '{test_id}' (this server runs '{cfg.testId}')", 422)
    uuid = _text(obj["uuid"], "uuid", limit=MAX_ID)
    if not uuid or not uuid.strip():
        raise SubmissionError("uuid is empty")

    pairs = _questionnaire(obj.get("participant"), cfg)
    trials = obj["trials"]
    if not isinstance(trials, list):
        raise SubmissionError("trials must be a list")
    if len(trials) > MAX_TRIALS:
        raise SubmissionError(f"too many trials ({len(trials)})")
    sub = Submission(uuid=uuid, test_id=test_id, participant=pairs, raw=obj)
    for i, trial in enumerate(trials):
        if not isinstance(trial, dict):
            raise SubmissionError(f"trials[{i}] must be an object")
        _require(trial, ("id", "type", "responses"), f"trials[{i}]")
        tid = _text(trial["id"], f"trials[{i}].id", limit=MAX_ID)
        ttype = _text(trial["type"], f"trials[{i}].type", limit=MAX_ID)
        if tid in sub.trial_types:
            raise SubmissionError(f"trial '{tid}' appears twice")
        page = cfg.page(tid)
        if page is None:
            raise SubmissionError(f"unknown trial id '{tid}'", 422)
        if page.type != ttype:
            raise SubmissionError(f"trial '{tid}' is a {page.type} page, not {ttype}", 422)
        resp = trial["responses"]
        if not isinstance(resp, list):
            raise SubmissionError(f"trial '{tid}': responses must be a list")
        if len(resp) > MAX_RESPONSES:
            raise SubmissionError(f"trial '{tid}': too many responses ({len(resp)})")
        sub.trial_types[tid] = ttype
        if isinstance(page, MushraPage):
            sub.ratings.extend(_mushra_ratings(tid, resp, page))
        elif ttype == "paired_comparison":
            sub.choices.extend(_choices(tid, resp, page))
        # Other page types (likert, bs1116, ...) are kept in the stored raw session only.
    _require_test_trial(sub, cfg, set(training), trials)
    return sub


def _require_test_trial(sub: Submission, cfg: TestConfig, training: set[str], trials: list[Any]) -> None:
    """Refuse a session without a rated trial outside the training page (a mushra one if the test has mushra
    pages): it carries nothing to analyse."""
    test_mushra = [p.id for p in cfg.mushra_pages() if p.id not in training]
    if test_mushra:
        rated = {r.trial_id for r in sub.ratings} - training
        if not rated:
            only = " (only the training page)" if sub.ratings else ""
            raise SubmissionError(f"session has no rated MUSHRA test trial{only}", 422)
        return
    answered = [t["id"] for t in trials if str(t["id"]) not in training and t["responses"]]
    if not answered:
        raise SubmissionError("session has no answered test trial", 422)


def _questionnaire(participant: Any, cfg: TestConfig) -> list[tuple[str, str]]:
    """The (name, answer) pairs of the finish-page questionnaire, checked against the config's items.

    Only names the config defines are accepted (each once); every item not marked ``optional: true`` needs a
    non-empty answer; a likert answer must be one of its configured values. Unanswered optional items arrive as
    null from webMUSHRA (stored as ""). Answers are stored exactly as sent.
    """
    participant = participant or {}
    if not isinstance(participant, dict):
        raise SubmissionError("participant must be an object")
    names = participant.get("name") or []
    responses = participant.get("response") or []
    if not isinstance(names, list) or not isinstance(responses, list):
        raise SubmissionError("participant.name and participant.response must be lists")
    if len(names) != len(responses):
        raise SubmissionError("participant.name and participant.response differ in length")
    if len(names) > MAX_QUESTIONNAIRE:
        raise SubmissionError(f"too many questionnaire answers ({len(names)})")
    items = {str(q["name"]): q for q in cfg.questionnaire() if q.get("name") is not None}
    answers: dict[str, str | None] = {}
    for n, r in zip(names, responses):
        name = _text(n, "participant.name", limit=MAX_ID) or ""
        if name not in items:
            raise SubmissionError(f"unknown questionnaire item '{name[:40]}'", 422)
        if name in answers:
            raise SubmissionError(f"questionnaire item '{name}' answered twice", 422)
        if isinstance(r, (list, dict)):
            raise SubmissionError(f"questionnaire item '{name}': answer must be a string")
        answers[name] = _text(r, f"questionnaire item '{name}'", allow_none=True)
    for name, q in items.items():
        value = answers.get(name)
        if value is None or not value.strip():
            if q.get("optional") is not True:
                raise SubmissionError(f"questionnaire item '{name}' is required but was not answered", 422)
            continue
        if q.get("type") == "likert":
            allowed = [str(o.get("value")) if isinstance(o, dict) else str(o) for o in q.get("response") or []]
            if value not in allowed:
                raise SubmissionError(f"questionnaire item '{name}': {value[:40]!r} is not one of its choices "
                                      f"({', '.join(allowed)})", 422)
    return [(name, answers[name] or "") for name in answers]


def _mushra_ratings(tid: str, resp: list[Any], page: MushraPage) -> list[Rating]:
    allowed = page.conditions()
    out: list[Rating] = []
    seen: set[str] = set()
    for j, r in enumerate(resp):
        where = f"trial '{tid}' response {j}"
        if not isinstance(r, dict):
            raise SubmissionError(f"{where} must be an object")
        _require(r, ("stimulus", "score"), where)
        stim = _text(r["stimulus"], f"{where}.stimulus", limit=MAX_ID)
        if stim not in allowed:
            raise SubmissionError(f"{where}: unknown stimulus '{stim}'", 422)
        if stim in seen:
            raise SubmissionError(f"{where}: stimulus '{stim}' rated twice", 422)
        seen.add(stim)
        out.append(Rating(tid, stim, parse_score(r["score"], where), _time(r.get("time"), where),
                          _text(r.get("comment"), f"{where}.comment", allow_none=True)))
    missing = [c for c in allowed if c not in seen]
    if missing:
        raise SubmissionError(f"trial '{tid}': no rating for {', '.join(missing)}", 422)
    return out


def _choices(tid: str, resp: list[Any], page: Page) -> list[Choice]:
    stimuli = page.data.get("stimuli") or {}
    allowed = {"reference", *(stimuli if isinstance(stimuli, dict) else [])}
    out: list[Choice] = []
    for j, r in enumerate(resp):
        where = f"trial '{tid}' response {j}"
        if not isinstance(r, dict):
            raise SubmissionError(f"{where} must be an object")
        _require(r, ("reference", "nonReference", "answer"), where)
        ref = _text(r["reference"], f"{where}.reference", limit=MAX_ID)
        non = _text(r["nonReference"], f"{where}.nonReference", limit=MAX_ID)
        for s in (ref, non):
            if s not in allowed:
                raise SubmissionError(f"{where}: unknown stimulus '{s}'", 422)
        out.append(Choice(tid, ref, non, _text(r["answer"], f"{where}.answer", limit=MAX_ID) or "",
                          _time(r.get("time"), where), _text(r.get("comment"), f"{where}.comment", allow_none=True)))
    return out
