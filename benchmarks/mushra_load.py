"""Load test of the MUSHRA results endpoint (loopback only, bounded time).

Starts ``mushra serve`` (waitress) on 127.0.0.1 on a free port in a subprocess with a synthetic test, then

* mode ``load`` (default): N concurrent simulated listeners (threads) each post one complete session with a
  unique uuid, as webMUSHRA does (``sessionJSON=`` + raw JSON, comments with '+', '&', '=' and unicode); D
  extra threads re-post some of those sessions at the same time (idempotency). Afterwards the database must
  hold exactly N sessions and exactly the ratings that were sent: zero lost, zero duplicated.
* mode ``kill``: listeners post sessions in a loop; the server is killed with SIGKILL mid-load, restarted on
  the same database, and every session that was answered with HTTP 200 must be there, complete.

Prints a report (and one JSON line with ``--json``); exit status 0 only if every check passed.

    python benchmarks/mushra_load.py --listeners 50
    python benchmarks/mushra_load.py --mode kill --listeners 20 --kill-after 2
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid as uuidlib
from pathlib import Path

from mushra.analysis import default_db_path
from mushra.storage import Storage
from mushra.testing import make_session, make_test_dir, webmushra_body

HOST = "127.0.0.1"
COMMENT = "a+b & c=d; 100% ünïcødé ✓ \"quoted\""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def start_server(test_dir: Path, port: int, workers: int, log_path: Path) -> subprocess.Popen:
    log = open(log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
    proc = subprocess.Popen(
        [sys.executable, "-m", "mushra.cli", "serve", str(test_dir), "--host", HOST, "--port", str(port),
         "--workers", str(workers), "--admin-token", "load-test"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}; see {log_path}")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", "/api/config")
            if conn.getresponse().status == 200:
                conn.close()
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server did not answer within 60 s; see {log_path}")


def post(port: int, body: bytes, timeout: float) -> tuple[int, bytes, float]:
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("POST", "/service/write.php", body=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, data, time.perf_counter() - t0
    finally:
        conn.close()


def expected_rows(session: dict) -> set[tuple]:
    return {(session["uuid"], t["id"], r["stimulus"], float(r["score"]), float(r["time"]), r["comment"])
            for t in session["trials"] for r in t["responses"]}


def stored_rows(storage: Storage) -> dict[str, set[tuple]]:
    out: dict[str, set[tuple]] = {}
    for r in storage.ratings():
        out.setdefault(r["session_uuid"], set()).add(
            (r["session_uuid"], r["trial_id"], r["stimulus"], r["score"], r["time_ms"], r["comment"]))
    return out


def run_load(test_dir: Path, cfg, port: int, args: argparse.Namespace) -> dict:
    per = args.sessions_per_listener
    sessions = [make_session(cfg, str(uuidlib.uuid4()), seed=i, comment=COMMENT, name=f"listener {i} ✓ a+b&c")
                for i in range(args.listeners * per)]
    n_dup = int(round(args.duplicates * len(sessions)))
    # One thread per listener posts its sessions one after the other; duplicate posters run alongside.
    jobs = [(sessions[i * per:(i + 1) * per], False) for i in range(args.listeners)]
    jobs += [([sessions[i]], True) for i in range(n_dup)]
    results: list[tuple[int, bytes, float, bool]] = []
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(jobs))

    def worker(batch: list[dict], dup: bool) -> None:
        bodies = [webmushra_body(s) for s in batch]
        barrier.wait()
        for body in bodies:
            try:
                status, data, dt = post(port, body, args.timeout)
                with lock:
                    results.append((status, data, dt, dup))
            except OSError as err:
                with lock:
                    errors.append(f"{type(err).__name__}: {err}")

    threads = [threading.Thread(target=worker, args=job, daemon=True) for job in jobs]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(args.timeout)
    wall = time.perf_counter() - t0
    storage = Storage(default_db_path(test_dir, cfg))
    stored = stored_rows(storage)
    counts = storage.counts()
    lost = sum(len(expected_rows(s) - stored.get(s["uuid"], set())) for s in sessions)
    n_expected = sum(len(expected_rows(s)) for s in sessions)
    ok = [r for r in results if r[0] == 200 and r[1] == b""]
    lat = sorted(r[2] for r in results)
    report = {
        "mode": "load", "listeners": args.listeners, "sessions": len(sessions), "duplicate_posts": n_dup,
        "requests": len(sessions) + n_dup,
        "http_200_empty": len(ok), "http_other": len(results) - len(ok), "client_errors": len(errors),
        "wall_s": round(wall, 3), "requests_per_s": round(len(results) / wall, 1),
        "ratings_per_s": round(n_expected / wall, 1),
        "latency_p50_ms": round(1000 * statistics.median(lat), 1) if lat else None,
        "latency_p95_ms": round(1000 * lat[int(0.95 * (len(lat) - 1))], 1) if lat else None,
        "sessions_stored": counts["sessions"], "ratings_expected": n_expected, "ratings_stored": counts["ratings"],
        "ratings_lost": lost, "ratings_duplicated": counts["ratings"] - (n_expected - lost),
        "reposts_seen": counts["reposts"],
    }
    report["passed"] = (len(ok) == len(sessions) + n_dup and not errors and lost == 0
                        and counts["ratings"] == n_expected and counts["sessions"] == len(sessions)
                        and counts["reposts"] == n_dup)
    if errors:
        report["first_errors"] = errors[:3]
    return report


def run_kill(test_dir: Path, cfg, port: int, proc: subprocess.Popen, args: argparse.Namespace, log: Path) -> dict:
    stop = threading.Event()
    acked: dict[str, dict] = {}
    failed = [0]
    lock = threading.Lock()

    def worker(i: int) -> None:
        k = 0
        while not stop.is_set():
            s = make_session(cfg, str(uuidlib.uuid4()), seed=1000 * i + k, comment=COMMENT)
            k += 1
            try:
                status, data, _ = post(port, webmushra_body(s), args.timeout)
            except OSError:
                with lock:
                    failed[0] += 1
                if stop.is_set() or proc.poll() is not None:
                    return
                continue
            if status == 200 and data == b"":
                with lock:
                    acked[s["uuid"]] = s

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(args.listeners)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(args.kill_after)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = time.perf_counter() - t0
    stop.set()
    for t in threads:
        t.join(args.timeout)
    n_acked = len(acked)
    # Restart on the same database: it must open, serve and accept new sessions.
    port2 = free_port()
    proc2 = start_server(test_dir, port2, args.workers, log)
    try:
        extra = make_session(cfg, str(uuidlib.uuid4()), seed=999_999, comment=COMMENT)
        status, _, _ = post(port2, webmushra_body(extra), args.timeout)
    finally:
        proc2.terminate()
        proc2.wait(30)
    storage = Storage(default_db_path(test_dir, cfg))
    stored = stored_rows(storage)
    missing = [u for u, s in acked.items() if expected_rows(s) - stored.get(u, set())]
    per_session = {len(t["responses"]) for t in extra["trials"]}
    n_per_session = sum(len(t["responses"]) for t in extra["trials"])
    partial = [u for u, rows in stored.items() if len(rows) != n_per_session]
    counts = storage.counts()
    report = {
        "mode": "kill", "listeners": args.listeners, "killed_after_s": round(killed_at, 2),
        "acknowledged_before_kill": n_acked, "failed_requests_around_kill": failed[0],
        "sessions_stored": counts["sessions"], "acknowledged_missing": len(missing), "partial_sessions": len(partial),
        "post_after_restart_status": status, "responses_per_trial": sorted(per_session),
    }
    report["passed"] = n_acked > 0 and not missing and not partial and status == 200
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=("load", "kill"), default="load")
    ap.add_argument("--listeners", type=int, default=50)
    ap.add_argument("--sessions-per-listener", type=int, default=1, help="sessions each listener posts (load mode)")
    ap.add_argument("--duplicates", type=float, default=0.2, help="fraction of sessions posted twice (load mode)")
    ap.add_argument("--items", type=int, default=10, help="mushra pages per session")
    ap.add_argument("--workers", type=int, default=8, help="waitress threads")
    ap.add_argument("--kill-after", type=float, default=2.0, help="seconds of load before SIGKILL (kill mode)")
    ap.add_argument("--timeout", type=float, default=60.0, help="per-request timeout in s")
    ap.add_argument("--json", action="store_true", help="print one JSON line")
    ap.add_argument("--keep", type=Path, default=None, help="work folder to keep (default: a temporary one)")
    args = ap.parse_args(argv)

    work = args.keep or Path(tempfile.mkdtemp(prefix="mushra_load_"))
    test_dir = work / "test"
    cfg = make_test_dir(test_dir, n_items=args.items, systems=("voc_a", "voc_b", "voc_c"), test_id="loadtest",
                        seconds=0.2)
    log = work / "server.log"
    port = free_port()
    proc = start_server(test_dir, port, args.workers, log)
    try:
        if args.mode == "load":
            report = run_load(test_dir, cfg, port, args)
        else:
            report = run_kill(test_dir, cfg, port, proc, args, log)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    report["server_workers"] = args.workers
    if args.keep is None and report["passed"]:
        shutil.rmtree(work, ignore_errors=True)
    else:
        report["work_dir"] = str(work)
    if args.json:
        print(json.dumps(report))
    else:
        for k, v in report.items():
            print(f"{k:28s} {v}")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
