"""Process lifetime: SIGTERM stops `bench` like Ctrl-C, and no metric worker outlives a killed `bench run`.

The run tests start the real command in a subprocess on a small folder dataset with ViSQOL (the pooled metric),
wait until values are being stored, kill it, and scan /proc for the processes it had started. Every wait is
bounded; whatever survives is killed by pid at the end.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import soundfile as sf

from bench.lifetime import TERMINATED_EXIT, WATCHDOG_SECONDS, Terminated, sigterm_raises

TERMINATED_MESSAGE = "bench: terminated (completed work is stored; rerun the same command to resume)"
N_CLIPS, VOCODERS = 5, ("reference", "anchor35")
linux_only = pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="needs /proc (Linux)")


def test_sigterm_raises_terminated_and_restores_the_handler():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated):
        with sigterm_raises():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler interrupts this
    assert signal.getsignal(signal.SIGTERM) is before


def test_main_exits_143_with_a_message_on_sigterm(tmp_path):
    # In a subprocess: before the fix, SIGTERM killed the process outright (no message, status -15).
    code = textwrap.dedent("""
        import os, signal, sys, time
        import bench.cli as cli
        def slow(args):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)
            return 0
        cli.cmd_metrics = slow
        sys.exit(cli.main(["metrics"]))
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[1])
    assert res.returncode == TERMINATED_EXIT == 143
    assert res.stderr.strip() == TERMINATED_MESSAGE


@linux_only
@pytest.mark.parametrize("disable, ends", [("_set_parent_death_signal", True), ("_watch_parent", True),
                                           ("_set_parent_death_signal,_watch_parent", False)])
def test_each_measure_alone_ends_an_orphaned_worker(disable, ends):
    """With one of the two measures disabled, the other still ends the worker when its parent dies (with both
    disabled the worker outlives its parent: the control that shows this test can see a survivor)."""
    child = textwrap.dedent(f"""
        import sys, time
        import bench.lifetime as lifetime
        for name in {disable!r}.split(","):
            setattr(lifetime, name, lambda *a: None)
        lifetime.worker_init(int(sys.argv[1]))
        print("ready", flush=True)
        time.sleep(120)
    """)
    parent = textwrap.dedent("""
        import os, subprocess, sys
        # stderr not inherited: the test's capture would otherwise wait for the child to exit
        child = subprocess.Popen([sys.executable, "-c", sys.argv[1], str(os.getpid())], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True)
        assert child.stdout.readline().strip() == "ready"
        print(child.pid, flush=True)
        os._exit(0)  # dies without a word to the child, as under SIGKILL
    """)
    res = subprocess.run([sys.executable, "-c", parent, child], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[1])
    assert res.returncode == 0, res.stderr
    pid = int(res.stdout.strip())
    try:
        if ends:
            _wait(lambda: not _alive(pid), 10, f"the orphaned worker {pid} to exit")
        else:
            time.sleep(3 * WATCHDOG_SECONDS)
            assert _alive(pid)
    finally:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


# -- the real command --------------------------------------------------------------------------------------------
def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a live process, None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()  # the command name may contain spaces and parentheses
    return fields[0], int(fields[1])


def _alive(pid: int) -> bool:
    st = _stat(pid)
    return st is not None and st[0] not in ("Z", "X")  # a zombie has released everything


def _descendants(pid: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))) is not None:
            parents[int(entry)] = st[1]
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier and p not in found}
        found |= frontier
    return {p for p in found if _alive(p)}


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _stored_scores(out: Path) -> int:
    db = out / "results.sqlite"
    if not db.is_file():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1.0) as conn:
            return conn.execute("SELECT COUNT(*) FROM scores").fetchone()[0]
    except sqlite3.Error:
        return 0  # not created yet


def _wait(condition, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def visqol_run(tmp_path, music):
    """argv of a `bench run` with ViSQOL in one worker process, and a cleanup that kills what it left."""
    from bench.metrics.registry import metric_registry

    if "visqol" not in metric_registry():
        pytest.skip("visqol-python is not installed")
    folder = tmp_path / "audio"
    folder.mkdir()
    for i in range(N_CLIPS):
        sf.write(folder / f"clip{i}.wav", music(1.5, 44100, seed=i), 44100)
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "bench.cli", "run", "--dataset", "folder", "--path", str(folder), "--domain",
            "music", "--vocoders", ",".join(VOCODERS), "--metrics", "visqol", "--jobs", "1", "--device", "cpu",
            "--quiet", "--out", str(out)]
    started: list[int] = []
    yield argv, out, started
    for pid in started:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def _start_and_wait_for_metrics(argv: list[str], out: Path, started: list[int]) -> tuple[subprocess.Popen, set[int]]:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[1])
    started.append(proc.pid)
    workers: set[int] = set()

    def metrics_under_way() -> bool:
        assert proc.poll() is None, f"the run ended before it could be killed: {proc.communicate()[1][-2000:]}"
        workers.update(p for p in _descendants(proc.pid) if "multiprocessing" in _cmdline(p))
        return bool(workers) and _stored_scores(out) > 0

    try:
        _wait(metrics_under_way, 240, "the first stored ViSQOL value")
    finally:
        started.extend(_descendants(proc.pid))
    return proc, workers | _descendants(proc.pid)


@linux_only
def test_sigkill_during_metrics_leaves_no_process(visqol_run):
    argv, out, started = visqol_run
    proc, children = _start_and_wait_for_metrics(argv, out, started)
    assert children, "the pooled metric started no worker process"
    proc.kill()
    proc.wait(timeout=30)
    _wait(lambda: not any(_alive(p) for p in children), 20,
          f"the run's processes to exit: {[(p, _cmdline(p)[:120]) for p in children if _alive(p)]}")


@linux_only
def test_sigterm_during_metrics_stops_cleanly_and_the_rerun_resumes(visqol_run):
    argv, out, started = visqol_run
    proc, children = _start_and_wait_for_metrics(argv, out, started)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err[-2000:]
    assert err.strip().splitlines()[-1] == TERMINATED_MESSAGE
    assert "Traceback" not in err
    _wait(lambda: not any(_alive(p) for p in children), 20,
          f"the run's processes to exit: {[(p, _cmdline(p)[:120]) for p in children if _alive(p)]}")
    stored = _stored_scores(out)
    assert stored > 0

    res = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parents[1])
    assert res.returncode == 0, res.stderr[-2000:]
    m = re.search(r"(\d+) clips, (\d+) values computed, (\d+) already stored, (\d+) failed", res.stderr)
    assert m, res.stderr[-2000:]
    clips, computed, skipped, failed = map(int, m.groups())
    total = N_CLIPS * len(VOCODERS)
    assert (clips, failed) == (N_CLIPS, 0)
    assert skipped == stored and computed + skipped == total
    assert _stored_scores(out) == total
