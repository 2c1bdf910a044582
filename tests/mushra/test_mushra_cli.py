"""`bench mushra build|analyze` through argparse with register()."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bench.errors import BenchError
from mushra.analysis import default_db_path
from mushra.cli import register
from mushra.config import load_config
from mushra.storage import Storage
from mushra.testing import make_run_dir, make_session
from mushra.validate import validate_session


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench")
    register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_build_then_analyze(tmp_path: Path, capsys) -> None:
    run = make_run_dir(tmp_path / "run", [("a", "speech", 1.5), ("b", "music", 1.5)], ["v1", "v2"])
    args = _parse(["mushra", "build", str(run), "--vocoders", "v1,v2", "--items", "2", "--out",
                   str(tmp_path / "t"), "--seed", "1", "--excerpt-seconds", "1.2"])
    assert args.func(args) == 0
    assert "2 items x 5 conditions" in capsys.readouterr().out
    cfg = load_config(tmp_path / "t" / "config.yaml")
    storage = Storage(default_db_path(tmp_path / "t", cfg))
    for i in range(3):
        storage.add(validate_session(make_session(cfg, f"s{i}", seed=i), cfg))
    args = _parse(["mushra", "analyze", str(tmp_path / "t"), "--out", str(tmp_path / "an")])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "| v1 |" in out and (tmp_path / "an" / "summary.md").is_file()


def test_serve_arguments_and_errors(tmp_path: Path) -> None:
    args = _parse(["mushra", "serve", str(tmp_path), "--port", "5001", "--workers", "4", "--admin-token", "t",
                   "--webmushra", str(tmp_path)])
    assert (args.host, args.port, args.workers, args.admin_token) == ("127.0.0.1", 5001, 4, "t")
    with pytest.raises(BenchError):
        args.func(args)   # no config in an empty folder: a one-line BenchError, not a traceback
    args = _parse(["mushra", "build", str(tmp_path / "none"), "--vocoders", "x", "--items", "1", "--out",
                   str(tmp_path / "o")])
    with pytest.raises(BenchError):
        args.func(args)


def test_serve_guard_and_connection_options(tmp_path: Path) -> None:
    from mushra.testing import make_test_dir

    make_test_dir(tmp_path / "t", n_items=1, seconds=0.1)
    args = _parse(["mushra", "serve", str(tmp_path / "t"), "--allow-origin", "https://a.example",
                   "--allow-origin", "https://b.example:8443", "--rate-limit", "5/1m", "--trusted-proxies", "1",
                   "--max-conn-per-address", "0", "--idle-timeout", "30", "--require-origin"])
    assert args.allow_origin == ["https://a.example", "https://b.example:8443"]
    assert (args.rate_limit, args.trusted_proxies, args.max_conn_per_address, args.idle_timeout) == ("5/1m", 1, 0, 30)
    assert args.require_origin
    defaults = _parse(["mushra", "serve", str(tmp_path / "t")])
    assert (defaults.rate_limit, defaults.trusted_proxies, defaults.max_conn_per_address, defaults.require_origin,
            defaults.connection_limit) == ("30/60", 0, 256, False, 10_000)
    for bad, msg in ((["--rate-limit", "lots"], "--rate-limit"), (["--allow-origin", "a.example/x"], "allow-origin"),
                     (["--idle-timeout", "0"], "--idle-timeout"), (["--max-conn-per-address", "-1"], "per-address")):
        args = _parse(["mushra", "serve", str(tmp_path / "t"), *bad])
        with pytest.raises(BenchError, match=msg):
            args.func(args)  # a one-line error before anything listens
