"""Production serving of the listening-test app: waitress, sized for browsers that hold connections open.

A browser keeps 4–6 HTTP/1.1 connections per tab alive, for minutes, also after the results were sent.
waitress's defaults (100 connections, 120 s idle timeout, select() limited to 1024 descriptors) lock every new
listener out at about 20 open tabs, and 100 idle or slowly-trickling connections from one client make the server
unreachable. Here:

* waitress reads and parses requests in its event loop and hands only complete requests to its worker threads,
  so an idle or slow connection costs a file descriptor, never a worker;
* the connection limit is high (default 10000, at most the process's descriptor limit, whose soft value is
  raised to the hard one);
* the event loop is :class:`EpollLoop`: waitress's own loop (select/poll) asks every open connection for its
  interest on every iteration, so 2000 idle kept-alive connections cut its throughput about five-fold (measured:
  854 -> 178 requests/s); this loop keeps the interest of idle connections registered in epoll and re-asks only
  the connections that are busy or had an event (plus a full pass every second, as a safety net);
* one client address may hold at most ``max_per_address`` connections (default 256: a lab of ~40 browsers behind
  one NAT address); further connections from it are closed at once, so a slowloris client from one address cannot
  fill the table. Behind a reverse proxy every connection comes from the proxy: the cap is off and the proxy's own
  limits apply (see the README);
* idle connections are closed after ``channel_timeout`` seconds (default 60); a browser reconnects transparently.
"""

from __future__ import annotations

import logging
import resource
import select
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import MultiSocketServer, TcpWSGIServer
from waitress import wasyncore
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
    #: The epoll loop (Linux); False runs waitress's own poll loop (for comparison, or if the epoll loop misbehaves).
    epoll: bool = True


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


class EpollLoop:
    """A drop-in for ``wasyncore.loop`` (waitress's ``server.asyncore`` shim) on Linux epoll.

    Level-triggered; a dispatcher is registered with the mask waitress's poll loop would give it (none: not
    registered). An HTTP channel that is idle (no request queued or running, nothing to send, not closing) keeps
    its registration without being asked again until it has an event: only a worker thread could change a busy
    channel, and busy channels are re-asked on every iteration. Everything is re-asked every ``FULL_PASS_S``.
    """

    FULL_PASS_S = 1.0
    dispatcher = wasyncore.dispatcher  # waitress reaches the dispatcher base class through the same shim
    _IN = select.POLLIN | select.POLLPRI
    _OUT = select.POLLOUT

    @staticmethod
    def loop(timeout: float = 30.0, use_poll: bool = True, map: dict[int, Any] | None = None,
             count: int | None = None) -> None:
        """Run until ``map`` is empty (or ``count`` iterations): as ``wasyncore.loop``."""
        if map is None or not hasattr(select, "epoll"):
            wasyncore.loop(timeout=timeout, use_poll=True, map=map, count=count)
            return
        ep = select.epoll()
        reg: dict[int, tuple[Any, int]] = {}  # fd -> (dispatcher, mask registered; 0 = not registered)
        watch: set[int] = set()
        next_full = 0.0
        try:
            while map and (count is None or count > 0):
                if count is not None:
                    count -= 1
                for fd in reg.keys() - map.keys():  # closed since the last pass (epoll dropped them itself)
                    if reg.pop(fd)[1]:
                        _unregister(ep, fd)
                now = time.monotonic()
                if now >= next_full:
                    next_full = now + EpollLoop.FULL_PASS_S
                    todo: Any = list(map.keys())
                else:
                    todo = watch | (map.keys() - reg.keys())
                watch = set()
                for fd in todo:
                    obj = map.get(fd)
                    if obj is None:
                        continue
                    mask = EpollLoop._IN if obj.readable() else 0
                    if obj.writable() and not obj.accepting:
                        mask |= EpollLoop._OUT
                    old = reg.get(fd)
                    if old is None or old[0] is not obj or old[1] != mask:
                        if old is not None and old[1]:
                            _unregister(ep, fd)
                        if mask:
                            ep.register(fd, mask)
                        reg[fd] = (obj, mask)
                    if not (isinstance(obj, HTTPChannel) and mask == EpollLoop._IN and not obj.requests):
                        watch.add(fd)
                try:
                    events = ep.poll(timeout)
                except InterruptedError:
                    events = []
                for fd, flags in events:
                    obj = map.get(fd)
                    if obj is None:
                        continue
                    wasyncore.readwrite(obj, flags)
                    watch.add(fd)
        finally:
            ep.close()


def _unregister(ep: Any, fd: int) -> None:
    try:
        ep.unregister(fd)
    except OSError:  # already closed: epoll forgot it
        pass


class _Server(TcpWSGIServer):
    """A waitress TCP server that closes a new connection when its address already holds ``max_per_address``."""

    channel_class = _Channel
    asyncore = EpollLoop
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
    if not opts.epoll:
        for s in servers:
            s.asyncore = wasyncore  # type: ignore[assignment]
    if len(servers) == 1:
        return servers[0]
    multi = MultiSocketServer(sock_map, adj, [(s.effective_host, s.effective_port) for s in servers], dispatcher,
                              servers[-1].log_info)
    multi.asyncore = EpollLoop if opts.epoll else wasyncore
    return multi
