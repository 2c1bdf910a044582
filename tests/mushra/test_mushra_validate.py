"""Body parsing and session validation (no server)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote_plus

import pytest

from mushra.testing import make_session, make_test_dir, webmushra_body
from mushra.validate import MAX_BODY_BYTES, SubmissionError, parse_body, parse_score, validate_session

TRICKY = "a+b & c=d %41 ✓ ünïcødé \"q\" \n line"


def test_raw_form_body_keeps_plus_ampersand_equals_unicode() -> None:
    session = {"testId": "t", "uuid": "u", "trials": [], "participant": {"name": ["n+&="], "response": [TRICKY]}}
    parsed = parse_body(webmushra_body(session), "application/x-www-form-urlencoded; charset=UTF-8")
    assert parsed == session


def test_url_encoded_and_json_bodies() -> None:
    session = {"testId": "t", "uuid": "u", "trials": [], "comment": TRICKY}
    text = json.dumps(session, ensure_ascii=False)
    assert parse_body(("sessionJSON=" + quote_plus(text)).encode(), "application/x-www-form-urlencoded") == session
    assert parse_body(text.encode(), "application/json") == session


@pytest.mark.parametrize("body, status", [
    (b"sessionJSON={not json", 400),
    (b"sessionJSON=[1,2]", 400),
    (b"hello=world", 400),
    (b"", 400),
    (b"sessionJSON=\xff\xfe", 400),
    (b"sessionJSON=" + b"{\"a\": \"" + b"x" * MAX_BODY_BYTES + b"\"}", 413),
])
def test_malformed_bodies(body: bytes, status: int) -> None:
    with pytest.raises(SubmissionError) as info:
        parse_body(body, "application/x-www-form-urlencoded")
    assert info.value.status == status


@pytest.mark.parametrize("value, expected", [("40", 40.0), ("0", 0.0), ("100", 100.0), (55, 55.0), (72.5, 72.5),
                                             (" 7 ", 7.0)])
def test_scores_accepted(value, expected: float) -> None:
    assert parse_score(value, "x") == expected


@pytest.mark.parametrize("value", ["101", "-1", 101, -1, -0.5, "abc", "4e1", "", None, True, float("nan"), [40],
                                   "1e400"])
def test_scores_rejected(value) -> None:
    with pytest.raises(SubmissionError):
        parse_score(value, "x")


def test_validate_complete_session(tmp_path: Path) -> None:
    cfg = make_test_dir(tmp_path, n_items=2, seconds=0.1)
    sub = validate_session(make_session(cfg, "u1", comment=None), cfg)
    assert sub.uuid == "u1"
    assert len(sub.ratings) == 3 * 5  # training + 2 items, 5 conditions each
    assert all(r.comment is None for r in sub.ratings)
    assert sub.participant == [("age", "30"), ("comments", "")]


def test_validate_requires_every_condition(tmp_path: Path) -> None:
    cfg = make_test_dir(tmp_path, n_items=1, seconds=0.1)
    s = make_session(cfg, "u1")
    s["trials"][0]["responses"].pop()
    with pytest.raises(SubmissionError, match="no rating for"):
        validate_session(s, cfg)


def test_paired_comparison_and_other_trials() -> None:
    from mushra.config import TestConfig

    cfg = TestConfig.from_dict({"testname": "x", "testId": "pc", "pages": [
        {"type": "paired_comparison", "id": "pc1", "name": "PC", "content": "", "reference": "r.wav",
         "stimuli": {"C1": "c1.wav", "C2": "c2.wav"}},
        {"type": "likert_single_stimulus", "id": "lss", "name": "L", "content": "", "stimuli": {"C1": "c1.wav"}}]})
    s = {"testId": "pc", "uuid": "u", "participant": {"name": [], "response": []}, "trials": [
        {"id": "pc1", "type": "paired_comparison", "responses": [
            {"reference": "reference", "nonReference": "C1", "answer": "reference", "comment": "a+b", "time": 5}]},
        {"id": "lss", "type": "likert_single_stimulus", "responses": [{"stimulus": "C1", "stimulusRating": "3"}]}]}
    sub = validate_session(s, cfg)
    assert [(c.reference, c.non_reference, c.answer, c.comment) for c in sub.choices] == \
        [("reference", "C1", "reference", "a+b")]
    assert sub.trial_types == {"pc1": "paired_comparison", "lss": "likert_single_stimulus"}
    s["trials"][0]["responses"][0]["nonReference"] = "C9"
    with pytest.raises(SubmissionError, match="unknown stimulus"):
        validate_session(s, cfg)
