"""The sessions core: per-client rate limit, the session bound, tokens, idle expiry
(pure: ``now`` passed in)."""

from __future__ import annotations

import pytest

from carrier.webchat.sessions import RateLimiter, SessionsFull, SessionTable, UnknownSession


def test_rate_limit_is_per_client_and_slides() -> None:
    limiter = RateLimiter(3)
    assert [limiter.allow("a", t) for t in (0.0, 1.0, 2.0, 3.0)] == [True, True, True, False]
    assert limiter.allow("b", 3.0)  # another client is not held by a's requests
    assert not limiter.allow("a", 59.9)
    assert limiter.allow("a", 60.0)  # the first request left the window


def test_rate_limit_bounds_the_clients_it_tracks() -> None:
    limiter = RateLimiter(1, max_clients=2)
    assert limiter.allow("a", 0.0)
    assert limiter.allow("b", 0.0)
    assert not limiter.allow("c", 1.0)  # a flood of addresses: refused, not remembered
    assert limiter.allow("c", 61.0)  # a and b aged out


def test_session_bound_token_and_idle_expiry() -> None:
    table = SessionTable(max_sessions=2, idle_s=10.0)
    a = table.open("text", 0.0)
    b = table.open("voice", 0.0)
    with pytest.raises(SessionsFull):
        table.open("text", 1.0)
    assert a.id != b.id
    assert a.token != b.token
    assert a.token != a.id
    with pytest.raises(UnknownSession):
        table.get(a.id, b.token, 1.0)  # another session's token
    with pytest.raises(UnknownSession):
        table.get("nope", a.token, 1.0)
    assert table.get(a.id, a.token, 5.0) is a  # a request restarts its idle clock
    assert [s.id for s in table.expired(12.0)] == [b.id]
    table.close(b.id)
    assert table.open("text", 12.0).kind == "text"  # room again
