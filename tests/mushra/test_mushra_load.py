"""benchmarks/mushra_load.py in small configurations (the issue's 200-tab case is marked slow)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "mushra_load.py"


def _run(*args: str, timeout: float = 240) -> dict:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--json", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=SCRIPT.parents[1])
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert proc.returncode == 0, (report, proc.stderr[-2000:])
    return report


def test_30_browser_tabs_holding_connections_and_a_slowloris_probe() -> None:
    # 30 tabs x 4 kept-alive connections is more than waitress's default limit of 100: before, tabs waited ~3 s
    # for their page and the probe's listener timed out behind 300 slow connections.
    r = _run("--tabs", "30", "--conns-per-tab", "4", "--ramp", "2", "--think", "1", "--linger", "3", "--items", "3",
             "--slow-conns", "300", "--timeout", "15")
    assert r["passed"] and r["peak_open_connections"] == 120
    assert r["pages_loaded"] == 30 and r["page_p99_ms"] < 2000 and r["http_errors"] == r["client_errors"] == 0
    assert r["sessions_stored"] == 30 and r["ratings_lost"] == 0 and r["ratings_duplicated"] == 0
    assert r["reposts_seen"] == r["duplicate_posts"] == 3
    assert r["probe_passed"] and r["listener_post_status"] == 200
    assert r["slow_conns_closed_by_server"] == 300 - 256  # the per-address cap


def test_requests_flow_with_300_idle_connections_open() -> None:
    # Before: waitress stopped accepting at 100 connections, so the idle ones could not even be opened.
    r = _run("--mode", "idle", "--idle-conns", "300", "--items", "1")
    assert r["passed"] and r["idle_connect_failed"] == 0 and r["requests_per_s"] > 0


def test_kill_mid_load_keeps_acknowledged_sessions() -> None:
    r = _run("--mode", "kill", "--listeners", "6", "--items", "3", "--kill-after", "0.7")
    assert r["passed"] and r["acknowledged_before_kill"] > 0
    assert r["acknowledged_missing"] == 0 and r["partial_sessions"] == 0


@pytest.mark.slow
def test_200_tabs_as_in_the_issue() -> None:
    # The issue's case: 200 tabs keeping a connection alive and staying open 20 s after submitting (p99 was 23 s).
    # The 500-tab figure in the README is measured by hand (see there); it is too heavy for CI.
    r = _run("--tabs", "200", "--conns-per-tab", "1", "--ramp", "10", "--think", "2", "--linger", "20",
             "--items", "5", timeout=400)
    assert r["passed"] and r["sessions_stored"] == 200 and r["page_p99_ms"] < 2000


def test_150_tabs_opening_fast_get_their_pages_without_stalls() -> None:
    # 600 kept-alive connections opened within 5 s: a home-made epoll loop (removed) left responses unsent for
    # seconds here (page p99 3.8 s, 53 pages over 2 s); waitress's own loop serves them in tens of ms.
    r = _run("--tabs", "150", "--conns-per-tab", "4", "--ramp", "5", "--think", "1", "--linger", "5",
             "--slow-conns", "0", "--timeout", "20")
    assert r["passed"] and r["peak_open_connections"] == 600
    assert r["pages_over_2s"] == 0 and r["page_p99_ms"] < 2000 and r["http_errors"] == r["client_errors"] == 0
    assert r["sessions_stored"] == 150 and r["sessions_lost"] == 0
