"""Slow clients (slowloris) against the console and the patient web page, over real
uvicorn on 127.0.0.1.

A client that opens a connection and then sends its request head a byte at a time, or
not at all, held that connection (a socket, a file descriptor, a protocol object) for as
long as it liked: uvicorn arms no timer until a first response is sent, and its
keep-alive timer is cancelled by any byte. A few thousand such connections from one
machine exhaust the process's descriptors, and the console (and the page) stop
accepting anyone. Now every connection must complete its request head within
``server.HEAD_TIMEOUT_S`` of opening (or of its previous response); past it the server
closes the connection. A client that sends its head in time is served as before.

The deadline is made short here (``HEAD_TIMEOUT_S`` patched); the waits below are
bounded by ``asyncio.timeout`` against a hang, and measure nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from carrier.console import server
from carrier.console.server import serve_console
from carrier.health import Health
from carrier.webchat.app import WebchatServer, serve_webchat
from carrier.webchat.settings import WebchatSettings

HANG = 10  # a bound on a hang, far above the patched deadline


@pytest.fixture(autouse=True)
def short_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server, "HEAD_TIMEOUT_S", 0.5, raising=False)


@pytest.fixture
async def console_port() -> AsyncIterator[int]:
    async with serve_console(Health(), "127.0.0.1", 0) as port:
        yield port


POSTS = {"console": b"/api/v1/session", "webchat": b"/api/session"}
"""A route of each that reads its JSON body before answering."""


@contextlib.asynccontextmanager
async def _serving(which: str) -> AsyncIterator[int]:
    if which == "console":
        async with serve_console(Health(), "127.0.0.1", 0) as port:
            yield port
        return
    web = WebchatSettings(enabled=True, port=0)
    chat = WebchatServer(web, handler=lambda: None,  # type: ignore[arg-type,return-value]
                         chat_handler=lambda: None)
    async with serve_webchat(chat, "127.0.0.1", 0) as port:
        yield port


@pytest.fixture(params=["console", "webchat"])
async def any_port(request: pytest.FixtureRequest) -> AsyncIterator[int]:
    """The console's port, then the patient page's (both served by ``serve_app``)."""
    async with _serving(request.param) as port:
        yield port


async def _closed_by_server(port: int, sent: bytes) -> bytes:
    """Open a connection, send ``sent`` (part of a request head), then wait: what the
    server sent before it closed the connection (a hang fails the test)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(sent)
        await writer.drain()
        async with asyncio.timeout(HANG):
            return await reader.read()
    finally:
        writer.close()


@pytest.mark.parametrize("sent", [b"", b"GET /health HTTP/1.1\r\nHost: x\r\n"],
                         ids=["nothing", "part of a head"])
async def test_a_request_head_that_never_completes_is_closed(any_port: int, sent: bytes
                                                             ) -> None:
    assert await _closed_by_server(any_port, sent) == b""


async def test_the_deadline_runs_again_after_each_answer_on_a_kept_connection(
        console_port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", console_port)
    try:
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        async with asyncio.timeout(HANG):
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 ")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            writer.write(b"GET /health HTTP/1.1\r\n")  # the next head, never finished
            await writer.drain()
            assert await reader.read() == b""
    finally:
        writer.close()


async def test_a_client_that_sends_its_head_in_time_is_served(console_port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", console_port)
    try:
        for part in (b"GET /health HTTP/1.1\r\n", b"Host: x\r\n", b"Connection: close\r\n\r\n"):
            writer.write(part)
            await writer.drain()
        async with asyncio.timeout(HANG):
            answer = await reader.read()
        assert answer.startswith(b"HTTP/1.1 200 ")
    finally:
        writer.close()


@pytest.fixture
def short_body_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server, "BODY_GRACE_S", 0.5, raising=False)


@pytest.mark.usefixtures("short_body_grace")
@pytest.mark.parametrize("which", ["console", "webchat"])
async def test_a_body_that_stops_coming_is_closed(which: str) -> None:
    """The head in time, then a body trickled or stopped (R.U.D.Y.): the request held its
    connection and a task for ever. Now a body must come at ``BODY_MIN_RATE`` bytes a
    second after ``BODY_GRACE_S``; below it the connection is closed."""
    head = (b"POST " + POSTS[which] + b" HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"name\": ")
    async with _serving(which) as port:
        answer = await _closed_by_server(port, head)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 4"), answer[:80]
