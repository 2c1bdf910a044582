"""A real two-node Ray cluster on loopback for the executor tests, started once per test session.

Each node is a ``ray start --block`` child process in its own process group, with its own session folder and
ports (bench.execution.ray_cluster); teardown stops exactly those processes (SIGTERM, wait, SIGKILL of the
group), never ``ray stop``. Node 0 (the head) runs in ``nodes/node0``, node 1 in ``nodes/node1``: a relative path
names a different file on each node (the weights check uses that).
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from testsignals import music_like

#: Seconds the cluster may take to start (both nodes alive); about 5-10 s on 2 busy cores.
START_TIMEOUT = 120.0


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory):
    """The running :class:`~bench.execution.ray_cluster.LoopbackCluster` (2 nodes, 1 CPU each)."""
    pytest.importorskip("ray", reason="the ray extra is not installed: pip install 'vocoder-bench[ray]'")
    from bench.execution.ray_cluster import ENV, LoopbackCluster, NodeSpec

    patch = pytest.MonkeyPatch()  # the tests' drivers (this process, its children) join as the nodes expect
    for k, v in ENV.items():
        patch.setenv(k, v)
    root = tmp_path_factory.mktemp("nodes")
    dirs = [root / "node0", root / "node1"]
    for d in dirs:
        d.mkdir()
    cluster = LoopbackCluster([NodeSpec(num_cpus=1, cwd=str(d)) for d in dirs])
    try:
        cluster.start(timeout=START_TIMEOUT)
    except BaseException:
        patch.undo()
        raise
    cluster.node_dirs = dirs
    try:
        yield cluster
    finally:
        cluster.stop()
        patch.undo()


@pytest.fixture
def clips_folder(tmp_path: Path) -> Path:
    """Two short music-like clips (1.2 s, 44.1 kHz stereo): the smallest run every metric accepts."""
    d = tmp_path / "clips"
    d.mkdir()
    for i in range(2):
        x = music_like(1.2, 44100, seed=10 + i)
        sf.write(d / f"clip{i}.wav", np.stack([x, 0.9 * x], axis=1), 44100)
    return d


@pytest.fixture
def deadline():
    """``with deadline(seconds): ...`` (see :func:`_deadline`)."""
    return _deadline


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Fail the block with TimeoutError after ``seconds`` (the executor's wait loop wakes every second, so the
    error reaches it and it stops its units); a cluster test never hangs the suite."""
    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"took longer than {seconds:g} s")

    before = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, before)
