"""The ``webchat`` settings act, over real HTTP on 127.0.0.1: ``max_sessions`` (503),
``requests_per_minute`` (429 per client), ``idle_timeout_s`` (the session is ended),
``max_message_chars`` (asked for a shorter one), ``number`` (the route to the workflow);
``max_call_s`` acts in test_voice_bridge. A bad value is refused at load with the file and key."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from agent.handler import AgentRuntime
from carrier.errors import ConfigError
from carrier.settings import load_settings
from tests.webchat.conftest import serving

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]


async def test_limits_act(text_runtime: AgentRuntime) -> None:
    async with serving(text_runtime, max_sessions=2, requests_per_minute=5,
                       max_message_chars=40) as (server, base), \
            httpx.AsyncClient(base_url=base) as web:
        opened = [await web.post("/api/session", json={"mode": "text"}) for _ in range(3)]
        assert [r.status_code for r in opened] == [201, 201, 503]  # max_sessions
        first = opened[0].json()
        assert "date of birth" not in " ".join(first["replies"])  # unknown: no PHI
        url, hdr = f"/api/session/{first['session']}/message", {
            "X-Webchat-Token": first["token"]}
        r = await web.post(url, json={"text": "x" * 41}, headers=hdr)
        assert r.status_code == 200  # max_message_chars: asked for a shorter one
        assert "at most 40 characters" in " ".join(r.json()["replies"])
        r = await web.post(url, json={"text": "hello"}, headers=hdr)
        assert r.status_code == 200
        r = await web.post(url, json={"text": "hello"}, headers=hdr)
        assert r.status_code == 429  # the sixth request of this client within a minute

        # idle_timeout_s: the reaper ends both sessions; the table has room again
        assert await server.reap(server.clock() + server.settings.idle_timeout_s) == 2
        assert len(server.table) == 0


async def test_number_routes_the_web_session(text_runtime: AgentRuntime) -> None:
    # "webchat" is routed to the reminder in these tests; another number gets the default
    async with serving(text_runtime, number="unrouted") as (_, base), \
            httpx.AsyncClient(base_url=base) as web:
        r = await web.post("/api/session", json={"mode": "text", "phone": "555-010-0123"})
        assert "Am I speaking with" not in " ".join(r.json()["replies"])
    async with serving(text_runtime) as (_, base), httpx.AsyncClient(base_url=base) as web:
        r = await web.post("/api/session", json={"mode": "text", "phone": "555-010-0123"})
        assert "Am I speaking with" in " ".join(r.json()["replies"])


@pytest.mark.parametrize(("line", "key"), [
    ("max_sessions: 0", "webchat.max_sessions"), ("port: 70000", "webchat.port"),
    ("idle_timeout_s: 0", "webchat.idle_timeout_s"),
    ("requests_per_minute: 0", "webchat.requests_per_minute"),
    ("max_call_s: 0", "webchat.max_call_s")])
def test_bad_values_are_refused_at_load(tmp_path: Path, line: str, key: str) -> None:
    (tmp_path / "carrier.yaml").write_text(f"webchat:\n  {line}\n")
    with pytest.raises(ConfigError) as err:
        load_settings(tmp_path, env={})
    assert err.value.key == key
    assert err.value.file.endswith("carrier.yaml")
