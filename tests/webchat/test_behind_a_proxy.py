"""Per-client limits of the patient page. Published behind a TLS proxy, as its docstring
tells an operator to, with the proxy's address in ``webchat.trusted_proxies`` each patient
is held to ``requests_per_minute`` by their own address (X-Forwarded-For), not all of them
together by the proxy's; without it the header is anyone's to forge, and is ignored. One
address holds at most ``max_sessions_per_client`` sessions. Over real HTTP on 127.0.0.1
(the test client plays the proxy); no agent needed."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from carrier.errors import ConfigError
from carrier.settings import load_settings
from carrier.webchat.app import WebchatServer, serve_webchat
from carrier.webchat.settings import WebchatSettings

pytestmark = pytest.mark.timeout(60)


async def _statuses(settings: WebchatSettings, forwarded_for: list[str]) -> list[int]:
    server = WebchatServer(settings, handler=lambda: None,  # type: ignore[arg-type,return-value]
                           chat_handler=lambda: None)  # text: 501 once past the limiter
    async with serve_webchat(server, "127.0.0.1", 0) as port, \
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:
        return [(await c.post("/api/session", json={"mode": "text"},
                              headers={"X-Forwarded-For": who})).status_code
                for who in forwarded_for]


async def test_patients_behind_the_trusted_proxy_each_have_their_own_limit() -> None:
    web = WebchatSettings(enabled=True, port=0, requests_per_minute=2,
                          trusted_proxies=("127.0.0.1",))
    got = await _statuses(web, ["203.0.113.5", "203.0.113.5", "203.0.113.5",
                                "203.0.113.6", "198.51.100.7, 203.0.113.7"])
    assert got == [501, 501, 429, 501, 501]


async def test_without_a_trusted_proxy_the_header_is_ignored() -> None:
    web = WebchatSettings(enabled=True, port=0, requests_per_minute=2)
    got = await _statuses(web, ["203.0.113.5", "203.0.113.6", "203.0.113.7"])
    assert got == [501, 501, 429]  # all one client: 127.0.0.1, whatever the header says


@pytest.mark.parametrize("value", ['["*"]', '["proxy.example"]', '["10.0.0.300"]'])
def test_a_proxy_that_is_not_an_address_is_refused_at_load(tmp_path: Path,
                                                           value: str) -> None:
    (tmp_path / "carrier.yaml").write_text(f"webchat:\n  trusted_proxies: {value}\n")
    with pytest.raises(ConfigError) as err:
        load_settings(tmp_path, env={})
    assert "webchat.trusted_proxies" in str(err.value)


async def test_one_client_cannot_take_every_session() -> None:
    """One address opening sessions as fast as its rate limit lets it would hold every
    slot for ``idle_timeout_s`` and lock every other patient out (503): it gets
    ``max_sessions_per_client``, then 429; the next patient still gets in."""
    web = WebchatSettings(enabled=True, port=0, max_sessions=5, max_sessions_per_client=2,
                          trusted_proxies=("127.0.0.1",))
    server = WebchatServer(web, handler=lambda: None,  # type: ignore[arg-type,return-value]
                           chat_handler=lambda: None)
    async with serve_webchat(server, "127.0.0.1", 0) as port, \
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:
        async def open_as(who: str) -> httpx.Response:
            return await c.post("/api/session", json={"mode": "voice"},
                                headers={"X-Forwarded-For": who})

        flood = [await open_as("203.0.113.5") for _ in range(4)]
        assert [r.status_code for r in flood] == [201, 201, 429, 429]
        assert (await open_as("203.0.113.6")).status_code == 201
        first = flood[0].json()
        r = await c.post(f"/api/session/{first['session']}/end", json={},
                         headers={"X-Webchat-Token": first["token"],
                                  "X-Forwarded-For": "203.0.113.5"})
        assert r.status_code == 204
        assert (await open_as("203.0.113.5")).status_code == 201  # a slot freed, theirs again
