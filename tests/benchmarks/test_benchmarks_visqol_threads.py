"""benchmarks/visqol_threads.py: bench's ViSQOL value is the same in every call of every fresh process, each
process having first imported numba and run torch with its default threads (as a `bench run` worker may)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("visqol")

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "visqol_threads.py"


@pytest.mark.slow
def test_bench_values_identical_across_calls_and_processes():
    res = subprocess.run([sys.executable, str(SCRIPT), "--processes", "3", "--calls", "3"], capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    found = re.search(r"^bench: distinct values within a process \[(.*)\]; over 3 processes (\d+) distinct",
                      res.stdout, re.M)
    assert found, res.stdout
    assert found.group(1) == "1, 1, 1" and found.group(2) == "1", res.stdout
    # every line lists its 3 values; the bench lines all show the same one
    bench = [line.split(": ", 1)[1] for line in res.stdout.splitlines() if re.match(r"process \d+, bench:", line)]
    assert len(bench) == 3 and len({v for line in bench for v in line.split(", ")}) == 1
