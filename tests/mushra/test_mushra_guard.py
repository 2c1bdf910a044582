"""Origin policy, rate limiter and the --rate-limit syntax."""

from __future__ import annotations

import pytest

from mushra.guard import OriginPolicy, RateLimiter, normalise_origin, parse_rate


def test_normalise_origin() -> None:
    assert normalise_origin("HTTPS://Listen.Example.org:443/page?x") == "https://listen.example.org"
    assert normalise_origin("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert normalise_origin("http://[::1]:80/") == "http://[::1]"
    for bad in ("null", "file:///x.html", "", "not a url", "http://h:99999"):
        assert normalise_origin(bad) is None, bad


def test_origin_policy_decisions() -> None:
    own = "http://127.0.0.1:5000"
    pol = OriginPolicy(["https://listen.example.org"])
    assert pol.check(own, own, None).allowed
    assert pol.check(own, None, own + "/index.html?config=a.yaml").allowed
    assert pol.check(own, "https://listen.example.org", None).allowed
    d = pol.check(own, "https://evil.example", own + "/")  # Origin wins over a forged Referer
    assert not d.allowed and d.origin == "https://evil.example" and "cross-site" in d.reason
    assert not pol.check(own, "http://127.0.0.1:5001", None).allowed  # another port is another origin
    assert not pol.check(own, "null", None).allowed
    tls = pol.check("http://test.example.org", "https://test.example.org", None)
    assert not tls.allowed and "--trusted-proxies" in tls.reason
    assert pol.check(own, None, None).allowed
    assert not OriginPolicy(require=True).check(own, None, None).allowed
    with pytest.raises(ValueError):
        OriginPolicy(["https://x.org/path"])


def test_rate_limiter_token_bucket() -> None:
    now = [100.0]
    rl = RateLimiter(3, 60.0, clock=lambda: now[0])
    assert [rl.hit("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = rl.hit("a")
    assert wait == pytest.approx(20.0, rel=1e-9)  # one token per 60/3 s
    assert rl.hit("b") == 0.0
    now[0] += 20.0
    assert rl.hit("a") == 0.0 and rl.hit("a") > 0


def test_rate_limiter_forgets_idle_addresses() -> None:
    now = [0.0]
    rl = RateLimiter(1, 1.0, clock=lambda: now[0])
    rl.MAX_ADDRESSES = 10
    for i in range(11):
        rl.hit(f"10.0.0.{i}")
    now[0] += 5.0
    rl.hit("10.0.1.1")
    assert len(rl._buckets) <= 2


def test_parse_rate() -> None:
    assert parse_rate("30/60") == (30, 60.0)
    assert parse_rate("10/1m") == (10, 60.0)
    assert parse_rate("100/2h") == (100, 7200.0)
    assert parse_rate("off") is None and parse_rate("0") is None
    for bad in ("30", "x/60", "0/60", "5/0", "5/-1", "5/inf"):
        with pytest.raises(ValueError, match="N/SECONDS"):
            parse_rate(bad)
