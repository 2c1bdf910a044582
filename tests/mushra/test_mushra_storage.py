"""Session storage: idempotent identical re-posts, refused different payloads under a stored uuid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mushra.storage import Storage
from mushra.validate import SubmissionError as SessionConflict
from mushra.testing import make_session, make_test_dir, webmushra_body
from mushra.validate import validate_session

FORM = "application/x-www-form-urlencoded"


def test_identical_repost_is_idempotent_different_payload_conflicts(tmp_path: Path) -> None:
    cfg = make_test_dir(tmp_path / "t", n_items=1, seconds=0.1)
    storage = Storage(tmp_path / "db.sqlite")
    s = make_session(cfg, "same", seed=1)
    assert storage.add(validate_session(s, cfg)) is True
    # The same session with its keys in another order is the same payload.
    reordered = json.loads(json.dumps(dict(reversed(list(s.items())))))
    assert storage.add(validate_session(reordered, cfg)) is False
    changed = make_session(cfg, "same", seed=2)           # other scores under the stored uuid
    with pytest.raises(SessionConflict, match="already stored with different content") as info:
        storage.add(validate_session(changed, cfg))
    assert info.value.status == 409
    assert storage.counts() == {"sessions": 1, "ratings": 10, "reposts": 1}
    assert storage.payloads() == [s]                      # the first payload is kept untouched


def test_conflicting_repost_over_http_is_a_409(tmp_path: Path) -> None:
    from mushra.app import create_app

    cfg = make_test_dir(tmp_path / "t", n_items=1, seconds=0.1)
    client = create_app(tmp_path / "t", admin_token="t").test_client()
    s = make_session(cfg, "u1", seed=1)
    for _ in range(2):
        r = client.post("/service/write.php", data=webmushra_body(s), content_type=FORM)
        assert r.status_code == 200 and r.data == b""     # webMUSHRA reads an empty 200 as success
    s["trials"][0]["responses"][0]["score"] = "1"
    r = client.post("/service/write.php", data=webmushra_body(s), content_type=FORM)
    assert r.status_code == 409
    assert r.get_data(as_text=True).strip() == ("session u1 is already stored with different content; "
                                                "a session can be sent only once")
