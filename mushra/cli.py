"""``bench mushra build|serve|analyze|correlate``: mounted into bench's CLI with :func:`register`.

Each handler is ``cmd_x(args) -> int`` and raises :class:`bench.errors.BenchError` for user errors.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import sys
from pathlib import Path

from bench.errors import BenchError


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``mushra`` command (subcommands build, serve, analyze); handlers are set as ``func``."""
    p = subparsers.add_parser("mushra", help="MUSHRA listening tests (ITU-R BS.1534-3, webMUSHRA format)",
                              description="Build, serve and analyse MUSHRA listening tests.")
    sub = p.add_subparsers(dest="mushra_command", metavar="{build,serve,analyze,correlate}")
    sub.required = True

    b = sub.add_parser("build", help="build a test from a run's renders")
    b.add_argument("run", type=Path, help="run directory (results/<run>)")
    b.add_argument("--vocoders", required=True, help="comma-separated vocoder names (the conditions)")
    b.add_argument("--items", type=int, required=True, help="number of items (trials)")
    b.add_argument("--out", type=Path, required=True, help="new test folder, e.g. mushra/tests/NAME")
    b.add_argument("--seed", type=int, default=0, help="item selection seed (default 0)")
    b.add_argument("--excerpt-seconds", type=float, default=10.0, help="excerpt length in s (default 10)")
    b.add_argument("--name", default=None, help="test name / testId (default: the --out folder name)")
    b.set_defaults(func=cmd_build)

    s = sub.add_parser("serve", help="serve a test (our page, or an unmodified webMUSHRA folder)")
    s.add_argument("test", type=Path, help="test folder (config.yaml or configs/*.yaml)")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=5000)
    s.add_argument("--workers", type=int, default=8, help="worker threads (default 8; idle connections hold none)")
    s.add_argument("--admin-token", default=None, help="token for /admin (default: generated and printed)")
    s.add_argument("--webmushra", type=Path, default=None, metavar="DIR",
                   help="serve this webMUSHRA folder's page instead of ours")
    s.add_argument("--config", default=None, help="configs/<name>.yaml when the folder has several")
    s.add_argument("--db", type=Path, default=None, help="SQLite file for results (default <test>/results/)")
    g = s.add_argument_group("who may submit")
    g.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                   help="also accept results posted from this origin (scheme://host[:port]; repeatable); "
                        "by default only the test's own origin")
    g.add_argument("--require-origin", action="store_true",
                   help="refuse submissions naming neither Origin nor Referer (default: accept them; browsers "
                        "always name the origin of a cross-site POST)")
    g.add_argument("--rate-limit", default="30/60", metavar="N/SECONDS",
                   help="submissions per client address: N per SECONDS (suffix s/m/h allowed), or off (default 30/60)")
    g.add_argument("--trusted-proxies", type=int, default=0, metavar="N",
                   help="number of reverse proxies in front whose X-Forwarded-* headers are trusted (default 0: "
                        "headers ignored, client address as connected)")
    c = s.add_argument_group("connections")
    c.add_argument("--connection-limit", type=int, default=10_000,
                   help="open connections at most (default 10000, capped by ulimit -n)")
    c.add_argument("--max-conn-per-address", type=int, default=256, metavar="N",
                   help="open connections one client address may hold (default 256; 0 = no cap; "
                        "off when --trusted-proxies is set: all connections then come from the proxy)")
    c.add_argument("--idle-timeout", type=int, default=60, metavar="S",
                   help="close connections idle for S seconds (default 60)")
    s.set_defaults(func=cmd_serve)

    a = sub.add_parser("analyze", help="screen listeners and summarise scores")
    a.add_argument("test", type=Path, help="test folder")
    a.add_argument("--out", type=Path, default=None, help="output folder (default <test>/analysis)")
    a.add_argument("--db", type=Path, default=None, help="SQLite file for results (default <test>/results/)")
    a.add_argument("--allow-partial", action="store_true",
                   help="keep assessors who rated only some test items (default: all items are required)")
    a.set_defaults(func=cmd_analyze)

    _register_correlate(sub)
    return p


def _register_correlate(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser(
        "correlate", help="which objective metric agrees with listeners (correlation with MUSHRA scores)",
        description="Pearson, Spearman and Kendall correlation of every metric stored in RUN for the test's clips "
                    "and vocoders with the MUSHRA scores of the kept assessors (BS.1534-3 post-screening), at "
                    "system level (per-condition means) and item level (per clip x condition means over "
                    "assessors), per domain and pooled. Sign-adjusted: +1 = agrees with the listeners, also for "
                    "lower-is-better metrics. 95% CI: basic bootstrap resampling the kept assessors and the items "
                    "with replacement (independently). By default the hidden reference and the anchors are "
                    "excluded: they sit at the ends of the scale by construction and stretch the range of both "
                    "variables, which inflates every correlation (--include-anchors keeps them).")
    c.add_argument("test", type=Path, help="test folder built by `bench mushra build` (with its results)")
    c.add_argument("run", type=Path, help="run directory holding the metric values (results/<run>)")
    c.add_argument("--include-anchors", action="store_true",
                   help="keep the hidden reference and the anchors (default: excluded; they inflate correlations)")
    c.add_argument("--out", type=Path, default=None,
                   help="folder for correlations.{md,csv,json} and scatter_<metric>.png (default "
                        "<test>/analysis/correlate)")
    c.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples (default 2000)")
    c.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    c.add_argument("--db", type=Path, default=None, help="SQLite file for results (default <test>/results/)")
    c.add_argument("--allow-partial", action="store_true",
                   help="keep assessors who rated only some test items (default: all items are required)")
    c.set_defaults(func=cmd_correlate)


def cmd_build(args: argparse.Namespace) -> int:
    from mushra.build import build_test

    vocoders = [v for v in args.vocoders.split(",") if v.strip()]
    cfg_path = build_test(args.run, vocoders, args.items, args.out, seed=args.seed,
                          excerpt_seconds=args.excerpt_seconds, name=args.name)
    import json

    manifest = json.loads((cfg_path.parent / "manifest.json").read_text(encoding="utf-8"))
    print(f"built {cfg_path.parent}: {len(manifest['items'])} items x {len(manifest['conditions'])} conditions "
          f"({', '.join(manifest['conditions'])}), common gain {manifest['common_gain_db']:+.1f} dB")
    for note in manifest["notes"]:
        print(f"  note: {note}")
    if manifest["skipped"]:
        print(f"  {len(manifest['skipped'])} clips skipped (see manifest.json)")
    print(f"serve it with: bench mushra serve {cfg_path.parent}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from mushra.app import create_app
    from mushra.guard import parse_rate
    from mushra.serving import ServeOptions, create_server

    for name in ("workers", "connection_limit", "idle_timeout"):
        if getattr(args, name) < 1:
            raise BenchError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    for name in ("max_conn_per_address", "trusted_proxies"):
        if getattr(args, name) < 0:
            raise BenchError(f"--{name.replace('_', '-')} must be 0 or more, got {getattr(args, name)}")
    try:
        rate = parse_rate(args.rate_limit)
    except ValueError as err:
        raise BenchError(f"--rate-limit: {err}") from None
    token = args.admin_token or secrets.token_urlsafe(18)
    app = create_app(args.test, admin_token=token, webmushra_dir=args.webmushra, db_path=args.db,
                     config_name=args.config, allow_origins=args.allow_origin, require_origin=args.require_origin,
                     rate_limit=rate, trusted_proxies=args.trusted_proxies)
    opts = ServeOptions(host=args.host, port=args.port, threads=args.workers, connection_limit=args.connection_limit,
                        channel_timeout=args.idle_timeout,
                        max_per_address=0 if args.trusted_proxies else args.max_conn_per_address,
                        forwarded_headers=args.trusted_proxies > 0)
    if args.trusted_proxies and args.host not in ("127.0.0.1", "::1", "localhost"):
        print(f"warning: --trusted-proxies with --host {args.host}: clients reaching this address directly can "
              "forge X-Forwarded-* headers; listen on 127.0.0.1 behind the proxy", file=sys.stderr, flush=True)
    server = create_server(app, opts)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    host = f"[{args.host}]" if ":" in args.host else args.host
    base = f"http://{host}:{args.port}/"
    page = base
    if args.webmushra:
        page += f"?config={app.config['CONFIG_PATH'].name}"
    print(f"listening test: {page}", flush=True)
    print(f"admin:          {base}admin?token={token}", flush=True)
    print(f"results stored in {app.config['DB_PATH']}", flush=True)
    try:
        server.run()
    finally:
        server.close()
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from mushra.analysis import analyze, markdown_report

    res, files = analyze(args.test, args.out, db_path=args.db, allow_partial=args.allow_partial)
    print(markdown_report(res))
    print(f"written: {', '.join(str(p) for p in files.values())}")
    return 0


def cmd_correlate(args: argparse.Namespace) -> int:
    from mushra.correlate import correlate, to_markdown, write_outputs

    ag = correlate(args.test, args.run, include_anchors=args.include_anchors, n_boot=args.n_boot, seed=args.seed,
                   db_path=args.db, allow_partial=args.allow_partial)
    files = write_outputs(ag, args.out or Path(args.test) / "analysis" / "correlate")
    print(to_markdown(ag))
    print(f"written: {', '.join(str(p) for p in files.values())}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m mushra.cli ...``), the same as ``bench mushra ...``."""
    parser = argparse.ArgumentParser(prog="bench")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["mushra", *(sys.argv[1:] if argv is None else argv)])
    try:
        return args.func(args)
    except BenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
