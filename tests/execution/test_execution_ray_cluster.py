"""The loopback Ray cluster of the tests and benchmarks: nodes join, and stopping it ends exactly its processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.cluster]


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_both_nodes_joined_on_loopback(ray_cluster):
    code = ("import ray\n"
            f"ray.init(address={ray_cluster.address!r}, logging_level='ERROR')\n"
            "print(sorted(n['Resources'].get('CPU') for n in ray.nodes() if n['Alive']))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=90)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip().splitlines()[-1] == "[1.0, 1.0]"


def test_stop_ends_its_processes_and_no_others(ray_cluster):
    from bench.execution.ray_cluster import LoopbackCluster, NodeSpec

    other = LoopbackCluster([NodeSpec(num_cpus=1)])
    other.start(timeout=90)
    try:
        tree = other.processes_titled("")  # every descendant of its node: gcs_server, raylet, agents, ...
        starter = other.processes[0].pid
        assert len(tree) >= 3 and sum("raylet/raylet " in t for t in tree.values()) == 1
    finally:
        other.stop()
    end = time.monotonic() + 20
    while time.monotonic() < end and any(_alive(p) for p in [starter, *tree]):
        time.sleep(0.2)
    assert not [p for p in [starter, *tree] if _alive(p)]
    assert not os.path.exists(other.temp_dir)  # its session folder is gone too
    # the session's cluster was not touched: its two nodes and their raylets run on
    assert all(p.poll() is None for p in ray_cluster.processes)
    assert sum("raylet/raylet " in t for t in ray_cluster.processes_titled("").values()) == 2
