"""Process lifetime: SIGTERM stops the command like Ctrl-C, and metric worker processes die with their parent.

``bench run`` computes process-safe metrics (ViSQOL) in spawned worker processes. A worker blocks on its task
queue, whose pipe it holds both ends of, so it never sees its parent go away by itself: without the measures
below a killed run leaves each worker running (about 0.5 GB) forever. Two measures, because neither covers
every case alone:

- Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` makes the kernel kill the worker the moment its parent exits,
  even when the worker is busy inside native code.
- Everywhere: a daemon thread in the worker exits the process once its parent pid is no longer the one that
  started it (the worker was re-parented), checked every :data:`WATCHDOG_SECONDS`.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator

#: How often a worker's watchdog compares its parent pid (seconds).
WATCHDOG_SECONDS = 0.5
#: Exit status of a command stopped by SIGTERM (the shell convention 128 + signal number).
TERMINATED_EXIT = 128 + signal.SIGTERM
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process receives SIGTERM.

    A KeyboardInterrupt so that every clean-up that runs on Ctrl-C (transactions rolled back, worker pools shut
    down, files closed) runs on SIGTERM too, and no ``except Exception`` in the pipeline swallows it.
    """


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread (previous handler restored).

    Outside the main thread (where Python cannot install handlers) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _set_parent_death_signal() -> None:
    """Linux only: have the kernel send SIGKILL to this process when its parent exits."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_PDEATHSIG) failed: {os.strerror(err)}")


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(WATCHDOG_SECONDS)
    os._exit(1)  # the parent is gone: nobody will read our results, and no clean-up is owed to it


def worker_init(parent_pid: int) -> None:
    """``ProcessPoolExecutor`` initializer: tie the worker's life to ``parent_pid`` (the pool's owner).

    Also ignores SIGINT: on Ctrl-C in a terminal the whole process group gets it, and the parent stops its
    workers itself (no traceback from each worker).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _set_parent_death_signal()
    if os.getppid() != parent_pid:  # the parent died before the death signal was armed
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="parent-watchdog", daemon=True).start()
