"""Browser-like load test of the MUSHRA server (loopback only, bounded in count and time).

Starts ``mushra serve`` on 127.0.0.1 on a free port in a subprocess with a synthetic test, then

* mode ``tabs`` (default): T browser tabs open over ``--ramp`` seconds. Each tab behaves like a browser with
  HTTP/1.1 keep-alive: it has its own client address (127.1.x.y, so per-address limits see one address per
  browser, as on the internet), opens ``--conns-per-tab`` connections to the server and keeps them open; loads the
  page (index.html, then its CSS/JS and /api/config spread over its connections: the *page time*), then the audio
  of the first ``--audio-pages`` MUSHRA pages; "listens" ``--think`` seconds; posts one complete session as
  webMUSHRA does (``sessionJSON=`` + raw JSON with '+', '&', '=' and unicode; Origin and Referer of the page);
  a ``--duplicates`` fraction of tabs posts it a second time (a retry); then the tab stays open ``--linger``
  seconds holding all its connections idle, as a browser does after the last page, and closes. A request on a
  kept-alive connection that the server closed meanwhile is retried once on a new connection, as browsers do.
  Afterwards the database must hold exactly the T sessions with exactly the ratings sent: 0 lost, 0 duplicated.
  Then the *slow-connection probe*: ``--slow-conns`` connections from one address (127.0.0.66), half idle, half
  trickling an unfinished request header one byte every ``--slow-interval`` s (slowloris); while they are held, a
  new listener (127.0.0.77) must load the page within ``--max-p99`` s and submit with HTTP 200.
* mode ``idle``: ``--idle-conns`` idle connections are opened (from 127.2.x.y, 4 per address) and held while 8
  kept-alive clients GET /api/config for 5 s: requests per second with that many idle connections open (an
  event loop that visits every connection on every iteration slows down with their number).
* mode ``kill``: listeners post sessions in a loop; the server is killed with SIGKILL mid-load, restarted on
  the same database, and every session that was answered with HTTP 200 must be there, complete.

Prints a report (and one JSON line with ``--json``); exit status 0 only if every check passed (in tabs mode
that includes page-time p99 < ``--max-p99`` s and no failed request).

    python benchmarks/mushra_load.py --tabs 500 --conns-per-tab 4 --ramp 10 --linger 20
    python benchmarks/mushra_load.py --tabs 30 --ramp 2 --linger 3 --slow-conns 300
    python benchmarks/mushra_load.py --mode idle --idle-conns 2000
    python benchmarks/mushra_load.py --mode kill --listeners 20 --kill-after 2
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
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
FORM = "application/x-www-form-urlencoded; charset=UTF-8"
SLOW_ADDRESS = "127.0.0.66"
PROBE_ADDRESS = "127.0.0.77"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def raise_fd_limit() -> int:
    """The client holds tabs x connections sockets: raise the soft descriptor limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft


def start_server(test_dir: Path, port: int, workers: int, log_path: Path, extra: list[str]) -> subprocess.Popen:
    log = open(log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
    proc = subprocess.Popen(
        [sys.executable, "-m", "mushra.cli", "serve", str(test_dir), "--host", HOST, "--port", str(port),
         "--workers", str(workers), "--admin-token", "load-test", *extra],
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
    stop_server(proc)
    raise RuntimeError(f"server did not answer within 60 s; see {log_path}")


def stop_server(proc: subprocess.Popen) -> None:
    """Stop the server we started, by its PID: SIGTERM, then SIGKILL after 30 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds used so far by process ``pid`` (Linux /proc), or None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def expected_rows(session: dict) -> set[tuple]:
    return {(session["uuid"], t["id"], r["stimulus"], float(r["score"]), float(r["time"]), r["comment"])
            for t in session["trials"] for r in t["responses"]}


def stored_rows(storage: Storage) -> dict[str, set[tuple]]:
    out: dict[str, set[tuple]] = {}
    for r in storage.ratings():
        out.setdefault(r["session_uuid"], set()).add(
            (r["session_uuid"], r["trial_id"], r["stimulus"], r["score"], r["time_ms"], r["comment"]))
    return out


def pct(values: list[float], q: float) -> float | None:
    """The q-quantile (nearest rank) of ``values`` in ms, or None when empty."""
    if not values:
        return None
    v = sorted(values)
    return round(1000 * v[min(len(v) - 1, max(0, int(round(q * len(v) + 0.5)) - 1))], 1)


# -- a minimal HTTP/1.1 keep-alive client (asyncio), enough for a browser's behaviour ----------------------
class Stats:
    """Counters shared by all tabs of one run (one event loop, no locking needed)."""

    def __init__(self) -> None:
        self.open = 0
        self.peak_open = 0
        self.requests = 0
        self.retries = 0
        self.http_errors: list[str] = []
        self.client_errors: list[str] = []


class Conn:
    """One browser connection: opened on first use from ``local_ip``, kept alive between requests."""

    def __init__(self, port: int, local_ip: str, stats: Stats) -> None:
        self.port, self.local_ip, self.stats = port, local_ip, stats
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.used = 0

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(HOST, self.port, local_addr=(self.local_ip, 0))
        self.used = 0
        self.stats.open += 1
        self.stats.peak_open = max(self.stats.peak_open, self.stats.open)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = self.reader = None
            self.stats.open -= 1

    async def request(self, method: str, path: str, headers: dict[str, str] | None = None,
                      body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
        for attempt in (0, 1):
            if self.writer is None:
                await self._open()
            reused, got_bytes = self.used > 0, False
            try:
                assert self.writer is not None and self.reader is not None
                hdr = {"Host": f"{HOST}:{self.port}", "User-Agent": "mushra-load", "Accept": "*/*",
                       "Connection": "keep-alive", **(headers or {})}
                if method == "POST":
                    hdr["Content-Length"] = str(len(body))
                head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdr.items()) + "\r\n"
                self.writer.write(head.encode("latin-1") + body)
                await self.writer.drain()
                self.stats.requests += 1
                raw = await self.reader.readuntil(b"\r\n\r\n")
                got_bytes = True
                lines = raw.decode("latin-1").split("\r\n")
                status = int(lines[0].split()[1])
                rh = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        rh[k.strip().lower()] = v.strip()
                if "content-length" in rh:
                    data = await self.reader.readexactly(int(rh["content-length"]))
                elif rh.get("transfer-encoding", "").lower() == "chunked":
                    parts = []
                    while True:
                        size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                        if size == 0:
                            await self.reader.readuntil(b"\r\n")
                            break
                        parts.append(await self.reader.readexactly(size))
                        await self.reader.readexactly(2)
                    data = b"".join(parts)
                else:
                    data = await self.reader.read()
                    rh["connection"] = "close"
                self.used += 1
                if rh.get("connection", "").lower() == "close":
                    self.close()
                return status, rh, data
            except (ConnectionError, asyncio.IncompleteReadError, OSError) as err:
                self.close()
                # A kept-alive connection the server closed while idle: browsers retry once on a new one.
                if attempt == 0 and reused and not got_bytes:
                    self.stats.retries += 1
                    continue
                raise ConnectionError(f"{method} {path}: {type(err).__name__}: {err}") from None
        raise AssertionError("unreachable")


def tab_address(i: int) -> str:
    """The client address of tab ``i``: 127.1.x.y (all of 127/8 is loopback on Linux)."""
    return f"127.{1 + i // 62500}.{(i // 250) % 250}.{i % 250 + 1}"


class Tab:
    """One browser tab: its connections, timings and posts."""

    def __init__(self, port: int, ip: str, stats: Stats, n_conns: int) -> None:
        self.port, self.stats = port, stats
        self.conns = [Conn(port, ip, stats) for _ in range(n_conns)]
        self.page_s: float | None = None
        self.audio_s: float | None = None
        self.post: list[tuple[int, bytes, float]] = []

    async def get(self, conn: Conn, path: str, timeout: float) -> bytes:
        status, _, data = await asyncio.wait_for(conn.request("GET", path), timeout)
        if status not in (200, 206, 304):
            self.stats.http_errors.append(f"GET {path}: HTTP {status}")
            raise ConnectionError(f"GET {path}: HTTP {status}")
        return data

    async def fetch_all(self, paths: list[str], timeout: float) -> list[bytes]:
        """GET ``paths`` spread over the tab's connections (each connection one request at a time)."""
        out: dict[str, bytes] = {}
        queues = [paths[k::len(self.conns)] for k in range(len(self.conns))]

        async def run(conn: Conn, q: list[str]) -> None:
            for p in q:
                out[p] = await self.get(conn, p, timeout)

        await asyncio.gather(*(run(c, q) for c, q in zip(self.conns, queues) if q))
        return [out[p] for p in paths]

    async def load(self, timeout: float, audio_pages: int) -> dict:
        t0 = time.perf_counter()
        html = (await self.get(self.conns[0], "/", timeout)).decode("utf-8", "replace")
        sub = sorted(set(re.findall(r'(?:src|href)="(static/[^"?#]+)"', html)))
        *_, cfg_raw = await self.fetch_all([f"/{p}" for p in sub] + ["/api/config"], timeout)
        self.page_s = time.perf_counter() - t0
        cfg = json.loads(cfg_raw)
        pages = [p for p in _flat_pages(cfg["pages"]) if p.get("type") == "mushra"][:audio_pages]
        audio = [f"/{u}" for p in pages for u in [p["reference"], *p["stimuli"].values()]]
        t1 = time.perf_counter()
        await self.fetch_all(audio, timeout)
        self.audio_s = time.perf_counter() - t1
        return cfg

    async def submit(self, body: bytes, timeout: float) -> None:
        own = f"http://{HOST}:{self.port}"
        t0 = time.perf_counter()
        status, _, data = await asyncio.wait_for(self.conns[0].request(
            "POST", "/service/write.php", {"Content-Type": FORM, "Origin": own, "Referer": own + "/"}, body), timeout)
        self.post.append((status, data, time.perf_counter() - t0))
        if status != 200 or data != b"":
            self.stats.http_errors.append(f"POST: HTTP {status} {data[:200]!r}")

    def close(self) -> None:
        for c in self.conns:
            c.close()


def _flat_pages(pages: list) -> list[dict]:
    out: list[dict] = []
    for p in pages:
        if isinstance(p, list):
            out += _flat_pages([q for q in p if not isinstance(q, str)])
        elif isinstance(p, dict):
            out.append(p)
    return out


async def slow_probe(port: int, args: argparse.Namespace, stats: Stats, cfg) -> dict:
    """Hold ``--slow-conns`` idle/trickling connections from one address, then time a real listener."""
    slow: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    refused = 0
    for _ in range(args.slow_conns):
        try:
            r, w = await asyncio.wait_for(
                asyncio.open_connection(HOST, port, local_addr=(SLOW_ADDRESS, 0)), 5)
            slow.append((r, w))
        except (OSError, asyncio.TimeoutError):
            refused += 1
    stop = asyncio.Event()

    async def trickle(w: asyncio.StreamWriter) -> None:
        try:
            w.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            while not stop.is_set():
                await w.drain()
                try:
                    await asyncio.wait_for(stop.wait(), args.slow_interval)
                except asyncio.TimeoutError:
                    w.write(b"a")
        except (ConnectionError, OSError):
            pass

    tricklers = [asyncio.create_task(trickle(w)) for i, (_, w) in enumerate(slow) if i % 2 == 1]
    await asyncio.sleep(args.slow_hold)  # let the server take them all in (or refuse them)
    listener = Tab(port, PROBE_ADDRESS, stats, args.conns_per_tab)
    probe: dict = {"slow_conns_opened": len(slow), "slow_conns_connect_failed": refused}
    session = make_session(cfg, str(uuidlib.uuid4()), seed=10**6, comment=COMMENT, name="probe ✓")
    try:
        await listener.load(args.timeout, args.audio_pages)
        await listener.submit(webmushra_body(session), args.timeout)
    except (ConnectionError, OSError, asyncio.TimeoutError) as err:
        probe["listener_error"] = f"{type(err).__name__}: {err}"
    finally:
        listener.close()
    # How many of the slow connections the server had closed by now (EOF on read).
    async def is_closed(r: asyncio.StreamReader) -> bool:
        try:
            return (await asyncio.wait_for(r.read(1), 0.5)) == b""
        except asyncio.TimeoutError:
            return False
        except (ConnectionError, OSError):
            return True

    closed = sum(await asyncio.gather(*(is_closed(r) for r, _ in slow)))
    stop.set()
    await asyncio.gather(*tricklers, return_exceptions=True)
    for _, w in slow:
        w.close()
    probe.update({
        "slow_conns_closed_by_server": closed,
        "listener_page_ms": round(1000 * listener.page_s, 1) if listener.page_s is not None else None,
        "listener_post_status": listener.post[0][0] if listener.post else None,
        "listener_session_uuid": session["uuid"],
    })
    probe["probe_passed"] = (listener.page_s is not None and listener.page_s < args.max_p99
                             and probe["listener_post_status"] == 200)
    return probe


async def run_tabs_async(cfg, port: int, args: argparse.Namespace, sessions: list[dict]) -> dict:
    stats = Stats()
    rng = random.Random(0)
    n_dup = int(round(args.duplicates * len(sessions)))
    tabs = [Tab(port, tab_address(i), stats, args.conns_per_tab) for i in range(len(sessions))]
    starts = sorted(rng.uniform(0, args.ramp) for _ in tabs)
    thinks = [args.think * rng.uniform(0.5, 1.5) for _ in tabs]
    loop_t0 = time.perf_counter()

    async def one(i: int) -> None:
        tab = tabs[i]
        await asyncio.sleep(starts[i])
        try:
            await tab.load(args.timeout, args.audio_pages)
            await asyncio.sleep(thinks[i])
            body = webmushra_body(sessions[i])
            await tab.submit(body, args.timeout)
            if i < n_dup:  # a retry of the same session (idempotent on the server)
                await tab.submit(body, args.timeout)
            await asyncio.sleep(args.linger)  # the tab stays open, its connections idle
        except (ConnectionError, OSError, asyncio.TimeoutError) as err:
            stats.client_errors.append(f"tab {i}: {type(err).__name__}: {err}")
        finally:
            tab.close()

    deadline = args.ramp + 1.5 * args.think + args.linger + 4 * args.timeout
    try:
        await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(len(tabs)))), deadline)
    except asyncio.TimeoutError:
        stats.client_errors.append(f"run stopped at its deadline ({deadline:.0f} s)")
    wall = time.perf_counter() - loop_t0
    probe = await slow_probe(port, args, stats, cfg) if args.slow_conns > 0 else {}
    page = [t.page_s for t in tabs if t.page_s is not None]
    audio = [t.audio_s for t in tabs if t.audio_s is not None]
    posts = [p for t in tabs for p in t.post]
    return {
        "tabs": len(tabs), "conns_per_tab": args.conns_per_tab, "ramp_s": args.ramp, "think_s": args.think,
        "linger_s": args.linger, "peak_open_connections": stats.peak_open, "requests": stats.requests,
        "wall_s": round(wall, 1),
        "pages_loaded": len(page), "page_p50_ms": pct(page, 0.5), "page_p99_ms": pct(page, 0.99),
        "page_max_ms": pct(page, 1.0), "pages_over_2s": sum(p > 2.0 for p in page),
        "audio_p50_ms": pct(audio, 0.5), "audio_p99_ms": pct(audio, 0.99),
        "posts": len(posts), "post_200_empty": sum(s == 200 and d == b"" for s, d, _ in posts),
        "post_p50_ms": pct([p[2] for p in posts], 0.5), "post_p99_ms": pct([p[2] for p in posts], 0.99),
        "duplicate_posts": n_dup, "http_errors": len(stats.http_errors), "client_errors": len(stats.client_errors),
        "keepalive_retries": stats.retries,
        "first_errors": (stats.http_errors + stats.client_errors)[:3],
        **probe,
    }


def run_tabs(test_dir: Path, cfg, port: int, args: argparse.Namespace) -> dict:
    sessions = [make_session(cfg, str(uuidlib.uuid4()), seed=i, comment=COMMENT, name=f"listener {i} ✓ a+b&c")
                for i in range(args.tabs)]
    report = {"mode": "tabs", **asyncio.run(run_tabs_async(cfg, port, args, sessions))}
    storage = Storage(default_db_path(test_dir, cfg))
    stored = stored_rows(storage)
    counts = storage.counts()
    n_expected = sum(len(expected_rows(s)) for s in sessions)
    lost = sum(len(expected_rows(s) - stored.get(s["uuid"], set())) for s in sessions)
    probe_uuid = report.get("listener_session_uuid")
    probe_rows = len(stored.get(probe_uuid, set())) if probe_uuid else 0
    n_stored_ratings = counts["ratings"] - probe_rows
    report.update({
        "sessions_stored": counts["sessions"] - (1 if probe_rows else 0),
        "sessions_lost": sum(1 for s in sessions if s["uuid"] not in stored),
        "ratings_expected": n_expected, "ratings_lost": lost,
        "ratings_duplicated": n_stored_ratings - (n_expected - lost), "reposts_seen": counts["reposts"],
    })
    report["passed"] = bool(
        report["pages_loaded"] == args.tabs and report["page_p99_ms"] is not None
        and report["page_p99_ms"] < 1000 * args.max_p99 and not report["http_errors"]
        and not report["client_errors"] and report["post_200_empty"] == args.tabs + report["duplicate_posts"]
        and lost == 0 and report["ratings_duplicated"] == 0 and report["sessions_stored"] == args.tabs
        and report["reposts_seen"] == report["duplicate_posts"]
        and (args.slow_conns == 0 or report.get("probe_passed")))
    return report


async def run_idle_async(port: int, args: argparse.Namespace) -> dict:
    stats = Stats()
    idle = [Conn(port, f"127.2.{i // 4 // 250}.{i // 4 % 250 + 1}", stats) for i in range(args.idle_conns)]
    failed = 0
    for c in idle:
        try:
            await asyncio.wait_for(c._open(), 5.0)
        except (OSError, asyncio.TimeoutError):
            failed += 1  # e.g. a server that stopped accepting at its connection limit
    await asyncio.sleep(1.0)
    seconds = 5.0
    clients = [Conn(port, f"127.0.1.{k + 1}", stats) for k in range(8)]

    async def hammer(c: Conn) -> int:
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            status, _, _ = await asyncio.wait_for(c.request("GET", "/api/config"), args.timeout)
            if status != 200:
                stats.http_errors.append(f"HTTP {status}")
            n += 1
        return n

    try:
        counts = await asyncio.gather(*(hammer(c) for c in clients)) if not failed else [0]
    except (ConnectionError, OSError, asyncio.TimeoutError) as err:
        stats.client_errors.append(f"{type(err).__name__}: {err}")
        counts = [0]
    finally:
        for c in idle + clients:
            c.close()
    return {"mode": "idle", "idle_connections": args.idle_conns, "clients": len(clients),
            "idle_connect_failed": failed, "requests_per_s": round(sum(counts) / seconds),
            "http_errors": len(stats.http_errors), "client_errors": len(stats.client_errors),
            "passed": not failed and not stats.http_errors and not stats.client_errors and sum(counts) > 0}


def post(port: int, body: bytes, timeout: float) -> tuple[int, bytes, float]:
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("POST", "/service/write.php", body=body, headers={"Content-Type": FORM})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, data, time.perf_counter() - t0
    finally:
        conn.close()


def run_kill(test_dir: Path, cfg, port: int, proc: subprocess.Popen, args: argparse.Namespace, log: Path,
             extra: list[str]) -> dict:
    stop = threading.Event()
    acked: dict[str, dict] = {}
    failed = [0]
    lock = threading.Lock()
    max_posts = 10_000  # per listener; the kill comes long before

    def worker(i: int) -> None:
        for k in range(max_posts):
            if stop.is_set():
                return
            s = make_session(cfg, str(uuidlib.uuid4()), seed=1000 * i + k, comment=COMMENT)
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
    proc2 = start_server(test_dir, port2, args.workers, log, extra)
    try:
        extra_session = make_session(cfg, str(uuidlib.uuid4()), seed=999_999, comment=COMMENT)
        status, _, _ = post(port2, webmushra_body(extra_session), args.timeout)
    finally:
        stop_server(proc2)
    storage = Storage(default_db_path(test_dir, cfg))
    stored = stored_rows(storage)
    missing = [u for u, s in acked.items() if expected_rows(s) - stored.get(u, set())]
    per_session = {len(t["responses"]) for t in extra_session["trials"]}
    n_per_session = sum(len(t["responses"]) for t in extra_session["trials"])
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
    ap.add_argument("--mode", choices=("tabs", "idle", "kill"), default="tabs")
    ap.add_argument("--tabs", type=int, default=50, help="browser tabs (tabs mode)")
    ap.add_argument("--conns-per-tab", type=int, default=4, help="kept-alive connections per tab (default 4)")
    ap.add_argument("--ramp", type=float, default=10.0, help="seconds over which the tabs open (default 10)")
    ap.add_argument("--think", type=float, default=3.0, help="mean seconds between page load and submit")
    ap.add_argument("--linger", type=float, default=20.0, help="seconds a tab stays open after submitting")
    ap.add_argument("--audio-pages", type=int, default=1, help="MUSHRA pages whose audio each tab loads")
    ap.add_argument("--duplicates", type=float, default=0.1, help="fraction of tabs that post their session twice")
    ap.add_argument("--max-p99", type=float, default=2.0, help="page-time p99 limit in s for passing")
    ap.add_argument("--slow-conns", type=int, default=300, help="slow/idle connections of the probe (0: no probe)")
    ap.add_argument("--slow-interval", type=float, default=2.0, help="seconds between trickled header bytes")
    ap.add_argument("--slow-hold", type=float, default=2.0, help="seconds the slow connections are held first")
    ap.add_argument("--idle-conns", type=int, default=2000, help="idle connections held (idle mode)")
    ap.add_argument("--listeners", type=int, default=20, help="posting threads (kill mode)")
    ap.add_argument("--items", type=int, default=10, help="mushra pages per session")
    ap.add_argument("--workers", type=int, default=8, help="server worker threads")
    ap.add_argument("--kill-after", type=float, default=2.0, help="seconds of load before SIGKILL (kill mode)")
    ap.add_argument("--timeout", type=float, default=30.0, help="per-request timeout in s")
    ap.add_argument("--server-arg", action="append", default=None,
                    help="extra argument for `mushra serve` (repeatable; replaces the mode's default extras)")
    ap.add_argument("--json", action="store_true", help="print one JSON line")
    ap.add_argument("--keep", type=Path, default=None, help="work folder to keep (default: a temporary one)")
    args = ap.parse_args(argv)
    for name in ("tabs", "conns_per_tab", "listeners", "items", "workers"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1")
    # Kill mode posts continuously from one address: the per-address rate limit is not what it measures.
    extra = args.server_arg if args.server_arg is not None else (["--rate-limit", "off"] if args.mode == "kill"
                                                                 else [])
    raise_fd_limit()

    work = args.keep or Path(tempfile.mkdtemp(prefix="mushra_load_"))
    test_dir = work / "test"
    cfg = make_test_dir(test_dir, n_items=args.items, systems=("voc_a", "voc_b", "voc_c"), test_id="loadtest",
                        seconds=0.2)
    log = work / "server.log"
    port = free_port()
    proc = start_server(test_dir, port, args.workers, log, extra)
    load_before = os.getloadavg()[0]
    cpu0, self0 = cpu_seconds(proc.pid), resource.getrusage(resource.RUSAGE_SELF)
    try:
        if args.mode == "tabs":
            report = run_tabs(test_dir, cfg, port, args)
            # CPU the server and this client used: the figures depend on how much of the machine they got.
            cpu1, self1 = cpu_seconds(proc.pid), resource.getrusage(resource.RUSAGE_SELF)
            report["server_cpu_s"] = round(cpu1 - cpu0, 1) if cpu0 is not None and cpu1 is not None else None
            report["client_cpu_s"] = round(self1.ru_utime + self1.ru_stime - self0.ru_utime - self0.ru_stime, 1)
            report["loadavg_1min_before_after"] = [round(load_before, 1), round(os.getloadavg()[0], 1)]
            report["cpus"] = os.cpu_count()
        elif args.mode == "idle":
            report = asyncio.run(run_idle_async(port, args))
            report["loadavg_1min_before_after"] = [round(load_before, 1), round(os.getloadavg()[0], 1)]
        else:
            report = run_kill(test_dir, cfg, port, proc, args, log, extra)
    finally:
        stop_server(proc)
    report["server_workers"] = args.workers
    report["server_args"] = extra
    if args.keep is None and report["passed"]:
        shutil.rmtree(work, ignore_errors=True)
    else:
        report["work_dir"] = str(work)
    if args.json:
        print(json.dumps(report))
    else:
        for k, v in report.items():
            print(f"{k:30s} {v}")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
