"""The listening-test server (Flask app factory; production serving through waitress in :mod:`mushra.cli`).

Routes:
    GET  /                        the listening page (mushra/static/index.html), or webMUSHRA's index.html
    GET  /static/<file>           the page's files
    GET  /api/config              the test config as JSON, audio paths rewritten to /audio/<path>
    GET  /audio/<path>            audio files of the test folder only (range requests supported)
    POST /service/write.php       results (webMUSHRA's default remoteService); also POST /api/results
    GET  /admin...                submissions, rejects, screening, statistics, box plot, CSV/JSON (token required)

Results are accepted only from the test's own origin or an allowed one (:class:`mushra.guard.OriginPolicy`),
at most ``rate_limit`` per client address (:class:`mushra.guard.RateLimiter`); every rejected submission is
logged with its reason (:class:`mushra.rejects.RejectLog`) and listed on /admin/rejects.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import re
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flask import Flask, Response, abort, render_template, request, send_file, url_for
from werkzeug.middleware.proxy_fix import ProxyFix

from mushra.analysis import TestResults, box_plot_png, default_db_path, mushra_csv, training_page_ids
from mushra.config import ConfigError, find_config, load_config, read_raw, rewrite_audio_paths
from mushra.guard import OriginPolicy, RateLimiter, normalise_origin
from mushra.rejects import RejectLog, rejects_path
from mushra.storage import Storage
from mushra.validate import MAX_BODY_BYTES, SubmissionError, parse_body, validate_session

log = logging.getLogger("mushra")

#: Content types of the audio files served (browsers need the right one to decode).
AUDIO_TYPES = {
    ".wav": "audio/wav", ".flac": "audio/flac", ".mp3": "audio/mpeg", ".ogg": "audio/ogg", ".oga": "audio/ogg",
    ".opus": "audio/ogg", ".m4a": "audio/mp4", ".aac": "audio/aac", ".webm": "audio/webm",
}
_STATIC_DIR = Path(__file__).parent / "static"
#: Default per-address limit of result submissions: (burst, seconds); one listener sends one session.
DEFAULT_RATE_LIMIT = (30, 60.0)
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


def safe_file(root: Path, rel: str) -> Path | None:
    """``root/rel`` if it is an existing file inside ``root`` (after resolving symlinks), else None.

    Rejects empty, absolute and drive paths, backslashes, NUL bytes and any '..' segment.
    """
    if not rel or "\x00" in rel or "\\" in rel or rel.startswith("/") or _WINDOWS_DRIVE.match(rel):
        return None
    if any(part == ".." for part in rel.split("/")):
        return None
    base = root.resolve()
    cand = (base / rel).resolve()
    if not cand.is_relative_to(base) or not cand.is_file():
        return None
    return cand


def _audio_url(path: str) -> str:
    if re.match(r"^[a-z][a-z0-9+.-]*://", path, re.I):  # remote URLs stay as they are
        return path
    rel = path[2:] if path.startswith("./") else path
    # Relative, so the page also works when the app is mounted under a URL prefix.
    return "audio/" + quote(rel, safe="/")


def check_audio(test_dir: Path, cfg_paths: list[str]) -> None:
    """Raise :class:`ConfigError` if a config audio path is outside the test folder, missing, or not audio."""
    bad = []
    for p in cfg_paths:
        if re.match(r"^[a-z][a-z0-9+.-]*://", p, re.I):
            continue
        rel = p[2:] if p.startswith("./") else p
        f = safe_file(test_dir, rel)
        if f is None:
            bad.append(f"{p} (missing or outside the test folder)")
        elif f.suffix.lower() not in AUDIO_TYPES:
            bad.append(f"{p} (not an audio file type: {f.suffix})")
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise ConfigError(f"{test_dir}: unusable audio in config: {'; '.join(bad[:3])}{more}")


def _private(f: Path, root: Path, db_path: Path) -> bool:
    """Files of a webMUSHRA folder never served: server code, result files and databases, hidden files."""
    rel = f.relative_to(root.resolve())
    if any(part.startswith(".") for part in rel.parts) or rel.parts[0] == "results":
        return True
    if f.suffix.lower() in (".php", ".sqlite", ".db", ".csv") or ".sqlite" in f.name:
        return True
    return f.parent == db_path.resolve().parent


def _text(msg: str, status: int) -> Response:
    return Response(msg + "\n", status=status, mimetype="text/plain")


def create_app(
    test_dir: str | Path,
    *,
    admin_token: str | None = None,
    webmushra_dir: str | Path | None = None,
    db_path: str | Path | None = None,
    config_name: str | None = None,
    allow_origins: list[str] | tuple[str, ...] = (),
    require_origin: bool = False,
    rate_limit: tuple[int, float] | None = DEFAULT_RATE_LIMIT,
    trusted_proxies: int = 0,
) -> Flask:
    """A Flask app serving one listening test.

    Args:
        test_dir: folder holding config.yaml (``bench mushra build``) or configs/<name>.yaml (webMUSHRA layout)
            and the audio its paths name (relative to this folder).
        admin_token: secret for /admin pages; generated when None (read it from ``app.config["ADMIN_TOKEN"]``).
        webmushra_dir: an unmodified webMUSHRA folder to serve instead of our page (same results endpoint).
        db_path: SQLite file for submissions (default ``<test>/results/<testId>.sqlite``).
        config_name: which configs/<name>.yaml when the folder has several.
        allow_origins: origins (``scheme://host[:port]``) besides the test's own from which results are accepted
            (e.g. where a webMUSHRA page is hosted elsewhere); they also get CORS headers on the results endpoint.
        require_origin: refuse submissions that name neither Origin nor Referer (default: accept them, see
            :class:`mushra.guard.OriginPolicy`).
        rate_limit: (burst, seconds) submissions per client address, or None for no limit.
        trusted_proxies: number of reverse proxies in front whose X-Forwarded-For/-Proto/-Host/-Prefix headers are
            trusted (werkzeug's ProxyFix); 0 (default) ignores those headers, so clients cannot forge them.
    Raises:
        ConfigError: no/invalid config, audio missing or outside the folder; a malformed allowed origin.
    """
    test_dir = Path(test_dir).resolve()
    cfg_path = find_config(test_dir, config_name)
    cfg = load_config(cfg_path)
    raw_cfg = read_raw(cfg_path)
    check_audio(test_dir, cfg.audio_paths())
    wm_dir = Path(webmushra_dir).resolve() if webmushra_dir else None
    if wm_dir is not None and not (wm_dir / "index.html").is_file():
        raise ConfigError(f"{wm_dir}: not a webMUSHRA folder (no index.html)")
    storage = Storage(Path(db_path) if db_path else default_db_path(test_dir, cfg))
    training = training_page_ids(test_dir)
    rejects = RejectLog(rejects_path(storage.db_path))
    try:
        origins = OriginPolicy(allow_origins, require=require_origin)
    except ValueError as err:
        raise ConfigError(f"--allow-origin: {err}") from None
    limiter = RateLimiter(*rate_limit) if rate_limit else None
    api_config = rewrite_audio_paths(raw_cfg, _audio_url)
    api_config["remoteService"] = cfg.remoteService
    api_config["configFile"] = cfg_path.name

    app = Flask(__name__, static_folder=None, template_folder="templates")
    app.config.update(
        ADMIN_TOKEN=admin_token or secrets.token_urlsafe(18),
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        TEST_DIR=test_dir,
        CONFIG_PATH=cfg_path,
        DB_PATH=storage.db_path,
        REJECTS_PATH=rejects.path,
        WEBMUSHRA_DIR=wm_dir,
        ALLOWED_ORIGINS=sorted(origins.allowed),
        RATE_LIMIT=rate_limit,
        TRUSTED_PROXIES=trusted_proxies,
    )
    if trusted_proxies > 0:
        # Only when configured: otherwise any client could claim another address or origin in these headers.
        n = trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n,  # type: ignore[method-assign]
                                x_prefix=n)
    app.url_map.merge_slashes = False  # "/audio//etc/x" must be refused, not redirected
    app.jinja_env.globals["dict"] = dict
    app.jinja_env.filters["utc"] = lambda t: time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))

    # -- listening page ----------------------------------------------------------------------------
    if wm_dir is None:
        @app.get("/")
        def index() -> Response:
            page = _STATIC_DIR / "index.html"
            if not page.is_file():
                return _text("the listening page is not installed (mushra/static/index.html missing)", 500)
            return send_file(page, mimetype="text/html", max_age=0)

        @app.get("/static/<path:name>")
        def static_file(name: str) -> Response:
            f = safe_file(_STATIC_DIR, name)
            if f is None:
                abort(404)
            return send_file(f, conditional=True, max_age=0)
    else:
        @app.get("/")
        def wm_index() -> Response:
            return send_file(wm_dir / "index.html", mimetype="text/html", max_age=0)

        @app.get("/<path:name>")
        def wm_file(name: str) -> Response:
            # configs/<x>.yaml: the test's own config; then audio from the test folder; then webMUSHRA's files.
            if name.startswith("configs/") and name.endswith((".yaml", ".yml")):
                f = safe_file(test_dir, name)
                if f is None and cfg_path.parent == test_dir and name in ("configs/default.yaml",
                                                                         f"configs/{cfg_path.name}"):
                    f = cfg_path
                if f is not None:
                    return send_file(f, mimetype="text/yaml", max_age=0)
            f = safe_file(test_dir, name)
            if f is not None and f.suffix.lower() in AUDIO_TYPES:
                return send_file(f, mimetype=AUDIO_TYPES[f.suffix.lower()], conditional=True, max_age=0)
            f = safe_file(wm_dir, name)
            if f is None or _private(f, wm_dir, storage.db_path):
                abort(404)
            return send_file(f, conditional=True, max_age=0)

    # -- API ---------------------------------------------------------------------------------------
    @app.get("/api/config")
    def api_config_route() -> Response:
        return Response(json.dumps(api_config, ensure_ascii=False), mimetype="application/json",
                        headers={"Cache-Control": "no-store"})

    @app.get("/audio/<path:name>")
    def audio(name: str) -> Response:
        f = safe_file(test_dir, name)
        if f is None and wm_dir is not None:
            # webMUSHRA's page requests config paths as they are, so "audio/x.wav" arrives here as /audio/x.wav.
            f = safe_file(test_dir, "audio/" + name)
        if f is None or f.suffix.lower() not in AUDIO_TYPES:
            abort(404)
        resp = send_file(f, mimetype=AUDIO_TYPES[f.suffix.lower()], conditional=True, max_age=0)
        resp.headers["Accept-Ranges"] = "bytes"
        return resp

    def reject(status: int, reason: str, origin: str | None = None,
               headers: dict[str, str] | None = None) -> Response:
        log.warning("rejected submission from %s (%d): %s", request.remote_addr, status, reason)
        rejects.add(request.remote_addr, status, reason, origin=origin, path=request.path)
        resp = _text(reason, status)
        resp.headers.update(headers or {})
        return resp

    def submit() -> Response:
        # Cheap checks first, before the body is read: a flood is turned away for the price of a log row.
        # The origin goes first so that a foreign page cannot use up its visitors' rate limit with forged posts.
        decision = origins.check(f"{request.scheme}://{request.host}", request.headers.get("Origin"),
                                 request.headers.get("Referer"))
        if not decision.allowed:
            return reject(403, decision.reason, decision.origin)
        if limiter is not None:
            wait = limiter.hit(request.remote_addr or "?")
            if wait > 0:
                retry = max(1, math.ceil(wait))
                return reject(429, f"too many submissions from this address (limit {limiter.burst} per "
                                   f"{limiter.per_s:g} s); retry in {retry} s", headers={"Retry-After": str(retry)},
                              origin=decision.origin)
        try:
            body = request.get_data(cache=False, as_text=False, parse_form_data=False)
            session = validate_session(parse_body(body, request.content_type), cfg, training=training)
            stored = storage.add(session)  # listeners' IP addresses are deliberately not stored
        except SubmissionError as err:  # also SessionConflict (409) from storage.add
            return reject(err.status, str(err), decision.origin)
        log.info("session %s %s (%d ratings)", session.uuid, "stored" if stored else "already stored",
                 len(session.ratings))
        return Response(b"", status=200, mimetype="text/plain")

    app.add_url_rule("/service/write.php", "submit_webmushra", submit, methods=["POST"])
    app.add_url_rule("/api/results", "submit_api", submit, methods=["POST"])
    remote = cfg.remoteService
    if not re.match(r"^[a-z]+://", remote, re.I):
        rule = "/" + remote.lstrip("./")
        if rule not in ("/service/write.php", "/api/results"):
            app.add_url_rule(rule, "submit_custom", submit, methods=["POST"])

    @app.after_request
    def cors(resp: Response) -> Response:
        # An allowed foreign origin (a page hosted elsewhere) must be able to read the answer of its POST.
        if (request.endpoint or "").startswith("submit_"):
            resp.headers.add("Vary", "Origin")
            origin = request.headers.get("Origin", "")
            if origin and normalise_origin(origin) in origins.allowed:
                resp.headers["Access-Control-Allow-Origin"] = origin
                if request.method == "OPTIONS":
                    resp.headers["Access-Control-Allow-Methods"] = "POST"
                    resp.headers["Access-Control-Allow-Headers"] = "Content-Type"
                    resp.headers["Access-Control-Max-Age"] = "600"
        return resp

    @app.errorhandler(413)
    def too_large(_err: Any) -> Response:
        msg = f"request body too large (limit {MAX_BODY_BYTES} bytes)"
        if (request.endpoint or "").startswith("submit_"):
            return reject(413, msg)
        return _text(msg, 413)

    @app.errorhandler(404)
    def not_found(_err: Any) -> Response:
        return _text("not found", 404)

    @app.errorhandler(405)
    def not_allowed(_err: Any) -> Response:
        return _text("method not allowed", 405)

    # -- admin -------------------------------------------------------------------------------------
    def authorised() -> bool:
        given = request.args.get("token", "")
        auth = request.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        return bool(given) and hmac.compare_digest(given.encode(), app.config["ADMIN_TOKEN"].encode())

    @app.before_request
    def guard_admin() -> Response | None:
        if request.path == "/admin" or request.path.startswith("/admin/"):
            if not authorised():
                return _text("admin token required (?token=... or Authorization: Bearer ...)", 401)
        return None

    def results() -> TestResults:
        return TestResults.from_parts(test_dir, cfg, storage)

    def links() -> dict[str, str]:
        tok = request.args.get("token")
        kw = {"token": tok} if tok else {}
        return {name: url_for(name, **kw) for name in
                ("admin_submissions", "admin_rejects", "admin_screening", "admin_stats", "admin_boxplot", "admin_csv",
                 "admin_json")}

    @app.get("/admin")
    def admin_submissions() -> str:
        sessions = storage.sessions()
        qnames: list[str] = []
        for s in sessions:
            for n, _ in s["participant"]:
                if n not in qnames:
                    qnames.append(n)
        return render_template("submissions.html", cfg=cfg, sessions=sessions, qnames=qnames, links=links(),
                               counts=storage.counts(), n_rejected=sum(rejects.totals().values()))

    @app.get("/admin/rejects")
    def admin_rejects() -> str:
        return render_template("rejects.html", cfg=cfg, rows=rejects.rows(), totals=rejects.totals(),
                               links=links(), allowed=sorted(origins.allowed), require_origin=require_origin,
                               rate_limit=rate_limit, trusted_proxies=trusted_proxies)

    @app.get("/admin/screening")
    def admin_screening() -> str:
        return render_template("screening.html", cfg=cfg, screening=results().screening(), links=links())

    @app.get("/admin/stats")
    def admin_stats() -> str:
        res = results()
        rows = res.summary()
        fmt = {id(r): {k: ("n/a" if isinstance(v, float) and math.isnan(v) else
                            (f"{v:.1f}" if isinstance(v, float) else v)) for k, v in r.items()} for r in rows}
        return render_template("stats.html", cfg=cfg, rows=[fmt[id(r)] for r in rows], links=links(),
                               n_listeners=len({r["listener"] for r in res.ratings}),
                               n_kept=len({r["listener"] for r in res.kept_ratings()}))

    @app.get("/admin/boxplot.png")
    def admin_boxplot() -> Response:
        return Response(box_plot_png(results()), mimetype="image/png", headers={"Cache-Control": "no-store"})

    @app.get("/admin/mushra.csv")
    def admin_csv() -> Response:
        return Response(mushra_csv(storage, cfg), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{cfg.testId}_mushra.csv"'})

    @app.get("/admin/results.json")
    def admin_json() -> Response:
        res = results()
        doc = {
            "testId": cfg.testId,
            "sessions": storage.payloads(),
            "screening": [s.as_dict() for s in res.screening()],
            "summary": [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
                        for r in res.summary()],
        }
        return Response(json.dumps(doc, ensure_ascii=False, indent=1), mimetype="application/json",
                        headers={"Content-Disposition": f'attachment; filename="{cfg.testId}_results.json"'})

    return app
