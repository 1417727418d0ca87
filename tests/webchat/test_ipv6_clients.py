"""Per-client limits against a client on IPv6, behind the trusted proxy.

A host on IPv6 is given a whole /64 and can send from any of its 2^64 addresses. The page
held each *address* to ``requests_per_minute`` and ``max_sessions_per_client``: one host
changing address per request was never limited, and could take every session slot and
lock the other patients out. Now an IPv6 client counts by its /64 (an IPv4-mapped one as
its IPv4 address); IPv4 clients by their address, as before. Over real HTTP on 127.0.0.1
(the test client plays the proxy); no agent needed.
"""

from __future__ import annotations

import httpx
import pytest

from carrier.webchat.app import WebchatServer, serve_webchat
from carrier.webchat.settings import WebchatSettings

pytestmark = pytest.mark.timeout(60)
PROXY = ("127.0.0.1",)


async def _statuses(settings: WebchatSettings, forwarded_for: list[str],
                    chat: object = None) -> list[int]:
    server = WebchatServer(settings, handler=lambda: None,  # type: ignore[arg-type,return-value]
                           chat_handler=lambda: chat)  # type: ignore[arg-type,return-value]
    async with serve_webchat(server, "127.0.0.1", 0) as port, \
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:
        return [(await c.post("/api/session", json={"mode": "voice"},
                              headers={"X-Forwarded-For": who})).status_code
                for who in forwarded_for]


async def test_one_ipv6_host_changing_address_is_one_client() -> None:
    web = WebchatSettings(enabled=True, port=0, requests_per_minute=2, trusted_proxies=PROXY)
    got = await _statuses(web, ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3",
                                "2001:db8:1:3::1",  # another /64: another client
                                "::ffff:203.0.113.5", "203.0.113.5", "203.0.113.5"])
    assert got == [201, 201, 429, 201, 201, 201, 429]


async def test_one_ipv6_host_cannot_take_every_session() -> None:
    web = WebchatSettings(enabled=True, port=0, max_sessions=5, max_sessions_per_client=2,
                          trusted_proxies=PROXY)
    got = await _statuses(web, [f"2001:db8:7:7::{i}" for i in range(1, 5)]
                          + ["2001:db8:7:8::1"])
    assert got == [201, 201, 429, 429, 201]
