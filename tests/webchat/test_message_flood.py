"""A flood of messages on one chat session is refused at once, never left hanging.

Before: a session's messages waited in a queue of four for the chat handler; the next one
waited for room in it without any bound (outside the reply wait), so while the handler was
busy (or after it had ended) a browser or script sending more held HTTP requests open
forever, one task and one connection each. Now a message that finds the queue full is
refused with 429 and the page may send it again once it has its answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from carrier.plugin import CallContext, CallOutcome, OutcomeKind
from carrier.webchat import app as webchat_app
from carrier.webchat.app import WebchatServer, serve_webchat
from carrier.webchat.chat import TextLeg
from carrier.webchat.settings import WebchatSettings

pytestmark = pytest.mark.timeout(60)


class BusyChat:
    """Greets, takes one message, then is busy until the patient leaves."""

    async def __call__(self, leg: TextLeg, context: CallContext) -> CallOutcome:
        await leg.send("Hello from the clinic.")
        await leg.receive()
        await leg.ended.wait()
        return CallOutcome(leg.call_id, OutcomeKind.COMPLETED)


@pytest.fixture
async def web(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    monkeypatch.setattr(webchat_app, "REPLY_WAIT_S", 0.2)  # replies come with the next poll
    server = WebchatServer(WebchatSettings(enabled=True, port=0, requests_per_minute=1000),
                           handler=lambda: None,  # type: ignore[arg-type,return-value]
                           chat_handler=BusyChat)
    async with serve_webchat(server, "127.0.0.1", 0) as port:
        yield f"http://127.0.0.1:{port}"


async def test_messages_past_the_queue_are_refused_not_left_hanging(web: str) -> None:
    async with httpx.AsyncClient(base_url=web, timeout=30) as c:
        r = await c.post("/api/session", json={"mode": "text", "phone": "555-0142"})
        assert r.status_code == 201
        sid, token = r.json()["session"], r.json()["token"]
        headers = {"X-Webchat-Token": token}

        async def say(n: int) -> int:
            got = await c.post(f"/api/session/{sid}/message", headers=headers,
                               json={"text": f"message {n}"})
            return got.status_code

        async with asyncio.timeout(20):  # a bound on a hang, not a measurement
            codes = await asyncio.gather(*(say(n) for n in range(8)))
    assert sorted(codes)[:5] == [200] * 5  # one taken by the handler, four queued
    assert set(codes[5:]) <= {200, 429}
    assert codes.count(429) == 3


class Recorder:
    """Greets, then keeps every message it gets."""

    def __init__(self) -> None:
        self.got: list[str] = []

    async def __call__(self, leg: TextLeg, context: CallContext) -> CallOutcome:
        await leg.send("Hello from the clinic.")
        while (text := await leg.receive()) is not None:
            self.got.append(text)
            await leg.send(f"got {len(text)}")
        return CallOutcome(leg.call_id, OutcomeKind.COMPLETED)


async def test_a_message_far_over_the_limit_is_refused_before_the_handler() -> None:
    """Over ``max_message_chars`` a message still reaches the handler (it asks for a shorter
    one, and acts on an opt-out in it), but the body limit let 64 KiB of text through, and
    reading that (the application's grammar) took over a minute of the event loop that
    carries every call. Now a message over four times the limit (at most 5000 characters)
    is refused with 413 and never handed over; the session goes on."""
    recorder = Recorder()
    server = WebchatServer(WebchatSettings(enabled=True, port=0, requests_per_minute=1000,
                                           max_message_chars=100),
                           handler=lambda: None,  # type: ignore[arg-type,return-value]
                           chat_handler=lambda: recorder)
    async with serve_webchat(server, "127.0.0.1", 0) as port, httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
        r = await c.post("/api/session", json={"mode": "text", "phone": "555-0142"})
        sid, headers = r.json()["session"], {"X-Webchat-Token": r.json()["token"]}
        url = f"/api/session/{sid}/message"
        codes = []
        for size in (150, 400, 401, 60_000):
            got = await c.post(url, headers=headers, json={"text": "x" * size})
            codes.append(got.status_code)
        assert codes == [200, 200, 413, 413]
        assert "at most 400" in (await c.post(url, headers=headers,
                                             json={"text": "y" * 401})).json()["error"]
        assert (await c.post(url, headers=headers, json={"text": "stop"})).status_code == 200
    assert [len(t) for t in recorder.got] == [150, 400, 4]
