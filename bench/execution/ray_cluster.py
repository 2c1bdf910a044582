"""A real Ray cluster of N nodes on loopback (127.0.0.1), each node a ``ray start --block`` child process.

Used by the cluster tests and ``benchmarks/executor_scaling.py``. Every node runs in its own process group and
its own ``--temp-dir`` (session files, sockets, logs), with its own ports, so that it never touches another Ray
instance of the machine; :meth:`LoopbackCluster.stop` ends exactly the processes it started (SIGTERM to each
node, which stops its raylet and workers; then SIGKILL of the node's process group for anything left).
``ray stop`` is never used: it ends every Ray process of the machine.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import BenchError

#: Environment of the nodes and of every driver joining them: no token authentication. A local ``ray.init()``
#: (a run without --ray-address) leaves ~/.ray/auth_token behind, and with it present, nodes and drivers that do
#: not all say the same refuse each other ("InvalidAuthToken"); a loopback cluster of one machine needs none.
ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
#: Object store per node, bytes: two nodes and the tests fit in the machine's shared memory (/dev/shm).
OBJECT_STORE_BYTES = 500_000_000


def free_port(taken: set[int] | None = None) -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago (the kernel's choice), not one of ``taken`` (to which
    it is added: the ports of one cluster are all different)."""
    taken = taken if taken is not None else set()
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in taken:
            taken.add(port)
            return port


def _ray_cli() -> str:
    """The ``ray`` command of this Python environment (not whatever ``ray`` is first on PATH)."""
    here = Path(sys.executable).parent / "ray"
    if here.is_file():
        return str(here)
    found = shutil.which("ray")
    if found is None:
        raise BenchError("the `ray` command is not installed: pip install 'vocoder-bench[ray]'")
    return found


def _node_ports(taken: set[int]) -> list[str]:
    """Ports a node would otherwise take at fixed defaults (shared with any other Ray on the machine)."""
    names = ("node-manager", "object-manager", "dashboard-agent-listen", "dashboard-agent-grpc", "runtime-env-agent",
             "metrics-export")
    return [f"--{name}-port={free_port(taken)}" for name in names]


@dataclass
class NodeSpec:
    """One node: CPUs and GPUs it advertises, extra environment variables for its processes and the directory
    it is started in (its workers inherit both: a relative path means a different file on each node)."""

    num_cpus: int = 1
    num_gpus: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None


class LoopbackCluster:
    """Start ``nodes`` Ray nodes on 127.0.0.1 (the first is the head); use as a context manager.

    Args:
        nodes: the nodes, head first.
        temp_dir: root of the nodes' session folders; default a fresh short folder under /tmp (a Unix socket
            path must stay under 108 bytes), removed by :meth:`stop`.
        dashboard: start the dashboard on the head (on a free port).
        object_store_bytes: object store of each node.
    """

    def __init__(self, nodes: list[NodeSpec] | None = None, *, temp_dir: str | None = None, dashboard: bool = False,
                 object_store_bytes: int = OBJECT_STORE_BYTES) -> None:
        self.nodes = nodes or [NodeSpec(), NodeSpec()]
        self._own_temp = temp_dir is None
        self.temp_dir = temp_dir or tempfile.mkdtemp(prefix="rayc", dir="/tmp")
        self.dashboard = dashboard
        self.object_store_bytes = object_store_bytes
        self._ports: set[int] = set()
        self.port = free_port(self._ports)
        self.address = f"127.0.0.1:{self.port}"
        self.dashboard_url: str | None = None
        self.processes: list[subprocess.Popen] = []
        self.logs: list[Path] = []

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self, timeout: float = 90.0) -> str:
        """Start every node and wait (at most ``timeout`` s) until all are alive; returns the GCS address."""
        deadline = time.monotonic() + timeout
        try:
            for i, spec in enumerate(self.nodes):
                self._start_node(i, spec)
                if i == 0:
                    self._wait_head(deadline)
            self._wait_nodes(deadline)
        except BaseException:
            self.stop()
            raise
        return self.address

    def _start_node(self, index: int, spec: NodeSpec) -> None:
        args = [_ray_cli(), "start", "--block", "--node-ip-address=127.0.0.1", f"--num-cpus={spec.num_cpus}",
                f"--object-store-memory={self.object_store_bytes}", "--disable-usage-stats",
                f"--temp-dir={self.temp_dir}", *_node_ports(self._ports)]
        if spec.num_gpus is not None:
            args.append(f"--num-gpus={spec.num_gpus}")
        if index == 0:
            args += ["--head", f"--port={self.port}", f"--ray-client-server-port={free_port(self._ports)}"]
            if self.dashboard:
                dash = free_port(self._ports)
                args += ["--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}"]
                self.dashboard_url = f"http://127.0.0.1:{dash}"
            else:
                args.append("--include-dashboard=false")
        else:
            args.append(f"--address={self.address}")
        env = {**os.environ, **ENV, **spec.env}
        log = Path(self.temp_dir) / f"node{index}.log"
        self.logs.append(log)
        with open(log, "wb") as out:
            # own session = own process group: stop() signals exactly this node's processes
            self.processes.append(subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env,
                                                   stdin=subprocess.DEVNULL, start_new_session=True,
                                                   cwd=spec.cwd))

    def _check_alive(self) -> None:
        for i, p in enumerate(self.processes):
            if p.poll() is not None:
                tail = self.logs[i].read_text(errors="replace").strip().splitlines()[-3:]
                raise BenchError(f"ray node {i} exited with {p.returncode} while starting: {' | '.join(tail)}")

    def _wait_head(self, deadline: float) -> None:
        """The head's GCS accepts connections (the other nodes register with it)."""
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1.0):
                    return
            except OSError:
                time.sleep(0.2)
        raise BenchError(f"ray head did not listen on {self.address} in time")

    def _wait_nodes(self, deadline: float) -> None:
        """Every node is registered and alive (asked in a child process: this process stays no Ray driver). A
        head that listens but does not answer yet (a busy machine) is asked again until the deadline."""
        code = ("import sys, time, ray\n"
                f"ray.init(address={self.address!r}, logging_level='ERROR', log_to_driver=False)\n"
                f"while sum(n['Alive'] for n in ray.nodes()) < {len(self.nodes)}:\n"
                "    time.sleep(0.2)\n")
        err = "no answer"
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                     timeout=max(deadline - time.monotonic(), 1),
                                     env={**os.environ, **ENV})
            except subprocess.TimeoutExpired:
                break
            if res.returncode == 0:
                return
            err = (res.stderr.strip().splitlines() or ["?"])[-1]
            time.sleep(1.0)
        self._check_alive()
        raise BenchError(f"the {len(self.nodes)} ray nodes at {self.address} were not all alive in time ({err})")

    def processes_titled(self, prefix: str) -> dict[int, str]:
        """The processes of this cluster (descendants of its nodes) whose title starts with ``prefix``: pid ->
        title. Ray titles a worker ``ray::Class.method`` while an actor method runs, ``ray::Class`` when idle."""
        ours = {p.pid for p in self.processes}
        parents: dict[int, int] = {}
        titles: dict[int, str] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                title = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:  # ended meanwhile
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])  # field 4, after the (comm)
            titles[int(entry)] = title.strip()
        out = {}
        for pid, title in titles.items():
            if not title.startswith(prefix):
                continue
            up, seen = parents.get(pid), 0
            while up and up not in ours and seen < 64:
                up, seen = parents.get(up), seen + 1
            if up in ours:
                out[pid] = title
        return out

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the nodes, last first: SIGTERM, wait, then SIGKILL of each node's process group."""
        for p in reversed(self.processes):
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            try:
                p.wait(timeout=timeout / max(len(self.processes), 1))
            except subprocess.TimeoutExpired:
                pass
            try:  # whatever the node left behind in its group (raylet, workers)
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.processes = []
        if self._own_temp:
            shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> LoopbackCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
