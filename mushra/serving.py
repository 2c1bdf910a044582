"""Production serving of the listening-test app: waitress, sized for browsers that hold connections open.

A browser keeps 4–6 HTTP/1.1 connections per tab alive, for minutes, also after the results were sent.
waitress's defaults (100 connections, 120 s idle timeout, select() limited to 1024 descriptors) lock every new
listener out at about 20 open tabs, and 100 idle or slowly-trickling connections from one client make the server
unreachable. Here:

* waitress reads and parses requests in its event loop and hands only complete requests to its worker threads,
  so an idle or slow connection costs a file descriptor, never a worker;
* the connection limit is high (default 10000, at most the process's descriptor limit, whose soft value is
  raised to the hard one);
* the event loop is waitress's own (poll). It asks every open connection for its state on every iteration, so
  many idle kept-alive connections slow it down (measured with `benchmarks/mushra_load.py --mode idle` on 2 idle
  cores: 2689 requests/s with no idle connection, 1830 with 2000), but it never stalls: a home-made epoll loop that re-asked only busy
  connections was faster on idle connections and was removed because it left responses unsent for seconds under
  browser-like load (500 tabs x 4 connections: page p99 13-21 s against 31 ms with this loop);
* one client address may hold at most ``max_per_address`` connections (default 256: a lab of ~40 browsers behind
  one NAT address); further connections from it are closed at once, so a slowloris client from one address cannot
  fill the table. Behind a reverse proxy every connection comes from the proxy: the cap is off and the proxy's own
  limits apply (see the README);
* idle connections are closed after ``channel_timeout`` seconds (default 60); a browser reconnects transparently.
"""

from __future__ import annotations

import logging
import resource
from collections import Counter
from dataclasses import dataclass
from typing import Any

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import MultiSocketServer, TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher

log = logging.getLogger("mushra")

#: Descriptors kept free for the database, audio files and log when sizing the connection limit.
_FD_RESERVE = 128


@dataclass(frozen=True)
class ServeOptions:
    """How ``bench mushra serve`` listens. ``max_per_address`` 0 means no per-address cap."""

    host: str = "127.0.0.1"
    port: int = 5000
    threads: int = 8
    connection_limit: int = 10_000
    channel_timeout: int = 60
    max_per_address: int = 256
    backlog: int = 2048
    max_request_body_size: int = 2 << 20
    #: Pass X-Forwarded-* headers through to the app (which applies ProxyFix); waitress 3 removes them otherwise.
    forwarded_headers: bool = False


class _Channel(HTTPChannel):
    """waitress's channel, counted per client address on its server."""

    def __init__(self, server: Any, sock: Any, addr: Any, adj: Any, map: Any = None) -> None:
        # Set before waitress's __init__, which registers the channel (add_channel) before it sets self.addr.
        self.count_key = _address_key(addr)
        super().__init__(server, sock, addr, adj, map)

    def add_channel(self, map: Any = None) -> None:
        super().add_channel(map)
        self.server.per_address[self.count_key] += 1

    def del_channel(self, map: Any = None) -> None:
        counted = self._fileno in self.server.active_channels
        super().del_channel(map)
        if counted:
            self.server.per_address[self.count_key] -= 1
            if self.server.per_address[self.count_key] <= 0:
                del self.server.per_address[self.count_key]


def _address_key(addr: Any) -> str:
    return str(addr[0]) if isinstance(addr, tuple) and addr else "?"


class _Server(TcpWSGIServer):
    """A waitress TCP server that closes a new connection when its address already holds ``max_per_address``."""

    channel_class = _Channel
    max_per_address = 0
    refused_per_address = 0

    def __init__(self, *args: Any, max_per_address: int = 0, **kw: Any) -> None:
        self.per_address: Counter[str] = Counter()
        self.max_per_address = max_per_address
        super().__init__(*args, **kw)

    def handle_accept(self) -> None:
        try:
            v = self.accept()
            if v is None:
                return
            conn, addr = v
            self.set_socket_options(conn)
        except OSError:
            return  # as waitress does: a client gone before accept() completed
        addr = self.fix_addr(addr)
        if self.max_per_address and self.per_address[_address_key(addr)] >= self.max_per_address:
            self.refused_per_address += 1
            if self.refused_per_address in (1, 10, 100) or self.refused_per_address % 1000 == 0:
                log.warning("closed %d connections over the per-address limit (%d; latest from %s)",
                            self.refused_per_address, self.max_per_address, addr[0])
            conn.close()
            return
        self.channel_class(self, conn, addr, self.adj, map=self._map)


def raise_fd_limit() -> int:
    """Raise this process's soft descriptor limit to the hard one; returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft == resource.RLIM_INFINITY:
        return 1 << 20
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def create_server(app: Any, opts: ServeOptions) -> TcpWSGIServer | MultiSocketServer:
    """A waitress server for ``app`` set up as described in the module docstring (not yet running)."""
    fd_soft = raise_fd_limit()
    limit = min(opts.connection_limit, max(16, fd_soft - _FD_RESERVE))
    if limit < opts.connection_limit:
        log.warning("connection limit lowered to %d by the descriptor limit (ulimit -n %d)", limit, fd_soft)
    adj = Adjustments(host=opts.host, port=opts.port, threads=opts.threads, connection_limit=limit,
                      channel_timeout=opts.channel_timeout, cleanup_interval=min(30, max(1, opts.channel_timeout // 2)),
                      backlog=opts.backlog, asyncore_use_poll=True, ident="mushra",
                      max_request_body_size=opts.max_request_body_size,
                      clear_untrusted_proxy_headers=not opts.forwarded_headers)
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adj.threads)
    sock_map: dict[int, Any] = {}
    servers = [_Server(app, sock_map, dispatcher=dispatcher, adj=adj, sockinfo=info,
                       max_per_address=opts.max_per_address) for info in adj.listen]
    if len(servers) == 1:
        return servers[0]
    multi = MultiSocketServer(sock_map, adj, [(s.effective_host, s.effective_port) for s in servers], dispatcher,
                              servers[-1].log_info)
    return multi
