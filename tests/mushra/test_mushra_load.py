"""benchmarks/mushra_load.py in small configurations (the 50-listener run is marked slow)."""

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


def test_load_10_listeners_no_loss_no_duplicates() -> None:
    r = _run("--listeners", "10", "--items", "3")
    assert r["passed"] and r["sessions_stored"] == 10 and r["ratings_lost"] == 0 and r["ratings_duplicated"] == 0
    assert r["reposts_seen"] == r["duplicate_posts"] == 2


def test_kill_mid_load_keeps_acknowledged_sessions() -> None:
    r = _run("--mode", "kill", "--listeners", "6", "--items", "3", "--kill-after", "0.7")
    assert r["passed"] and r["acknowledged_before_kill"] > 0
    assert r["acknowledged_missing"] == 0 and r["partial_sessions"] == 0


@pytest.mark.slow
def test_load_50_listeners() -> None:
    r = _run("--listeners", "50", "--items", "10", "--sessions-per-listener", "4")
    assert r["passed"] and r["sessions_stored"] == 200
