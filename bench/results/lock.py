"""One writer per run folder: an advisory ``fcntl.flock`` on ``<run>/run.lock``.

The lock file holds who took it (pid, host, command, start time) so a second ``bench run`` on the same
folder can say in one line who is writing there. The operating system releases an flock when its process
dies, even by SIGKILL, so a killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from types import TracebackType

from bench.errors import BenchError

LOCK_NAME = "run.lock"


class RunFolderBusy(BenchError):
    """Another process holds the run folder's lock."""


class RunLock:
    """Exclusive lock of ``run_dir`` (created if missing) for the lifetime of the ``with`` block.

    Raises :class:`RunFolderBusy` at once when another process holds it.
    """

    def __init__(self, run_dir: str | Path, command: list[str] | None = None) -> None:
        self.path = Path(run_dir) / LOCK_NAME
        self.command = command if command is not None else list(sys.argv)
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunFolderBusy(f"{self.path.parent} is in use by {holder(self.path)}; wait for it to finish "
                                "or use another --out") from None
        info = {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(self.command),
                "started": time.strftime("%Y-%m-%d %H:%M:%S %z")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)  # the file stays (removing it would race a waiting opener); its text goes
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def holder(path: Path) -> str:
    """Who holds the lock at ``path``, in words (from the file the holder wrote)."""
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "another process"
    return (f"pid {info.get('pid')} on {info.get('host')} since {info.get('started')} "
            f"(`{info.get('command', '')}`)")
