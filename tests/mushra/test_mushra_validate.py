"""Body parsing and session validation (no server)."""

from __future__ import annotations

import json
import re
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
                                   "1e400", "\uff15\uff10", "\u0665\u0660", "5\u0660", "\u00b2"])
def test_scores_rejected(value) -> None:
    with pytest.raises(SubmissionError):
        parse_score(value, "x")


@pytest.mark.parametrize("value", ["\uff15\uff10", "\u0665\u0660", "\u09ea\u09e6"])   # fullwidth, Arabic-Indic, Bengali 50
def test_non_ascii_digits_are_not_read_as_numbers(value: str) -> None:
    with pytest.raises(SubmissionError, match="is not a number"):
        parse_score(value, "x")


@pytest.mark.parametrize("value, shown", [("-1", "-1"), (-1, "-1"), ("100.0001", "100.0001"), (100.0001, "100.0001"),
                                          ("101", "101"), (-0.5, "-0.5"), ("1" * 30, "1" * 20 + "...")])
def test_out_of_range_messages_quote_the_value(value, shown: str) -> None:
    with pytest.raises(SubmissionError) as info:
        parse_score(value, "x")
    assert str(info.value) == f"x: score {shown} is outside 0..100"


@pytest.mark.parametrize("depth", [40, 1000, 100_000])
def test_deeply_nested_json_is_a_400(depth: int) -> None:
    nested = "[" * depth + "]" * depth
    for body in (("sessionJSON={\"a\":" + nested + "}").encode(), ("{\"a\":" + nested + "}").encode()):
        with pytest.raises(SubmissionError, match="nested too deeply") as info:
            parse_body(body, "application/x-www-form-urlencoded")
        assert info.value.status == 400


def test_deeply_nested_json_over_http_is_a_400_not_a_500(tmp_path: Path) -> None:
    from mushra.app import create_app

    make_test_dir(tmp_path, n_items=1, seconds=0.1)
    client = create_app(tmp_path, admin_token="t").test_client()
    body = b"sessionJSON=" + b"[" * 1000 + b"]" * 1000   # a 2 kB body
    r = client.post("/service/write.php", data=body, content_type="application/x-www-form-urlencoded")
    assert r.status_code == 400
    assert r.get_data(as_text=True).strip() == "JSON is nested too deeply (more than 32 levels)"


def test_validate_complete_session(tmp_path: Path) -> None:
    cfg = make_test_dir(tmp_path, n_items=2, seconds=0.1)
    sub = validate_session(make_session(cfg, "u1", comment=None), cfg)
    assert sub.uuid == "u1"
    assert len(sub.ratings) == 3 * 5  # training + 2 items, 5 conditions each
    assert all(r.comment is None for r in sub.ratings)
    assert sub.participant == [("age", "30"), ("comments", "")]


def _finish(questionnaire: list[dict]) -> "TestConfig":
    from mushra.config import TestConfig

    return TestConfig.from_dict({"testname": "q", "testId": "q", "pages": [
        {"type": "mushra", "id": "i1", "name": "M", "content": "", "reference": "r.wav", "stimuli": {"C1": "c.wav"}},
        {"type": "finish", "name": "F", "content": "", "questionnaire": questionnaire}]})


QUESTIONS = [{"type": "number", "name": "age", "label": "Age"},
             {"type": "likert", "name": "phones", "label": "With?",
              "response": [{"value": "closed", "label": "Closed"}, {"value": 2, "label": "Two"}]},
             {"type": "long_text", "name": "comments", "label": "Comments (optional)", "optional": True}]


def _q_session(names: list, answers: list) -> dict:
    return {"testId": "q", "uuid": "u", "participant": {"name": names, "response": answers}, "trials": [
        {"id": "i1", "type": "mushra", "responses": [{"stimulus": "C1", "score": "50"},
                                                      {"stimulus": "reference", "score": "100"}]}]}


def test_questionnaire_names_required_answers_and_choices() -> None:
    cfg = _finish(QUESTIONS)
    ok = validate_session(_q_session(["age", "phones", "comments"], ["31", "closed", None]), cfg)
    assert ok.participant == [("age", "31"), ("phones", "closed"), ("comments", "")]
    # A numeric likert value arrives as a string; an optional item may be left out.
    assert validate_session(_q_session(["age", "phones"], ["31", "2"]), cfg).participant[1] == ("phones", "2")
    # Answers are stored as sent (formula-looking text included; the CSV export neutralises it).
    sub = validate_session(_q_session(["age", "phones", "comments"], ["31", "closed", '=HYPERLINK("x")']), cfg)
    assert sub.participant[2] == ("comments", '=HYPERLINK("x")')
    bad = {
        "unknown questionnaire item 'extra0'": (["age", "phones", "extra0"], ["1", "closed", "x"]),
        "questionnaire item 'age' is required but was not answered": (["age", "phones"], [None, "closed"]),
        "questionnaire item 'phones' is required but was not answered": (["age"], ["31"]),
        "'maybe' is not one of its choices": (["age", "phones"], ["31", "maybe"]),
        "answered twice": (["age", "age", "phones"], ["1", "2", "closed"]),
        "questionnaire item 'age' is required": (["age", "phones"], ["  ", "closed"]),
    }
    for message, (names, answers) in bad.items():
        with pytest.raises(SubmissionError, match=re.escape(message)):
            validate_session(_q_session(names, answers), cfg)


def test_made_up_questionnaire_names_are_refused(tmp_path: Path) -> None:
    cfg = make_test_dir(tmp_path, n_items=1, seconds=0.1)
    s = make_session(cfg, "u1")
    s["participant"]["name"] += [f"q{i}" for i in range(100)]
    s["participant"]["response"] += ["x"] * 100
    with pytest.raises(SubmissionError, match="too many questionnaire answers|unknown questionnaire item"):
        validate_session(s, cfg)
    s["participant"]["name"] = s["participant"]["name"][:12]
    s["participant"]["response"] = s["participant"]["response"][:12]
    with pytest.raises(SubmissionError, match="unknown questionnaire item 'q0'") as info:
        validate_session(s, cfg)
    assert info.value.status == 422


def test_session_needs_a_rated_test_trial(tmp_path: Path) -> None:
    cfg = make_test_dir(tmp_path, n_items=2, seconds=0.1)
    s = make_session(cfg, "u1")
    s["trials"] = []
    with pytest.raises(SubmissionError, match="no rated MUSHRA test trial") as info:
        validate_session(s, cfg, training={"training"})
    assert info.value.status == 422
    s = make_session(cfg, "u2")
    s["trials"] = [t for t in s["trials"] if t["id"] == "training"]
    with pytest.raises(SubmissionError, match=re.escape("no rated MUSHRA test trial (only the training page)")):
        validate_session(s, cfg, training={"training"})
    # One rated test item is a valid (partial) session: the analysis decides whether to keep it.
    s = make_session(cfg, "u3")
    s["trials"] = [t for t in s["trials"] if t["id"] in ("training", "item01")]
    assert {r.trial_id for r in validate_session(s, cfg, training={"training"}).ratings} == {"training", "item01"}


def test_training_only_session_refused_over_http(tmp_path: Path) -> None:
    from mushra.app import create_app

    cfg = make_test_dir(tmp_path, n_items=1, seconds=0.1)
    client = create_app(tmp_path, admin_token="t").test_client()
    s = make_session(cfg, "u1")
    s["trials"] = [t for t in s["trials"] if t["id"] == "training"]
    r = client.post("/service/write.php", data=webmushra_body(s), content_type="application/x-www-form-urlencoded")
    assert r.status_code == 422 and "only the training page" in r.get_data(as_text=True)


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
