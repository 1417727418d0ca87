"""What a careless or hostile browser sends the patient page, over real HTTP on 127.0.0.1:
each gets a clear 4xx, never a 500, and the server reads no more of a body than it keeps.
No agent is needed: every request here is refused before a chat would start."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from carrier.webchat import voice
from carrier.webchat.app import MAX_BODY, WebchatServer, serve_webchat
from carrier.webchat.settings import WebchatSettings

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def web() -> AsyncIterator[tuple[WebchatServer, int]]:
    server = WebchatServer(WebchatSettings(enabled=True, port=0, requests_per_minute=1000),
                           handler=lambda: None,  # type: ignore[arg-type,return-value]
                           chat_handler=lambda: None)
    async with serve_webchat(server, "127.0.0.1", 0) as port:
        yield server, port


async def _head_only(port: int, length: int) -> bytes:
    """A request whose headers promise ``length`` bytes, of which none are sent: the answer
    must come from the headers alone (a server waiting for the body never answers)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"POST /api/session HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/json\r\n"
                     b"Content-Length: " + str(length).encode() + b"\r\n\r\n")
        await writer.drain()
        async with asyncio.timeout(20):  # a bound on a hang, not a measurement
            return await reader.readuntil(b"\r\n\r\n")
    finally:
        writer.close()


async def test_an_oversized_body_is_refused_from_its_length_without_reading_it(
        web: tuple[WebchatServer, int]) -> None:
    _, port = web
    head = await _head_only(port, 1_000_000_000)
    assert head.startswith(b"HTTP/1.1 413 ")


async def test_a_chunked_body_is_cut_off_at_the_limit(web: tuple[WebchatServer, int]) -> None:
    _, port = web
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"mode": "voice", "phone": "'
        for _ in range(64):
            sent += 16 * 1024
            yield b"5" * (16 * 1024)
        yield b'"}'

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:
        r = await c.post("/api/session", content=chunks(),
                         headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json() == {"error": "request too large"}
    assert "content-security-policy" in r.headers


@pytest.mark.parametrize(("body", "why"), [
    (b"[" * 30_000 + b"]" * 30_000, "nested past any JSON a page sends"),
    (b'{"mode": "voice", "phone": ["5555550123"]}', "phone not a string"),
    (b'{"mode": ["voice"]}', "mode not a string"),
    (b'{"mode": "voice", "phone": {"a": 1}}', "phone an object"),
])
async def test_malformed_json_is_a_400(web: tuple[WebchatServer, int], body: bytes,
                                       why: str) -> None:
    server, port = web
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:
        r = await c.post("/api/session", content=body,
                         headers={"content-type": "application/json"})
    assert r.status_code == 400, why
    assert "error" in r.json()
    assert len(server.table) == 0  # nothing opened


async def test_a_message_that_is_not_text_and_an_unusable_offer_are_400(
        web: tuple[WebchatServer, int]) -> None:
    server, port = web
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:
        r = await c.post("/api/session", json={"mode": "voice", "phone": "555-010-0123"})
        assert r.status_code == 201
        sid, hdr = r.json()["session"], {"X-Webchat-Token": r.json()["token"]}
        for bad in ({"type": "offer", "sdp": "v=0 not an offer"},
                    {"type": "offer", "sdp": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n"
                                             "t=0 0\r\n"}):
            r = await c.post(f"/api/session/{sid}/voice", json=bad, headers=hdr)
            assert r.status_code == 400, r.text
            assert r.json() == {"error": "the SDP offer is not usable"}
        assert len(server.table) == 1  # the session stays: the page may offer again
        r = await c.post(f"/api/session/{sid}/end", json={}, headers=hdr)
        assert r.status_code == 204
    assert MAX_BODY >= 16 * 1024  # an SDP offer fits


async def test_two_offers_at_once_open_one_voice_call(
        web: tuple[WebchatServer, int], monkeypatch: pytest.MonkeyPatch) -> None:
    """The page (or a script) sends its SDP offer twice at once: one peer connection and
    one call handler, the other offer 409. Each answer is held at a gate, so the second
    offer arrives while the first is being answered, whatever the timing."""
    _, port = web
    entered: asyncio.Queue[int] = asyncio.Queue()
    gate, closed = asyncio.Event(), asyncio.Event()
    answered: list[str] = []

    class Peer:
        connectionState = "new"

        async def close(self) -> None:
            closed.set()

    async def answer_offer(offer: str, **kw: object) -> tuple[Peer, object, str]:
        answered.append(offer)
        entered.put_nowait(len(answered))
        await gate.wait()
        return Peer(), object(), "v=0 answer"

    async def run_call(pc: Peer, call: object, handler: object, **kw: object) -> None:
        await closed.wait()  # until the session ends

    monkeypatch.setattr(voice, "answer_offer", answer_offer)
    monkeypatch.setattr(voice, "run_call", run_call)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:
        r = await c.post("/api/session", json={"mode": "voice"})
        sid, hdr = r.json()["session"], {"X-Webchat-Token": r.json()["token"]}
        offer = {"type": "offer", "sdp": "v=0 offer"}
        first = asyncio.create_task(c.post(f"/api/session/{sid}/voice", json=offer,
                                           headers=hdr))
        assert await entered.get() == 1
        second = asyncio.create_task(c.post(f"/api/session/{sid}/voice", json=offer,
                                            headers=hdr))
        again = asyncio.create_task(entered.get())
        done, _ = await asyncio.wait({second, again}, return_when=asyncio.FIRST_COMPLETED)
        gate.set()
        again.cancel()
        assert second in done, "a second offer was answered while the first was"
        assert (await second).status_code == 409
        assert (await first).status_code == 200
        assert answered == ["v=0 offer"]
        r = await c.post(f"/api/session/{sid}/end", json={}, headers=hdr)
        assert r.status_code == 204


@pytest.mark.parametrize(("method", "path", "body", "status"), [
    ("GET", "/no-such-page", None, 404),
    ("GET", "/api/session", None, 405),
    ("POST", "/api/session", b"[" * (MAX_BODY + 1), 413),
], ids=["unknown path", "wrong method", "oversized body"])
async def test_the_server_s_own_refusals_carry_the_page_s_headers(
        web: tuple[WebchatServer, int], method: str, path: str, body: bytes | None,
        status: int) -> None:
    """The module promises every answer no-store, a strict CSP, nosniff and no framing.
    Before, the answers Starlette makes itself (404, 405, the body limit's 413) carried
    none of them: only the routes' own did. Now a middleware adds them to every answer."""
    _, port = web
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:
        r = await c.request(method, path, content=body,
                            headers={"content-type": "application/json"})
    assert r.status_code == status
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["content-security-policy"].startswith("default-src 'none'")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
