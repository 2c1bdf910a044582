"""The Flask app: results endpoint, validation rejects, idempotency, audio serving, admin pages."""

from __future__ import annotations

import copy
import csv
import io
import json
import os
from pathlib import Path

import pytest

from mushra.app import create_app
from mushra.storage import Storage
from mushra.testing import make_session, make_test_dir, webmushra_body

FORM = "application/x-www-form-urlencoded; charset=UTF-8"
TRICKY = "a+b & c=d %20 ✓ ünïcødé \"q\""


@pytest.fixture()
def setup(tmp_path: Path):
    cfg = make_test_dir(tmp_path / "test", n_items=2, seconds=0.3)
    app = create_app(tmp_path / "test", admin_token="secret-token")
    return cfg, app, app.test_client(), Storage(app.config["DB_PATH"])


def test_post_stores_exact_text(setup) -> None:
    cfg, _, client, storage = setup
    s = make_session(cfg, "uuid-1", comment=TRICKY, name="Zoë + Ålf & co=1")
    r = client.post("/service/write.php", data=webmushra_body(s), content_type=FORM)
    assert r.status_code == 200 and r.data == b""
    rows = storage.ratings()
    assert len(rows) == 3 * 5
    assert {row["comment"] for row in rows} == {TRICKY}
    assert storage.sessions()[0]["participant"] == [("age", "30"), ("comments", "Zoë + Ålf & co=1")]
    sent = {(t["id"], x["stimulus"]): float(x["score"]) for t in s["trials"] for x in t["responses"]}
    assert {(row["trial_id"], row["stimulus"]): row["score"] for row in rows} == sent


def test_api_results_and_json_content_type(setup) -> None:
    cfg, _, client, storage = setup
    s = make_session(cfg, "uuid-json")
    for t in s["trials"]:
        for x in t["responses"]:
            x["score"] = int(x["score"])  # numbers are accepted as well as strings
    r = client.post("/api/results", data=json.dumps(s), content_type="application/json")
    assert r.status_code == 200 and r.data == b""
    assert storage.counts()["sessions"] == 1


def test_idempotent_by_uuid(setup) -> None:
    cfg, _, client, storage = setup
    s = make_session(cfg, "same")
    for _ in range(3):
        r = client.post("/service/write.php", data=webmushra_body(s), content_type=FORM)
        assert r.status_code == 200 and r.data == b""
    assert storage.counts() == {"sessions": 1, "ratings": 15, "reposts": 2}


def _mutations():
    def score(v):
        def f(s):
            s["trials"][1]["responses"][1]["score"] = v
        return f

    def stim(s):
        s["trials"][1]["responses"][1]["stimulus"] = "not_a_condition"

    def test_id(s):
        s["testId"] = "other-test"

    def trial(s):
        s["trials"][1]["id"] = "item99"

    def drop(key):
        return lambda s: s.pop(key)

    def drop_resp_field(s):
        del s["trials"][0]["responses"][0]["score"]

    def dup_trial(s):
        s["trials"].append(copy.deepcopy(s["trials"][0]))

    def wrong_type(s):
        s["trials"][0]["type"] = "paired_comparison"

    def long_comment(s):
        s["trials"][0]["responses"][0]["comment"] = "x" * 20_000

    return {
        "score 101": score("101"), "score -1": score("-1"), "score text": score("good"), "score bool": score(True),
        "unknown stimulus": stim, "unknown testId": test_id, "unknown trial": trial, "no uuid": drop("uuid"),
        "no trials": drop("trials"), "no testId": drop("testId"), "no score": drop_resp_field,
        "trial twice": dup_trial, "wrong trial type": wrong_type, "comment too long": long_comment,
    }


@pytest.mark.parametrize("name", sorted(_mutations()))
def test_rejects_invalid_sessions_and_stores_nothing(setup, name: str) -> None:
    cfg, _, client, storage = setup
    s = make_session(cfg, f"bad-{name}")
    _mutations()[name](s)
    r = client.post("/service/write.php", data=webmushra_body(s), content_type=FORM)
    assert 400 <= r.status_code < 500, r.data
    assert r.data.strip() and r.mimetype == "text/plain"
    assert storage.counts() == {"sessions": 0, "ratings": 0, "reposts": 0}


@pytest.mark.parametrize("body", [b"sessionJSON={broken", b"garbage", b"sessionJSON=" + b"[" * 10])
def test_rejects_malformed_bodies(setup, body: bytes) -> None:
    _, _, client, storage = setup
    r = client.post("/service/write.php", data=body, content_type=FORM)
    assert r.status_code == 400
    assert storage.counts()["sessions"] == 0


def test_rejects_oversized_body(setup) -> None:
    cfg, _, client, storage = setup
    s = make_session(cfg, "big")
    s["padding"] = "x" * (2 << 20)
    r = client.post("/service/write.php", data=webmushra_body(s), content_type=FORM)
    assert r.status_code == 413
    assert storage.counts()["sessions"] == 0


def test_api_config_rewrites_audio_urls(setup) -> None:
    cfg, _, client, _ = setup
    r = client.get("/api/config")
    assert r.status_code == 200
    d = r.get_json()
    assert d["testId"] == cfg.testId and d["remoteService"] == "service/write.php"
    assert d["pages"][1][0] == "random"
    page = d["pages"][1][1]
    assert page["reference"].startswith("audio/audio/item")  # relative: works under a URL prefix
    assert all(v.startswith("audio/") for v in page["stimuli"].values())
    assert d["configFile"].endswith(".yaml")
    assert client.get("/" + page["stimuli"]["voc_a"]).status_code == 200


def test_audio_range_requests_and_type(setup) -> None:
    _, app, client, _ = setup
    url = "/audio/audio/item01/voc_a.wav"
    full = client.get(url)
    assert full.status_code == 200 and full.mimetype == "audio/wav"
    assert full.headers["Accept-Ranges"] == "bytes"
    size = len(full.data)
    part = client.get(url, headers={"Range": "bytes=10-99"})
    assert part.status_code == 206
    assert part.data == full.data[10:100]
    assert part.headers["Content-Range"] == f"bytes 10-99/{size}"
    tail = client.get(url, headers={"Range": "bytes=-16"})
    assert tail.status_code == 206 and tail.data == full.data[-16:]
    assert client.get(url, headers={"Range": f"bytes={size + 10}-"}).status_code == 416


def test_path_traversal_rejected(setup, tmp_path: Path) -> None:
    _, app, client, _ = setup
    secret = tmp_path / "secret.wav"
    secret.write_bytes(b"RIFF secret")
    test_dir = Path(app.config["TEST_DIR"])
    os.symlink(secret, test_dir / "audio" / "link.wav")
    for url in ["/audio/../secret.wav", "/audio/%2e%2e/secret.wav", "/audio/audio/..%2f..%2fsecret.wav",
                f"/audio/{secret}", "/audio//etc/passwd", "/audio/audio/link.wav", "/audio/config.yaml",
                "/audio/results/synthetic.sqlite", "/audio/audio\\item01\\voc_a.wav"]:
        r = client.get(url)
        assert 400 <= r.status_code < 500, url
        assert b"secret" not in r.data


def test_admin_requires_token(setup) -> None:
    cfg, _, client, _ = setup
    client.post("/service/write.php", data=webmushra_body(make_session(cfg, "u")), content_type=FORM)
    for path in ["/admin", "/admin/screening", "/admin/stats", "/admin/boxplot.png", "/admin/mushra.csv",
                 "/admin/results.json"]:
        assert client.get(path).status_code == 401
        assert client.get(path + "?token=wrong").status_code == 401
        assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get(path + "?token=secret-token").status_code == 200, path
        assert client.get(path, headers={"Authorization": "Bearer secret-token"}).status_code == 200, path
    png = client.get("/admin/boxplot.png?token=secret-token")
    assert png.mimetype == "image/png" and png.data[:8] == b"\x89PNG\r\n\x1a\n"
    page = client.get("/admin?token=secret-token").get_data(as_text=True)
    assert "<code>u</code>" in page and "token=secret-token" in page


def test_generated_admin_token(tmp_path: Path) -> None:
    make_test_dir(tmp_path / "t", n_items=1, seconds=0.1)
    app = create_app(tmp_path / "t")
    assert len(app.config["ADMIN_TOKEN"]) >= 20


def test_csv_layout(setup) -> None:
    cfg, _, client, _ = setup
    s = make_session(cfg, "u-csv", comment=TRICKY, name="hello, world")
    client.post("/service/write.php", data=webmushra_body(s), content_type=FORM)
    text = client.get("/admin/mushra.csv", headers={"Authorization": "Bearer secret-token"}).get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["session_test_id", "age", "comments", "session_uuid", "trial_id", "rating_stimulus",
                       "rating_score", "rating_time", "rating_comment"]
    assert len(rows) == 1 + 15
    first = s["trials"][0]["responses"][0]
    assert rows[1] == [cfg.testId, "30", "hello, world", "u-csv", s["trials"][0]["id"], first["stimulus"],
                       first["score"], str(first["time"]), TRICKY]
    doc = json.loads(client.get("/admin/results.json?token=secret-token").data)
    assert doc["sessions"][0] == s


def test_serves_unmodified_webmushra_folder(tmp_path: Path) -> None:
    wm = tmp_path / "webMUSHRA"
    (wm / "lib").mkdir(parents=True)
    (wm / "index.html").write_text("<html>webMUSHRA</html>")
    (wm / "lib" / "app.js").write_text("var x = 1;")
    (wm / "service").mkdir()
    (wm / "service" / "write.php").write_text("<?php secret ?>")
    cfg = make_test_dir(tmp_path / "t", n_items=1, seconds=0.1)
    client = create_app(tmp_path / "t", admin_token="t", webmushra_dir=wm).test_client()
    assert b"webMUSHRA" in client.get("/").data
    assert client.get("/lib/app.js").data == b"var x = 1;"
    assert client.get("/service/write.php").status_code in (404, 405)
    (wm / "results" / "x").mkdir(parents=True)
    (wm / "results" / "x" / "mushra.csv").write_text("private")
    (wm / ".git").mkdir()
    (wm / ".git" / "config").write_text("private")
    for private in ("/results/x/mushra.csv", "/.git/config", "/service/write.php"):
        assert client.get(private).status_code == 404, private
    y = client.get("/configs/config.yaml")
    assert y.status_code == 200 and b"testId: synthetic" in y.data
    assert client.get("/audio/training/reference.wav").mimetype == "audio/wav"
    r = client.post("/service/write.php", data=webmushra_body(make_session(cfg, "w")), content_type=FORM)
    assert r.status_code == 200 and r.data == b""


def test_serves_webmushra_config_folder_as_is(tmp_path: Path) -> None:
    """A webMUSHRA-layout folder: configs/<name>.yaml with paths relative to the folder root."""
    from bench.audio import save_audio
    import numpy as np

    root = tmp_path / "wm"
    for n in ("mono_ref", "mono_c1"):
        save_audio(root / "configs" / "resources" / "audio" / f"{n}.wav", np.zeros(800, np.float32) + 0.1, 8000)
    (root / "configs" / "mine.yaml").write_text(
        "testname: X\ntestId: x1\nbufferSize: 2048\nstopOnErrors: true\nshowButtonPreviousPage: true\n"
        "remoteService: service/write.php\npages:\n  - type: mushra\n    id: t1\n    name: M\n    content: c\n"
        "    reference: configs/resources/audio/mono_ref.wav\n    createAnchor35: true\n    createAnchor70: false\n"
        "    stimuli:\n      C1: configs/resources/audio/mono_c1.wav\n")
    client = create_app(root, admin_token="t").test_client()
    d = client.get("/api/config").get_json()
    assert d["pages"][0]["stimuli"]["C1"] == "audio/configs/resources/audio/mono_c1.wav"
    assert client.get("/" + d["pages"][0]["reference"]).status_code == 200
    s = {"testId": "x1", "uuid": "a", "participant": {"name": [], "response": []},
         "trials": [{"id": "t1", "type": "mushra", "responses": [
             {"stimulus": c, "score": "50", "comment": None, "time": 10} for c in ("C1", "reference", "anchor35")]}]}
    assert client.post("/service/write.php", data=webmushra_body(s), content_type=FORM).status_code == 200


def test_missing_audio_is_a_config_error(tmp_path: Path) -> None:
    from mushra.config import ConfigError

    make_test_dir(tmp_path / "t", n_items=1, seconds=0.1)
    (tmp_path / "t" / "audio" / "item01" / "voc_a.wav").unlink()
    with pytest.raises(ConfigError, match="voc_a.wav"):
        create_app(tmp_path / "t")


def test_admin_pages_before_any_submission(setup) -> None:
    _, _, client, _ = setup
    for path in ["/admin", "/admin/screening", "/admin/stats", "/admin/boxplot.png", "/admin/mushra.csv",
                 "/admin/results.json"]:
        assert client.get(path + "?token=secret-token").status_code == 200, path
    assert client.get("/admin/mushra.csv?token=secret-token").get_data(as_text=True).count("\n") == 1


# -- who may submit: origin check, rate limit, rejects log (issue 10 item 5) ---------------------------------
OWN = "http://localhost"  # the Flask test client's host


def _post(client, session: dict, headers: dict | None = None, addr: str = "192.0.2.1"):
    return client.post("/service/write.php", data=webmushra_body(session), content_type=FORM,
                       headers=headers or {}, environ_base={"REMOTE_ADDR": addr})


def test_cross_site_form_post_is_rejected(setup) -> None:
    cfg, _, client, storage = setup
    forged = make_session(cfg, "forged")
    r = _post(client, forged, {"Origin": "https://evil.example"})
    assert r.status_code == 403 and b"https://evil.example" in r.data
    # A page that hides its origin (sandboxed frame, data: URL) sends "null": refused too.
    assert _post(client, make_session(cfg, "forged2"), {"Origin": "null"}).status_code == 403
    # Without Origin the Referer decides.
    assert _post(client, make_session(cfg, "forged3"), {"Referer": "https://evil.example/x.html"}).status_code == 403
    assert storage.counts()["sessions"] == 0


def test_same_origin_post_is_accepted(setup) -> None:
    cfg, _, client, storage = setup
    assert _post(client, make_session(cfg, "a"), {"Origin": OWN}).status_code == 200
    assert _post(client, make_session(cfg, "b"), {"Origin": OWN + ":80"}).status_code == 200  # default port
    assert _post(client, make_session(cfg, "c"), {"Referer": OWN + "/?config=x.yaml"}).status_code == 200
    # No Origin and no Referer: not a browser's cross-site POST (see OriginPolicy); accepted by default.
    assert _post(client, make_session(cfg, "d")).status_code == 200
    assert storage.counts()["sessions"] == 4


def test_require_origin_and_allowed_origins(tmp_path: Path) -> None:
    cfg = make_test_dir(tmp_path / "t", n_items=1, seconds=0.1)
    app = create_app(tmp_path / "t", admin_token="t", require_origin=True,
                     allow_origins=["https://listen.example.org"])
    client = app.test_client()
    assert _post(client, make_session(cfg, "none")).status_code == 403
    r = _post(client, make_session(cfg, "other"), {"Origin": "https://listen.example.org"})
    assert r.status_code == 200 and r.headers["Access-Control-Allow-Origin"] == "https://listen.example.org"
    assert _post(client, make_session(cfg, "own"), {"Origin": OWN}).status_code == 200
    assert "Access-Control-Allow-Origin" not in _post(client, make_session(cfg, "own2"), {"Origin": OWN}).headers
    pre = client.options("/service/write.php", headers={"Origin": "https://listen.example.org",
                                                          "Access-Control-Request-Method": "POST"})
    assert pre.headers["Access-Control-Allow-Origin"] == "https://listen.example.org"
    assert "POST" in pre.headers["Access-Control-Allow-Methods"]
    from mushra.config import ConfigError

    with pytest.raises(ConfigError, match="allow-origin"):
        create_app(tmp_path / "t", allow_origins=["listen.example.org/path"])


def test_rate_limit_per_address_with_retry_after(tmp_path: Path) -> None:
    cfg = make_test_dir(tmp_path / "t", n_items=1, seconds=0.1)
    client = create_app(tmp_path / "t", admin_token="t", rate_limit=(2, 60.0)).test_client()
    assert _post(client, make_session(cfg, "1"), addr="198.51.100.7").status_code == 200
    assert _post(client, make_session(cfg, "2"), addr="198.51.100.7").status_code == 200
    r = _post(client, make_session(cfg, "3"), addr="198.51.100.7")
    assert r.status_code == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 30  # one token per 30 s
    assert _post(client, make_session(cfg, "4"), addr="198.51.100.8").status_code == 200  # another address
    # Forged cross-site posts from a visitor's browser are refused before they count against the visitor.
    for i in range(3):
        assert _post(client, make_session(cfg, f"f{i}"), {"Origin": "https://evil.example"},
                     addr="198.51.100.9").status_code == 403
    assert _post(client, make_session(cfg, "own"), {"Origin": OWN}, addr="198.51.100.9").status_code == 200
    # X-Forwarded-For is ignored unless a proxy is trusted: a client cannot pose as many addresses.
    r = _post(client, make_session(cfg, "5"), {"X-Forwarded-For": "203.0.113.9"}, addr="198.51.100.7")
    assert r.status_code == 429


def test_trusted_proxy_uses_forwarded_address_and_origin(tmp_path: Path) -> None:
    cfg = make_test_dir(tmp_path / "t", n_items=1, seconds=0.1)
    client = create_app(tmp_path / "t", admin_token="t", rate_limit=(1, 60.0), trusted_proxies=1).test_client()
    fwd = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "listen.example.org",
           "Origin": "https://listen.example.org"}
    # Behind the proxy the test's own origin is the public one, and each listener has its own address.
    for i, ip in enumerate(("203.0.113.1", "203.0.113.2")):
        r = _post(client, make_session(cfg, f"p{i}"), {**fwd, "X-Forwarded-For": ip}, addr="127.0.0.1")
        assert r.status_code == 200, r.data
    r = _post(client, make_session(cfg, "p3"), {**fwd, "X-Forwarded-For": "203.0.113.1"}, addr="127.0.0.1")
    assert r.status_code == 429
    # Without trust the same headers change nothing: the public origin is foreign to the Host seen.
    plain = create_app(tmp_path / "t", admin_token="t", db_path=tmp_path / "other.sqlite").test_client()
    assert _post(plain, make_session(cfg, "p4"), fwd, addr="127.0.0.1").status_code == 403


def test_admin_lists_rejects_with_reasons_durably(setup, tmp_path: Path) -> None:
    cfg, app, client, _ = setup
    _post(client, make_session(cfg, "x"), {"Origin": "https://evil.example"}, addr="192.0.2.50")
    _post(client, make_session(cfg, "x"), {"Origin": "https://evil.example"}, addr="192.0.2.50")
    bad = make_session(cfg, "y")
    bad["testId"] = "another-test"
    _post(client, bad, {"Origin": OWN}, addr="192.0.2.51")
    # Stored in the test folder: a restarted server shows them.
    again = create_app(app.config["TEST_DIR"], admin_token="secret-token", rate_limit=None).test_client()
    assert again.get("/admin/rejects").status_code == 401
    page = again.get("/admin/rejects?token=secret-token").get_data(as_text=True)
    assert "192.0.2.50" in page and "https://evil.example" in page and "cross-site submission" in page
    assert "192.0.2.51" in page and "another-test" in page
    assert "HTTP 403: 2" in page and "HTTP 422: 1" in page
    assert "3 rejected requests" in again.get("/admin?token=secret-token").get_data(as_text=True)
    assert Path(app.config["REJECTS_PATH"]).parent == Path(app.config["DB_PATH"]).parent
