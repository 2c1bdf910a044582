"""`bench mushra serve` under many held connections (a real server process on 127.0.0.1, stopped by PID)."""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mushra.testing import make_session, make_test_dir, webmushra_body

HOST = "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def server(tmp_path: Path, request: pytest.FixtureRequest):
    cfg = make_test_dir(tmp_path / "t", n_items=1, seconds=0.1)
    port = _free_port()
    extra = getattr(request, "param", ["--max-conn-per-address", "20"])
    proc = subprocess.Popen([sys.executable, "-m", "mushra.cli", "serve", str(tmp_path / "t"), "--host", HOST,
                             "--port", str(port), "--admin-token", "t", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"server exited with {proc.returncode}"
            try:
                socket.create_connection((HOST, port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        yield cfg, port
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(20)


def _connect(port: int, src: str) -> socket.socket:
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(5)
    s.connect((HOST, port))
    return s


def test_held_and_slow_connections_do_not_lock_out_a_listener(server) -> None:
    cfg, port = server
    held: list[socket.socket] = []
    try:
        # 300 browser connections from 100 addresses, open and idle (waitress's default limit was 100).
        for i in range(300):
            held.append(_connect(port, f"127.3.{i // 3 // 250}.{i // 3 % 250 + 1}"))
        # One address trickling unfinished requests (slowloris): only 20 of its 40 connections are kept.
        slow = [_connect(port, "127.0.0.66") for _ in range(40)]
        held += slow
        for s in slow:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: a")
        time.sleep(1.0)
        t0 = time.monotonic()
        conn = http.client.HTTPConnection(HOST, port, timeout=10, source_address=("127.0.0.77", 0))
        for path in ["/", "/api/config"] + ["/static/app.js"] * 30:  # one kept-alive connection
            conn.request("GET", path)
            resp = conn.getresponse()
            assert resp.status == 200, path
            resp.read()
        conn.request("POST", "/service/write.php", body=webmushra_body(make_session(cfg, "u1")),
                     headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": f"http://{HOST}:{port}"})
        resp = conn.getresponse()
        assert (resp.status, resp.read()) == (200, b"")
        assert time.monotonic() - t0 < 10
        closed = 0
        for s in slow:
            s.settimeout(0.2)
            try:
                closed += s.recv(1) == b""
            except TimeoutError:
                pass
            except OSError:
                closed += 1
        assert closed == 20
    finally:
        for s in held:
            s.close()


@pytest.mark.parametrize("server", [["--trusted-proxies", "1"]], indirect=True)
def test_forwarded_headers_reach_the_app_behind_a_trusted_proxy(server) -> None:
    """waitress 3 strips X-Forwarded-* by default: the public https origin must still be seen (as nginx sends it)."""
    cfg, port = server
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Origin": "https://listen.example.org",
               "Host": "listen.example.org", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "listen.example.org",
               "X-Forwarded-For": "203.0.113.5", "X-Forwarded-Port": "443"}
    conn.request("POST", "/service/write.php", body=webmushra_body(make_session(cfg, "p1")), headers=headers)
    resp = conn.getresponse()
    assert (resp.status, resp.read()) == (200, b"")
    conn.request("POST", "/service/write.php", body=webmushra_body(make_session(cfg, "p2")),
                 headers={**headers, "Origin": "https://evil.example"})
    resp = conn.getresponse()
    assert resp.status == 403 and resp.read()
    conn.request("GET", "/admin/rejects", headers={"Authorization": "Bearer t"})
    assert "203.0.113.5" in conn.getresponse().read().decode()  # the listener's address, not the proxy's
