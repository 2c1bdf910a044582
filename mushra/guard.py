"""Who may submit results: the origin check and the per-address rate limit of the results endpoint.

Neither webMUSHRA's page nor ours sends a token of its own, so a cross-site forgery is recognised the way a
browser lets a server recognise it: every browser sends ``Origin`` on a cross-site POST (form, fetch or XHR), and
on same-origin POSTs too in current browsers. The check therefore works with the unmodified webMUSHRA POST.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise_origin(value: str) -> str | None:
    """``scheme://host[:port]`` in lower case with the default port dropped, or None if ``value`` is not an
    http(s) origin or URL (``null``, ``file://``, garbage)."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{scheme}://{host}" if port in (None, _DEFAULT_PORTS[scheme]) else f"{scheme}://{host}:{port}"


@dataclass(frozen=True)
class OriginDecision:
    """``allowed``; ``origin`` the normalised origin the request came from (None when it named none);
    ``reason`` one line for the rejects log when not allowed."""

    allowed: bool
    origin: str | None
    reason: str = ""


class OriginPolicy:
    """Accept a submission when its ``Origin`` (or, without one, the origin of its ``Referer``) is the test's own
    origin or one of ``allowed``.

    ``require``: what to do when a request names neither. A browser always names its origin on a cross-site POST,
    so a request without both is not a cross-site forgery from a listener's browser; it is a script (curl, a
    re-submission tool), which can write any header it likes, so refusing it stops no-one and breaks honest tools.
    Such requests are therefore accepted by default (the rate limit still applies); ``require=True`` refuses them.
    ``Origin: null`` (sandboxed frames, data: pages; a known way to hide a forging page) is always refused.
    """

    def __init__(self, allowed: list[str] | tuple[str, ...] = (), *, require: bool = False) -> None:
        norm = []
        for a in allowed:
            n = normalise_origin(a)
            if n is None or urlsplit(a.strip()).path not in ("", "/"):
                raise ValueError(f"not an origin (scheme://host[:port]): {a!r}")
            norm.append(n)
        self.allowed = frozenset(norm)
        self.require = require

    def check(self, own_origin: str, origin_header: str | None, referer_header: str | None) -> OriginDecision:
        """Decide for one request; ``own_origin`` is ``scheme://host[:port]`` as the request reached the server."""
        own = normalise_origin(own_origin)
        if origin_header is not None and origin_header.strip():
            raw, source = origin_header, "Origin"
        elif referer_header is not None and referer_header.strip():
            raw, source = referer_header, "Referer"
        elif self.require:
            return OriginDecision(False, None, "no Origin or Referer header (this server requires one)")
        else:
            return OriginDecision(True, None)
        origin = normalise_origin(raw)
        if origin is None:
            return OriginDecision(False, None, f"{source} {raw.strip()[:100]!r} is not an http(s) origin")
        if origin == own or origin in self.allowed:
            return OriginDecision(True, origin)
        hint = ""
        if own and origin.split("://", 1)[1] == own.split("://", 1)[1]:
            hint = " (same host, other scheme: behind a TLS proxy, serve with --trusted-proxies 1)"
        return OriginDecision(False, origin, f"cross-site submission: {source} {origin} is not this test's "
                                             f"origin ({own}) nor an allowed one{hint}")


class RateLimiter:
    """Token bucket per client address: ``burst`` requests at once, refilled at ``burst / per_s`` per second.

    Thread-safe; the table of addresses is bounded (buckets that are full again are dropped first).
    """

    #: Addresses remembered at most; beyond that full (idle) buckets are forgotten.
    MAX_ADDRESSES = 100_000

    def __init__(self, burst: int, per_s: float, *, clock=time.monotonic) -> None:
        if burst < 1 or not per_s > 0:
            raise ValueError(f"rate limit needs burst >= 1 and a period > 0 s, got {burst}/{per_s}")
        self.burst = burst
        self.per_s = per_s
        self.rate = burst / per_s
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, time of last update)
        self._lock = threading.Lock()

    def hit(self, address: str) -> float:
        """Take one token for ``address``: 0.0 when allowed, else the seconds until the next one (> 0)."""
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(address, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[address] = (tokens - 1.0, now)
                wait = 0.0
            else:
                self._buckets[address] = (tokens, now)
                wait = (1.0 - tokens) / self.rate
            if len(self._buckets) > self.MAX_ADDRESSES:
                self._forget_full(now)
        return wait

    def _forget_full(self, now: float) -> None:
        full = [a for a, (t, last) in self._buckets.items() if t + (now - last) * self.rate >= self.burst]
        for a in full:
            del self._buckets[a]


def parse_rate(text: str) -> tuple[int, float] | None:
    """``"N/S"`` (N requests per S seconds; S may end in s, m or h) -> (N, seconds); ``"0"`` or ``"off"`` -> None."""
    t = text.strip().lower()
    if t in ("0", "off", "none"):
        return None
    n, sep, per = t.partition("/")
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    try:
        if not sep:
            raise ValueError
        mult = units.get(per[-1:], None)
        seconds = float(per[:-1] if mult else per) * (mult or 1.0)
        burst = int(n)
    except ValueError:
        raise ValueError(f"rate limit must be N/SECONDS (e.g. 20/60, 20/1m) or off, got {text!r}") from None
    if burst < 1 or not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError(f"rate limit must be N/SECONDS with N >= 1 and SECONDS > 0, got {text!r}")
    return burst, seconds
