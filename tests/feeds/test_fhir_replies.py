"""The FHIR client against a server on 127.0.0.1 whose replies are wrong in how they come,
not in what they say: a 200 whose body is HTML (a proxy's login page) or JSON that is not
an object, a redirect to another host (the bearer token must not follow it), a redirect
loop, a body larger than any Bundle should be, and a body that keeps coming past the
reply deadline (the client's clock is the test's). Each is an ``OSError`` the poll loop
retries later (``Feeds.poll_fhir`` catches those), never another exception that would end
``carrier serve``'s task group, and never a memory or time sink."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from carrier.feeds import fhir_client
from carrier.feeds.fhir_client import FhirClient, SmartAuth

TOKEN = "tok-" + "x" * 20


class Hostile:
    """A server whose reply to ``GET /fhir/Appointment...`` is ``reply`` (status, headers,
    body); ``POST /token`` answers a token; every Authorization header is kept."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.reply: tuple[int, dict[str, str], bytes] = (200, {}, b"{}")
        self.authorizations: list[str] = []
        hostile = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                body = json.dumps({"access_token": TOKEN, "expires_in": 300}).encode()
                self._send(200, {"Content-Type": "application/json"}, body)

            def do_GET(self) -> None:
                hostile.authorizations.append(self.headers.get("Authorization", ""))
                status, headers, body = hostile.reply
                self._send(status, headers, body)

            def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.port = self.httpd.server_address[1]
        self.base = f"http://{host}:{self.port}/fhir"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def servers() -> Iterator[tuple[Hostile, Hostile]]:
    here, elsewhere = Hostile("127.0.0.1"), Hostile("127.0.0.2")
    yield here, elsewhere
    here.close()
    elsewhere.close()


def _client(srv: Hostile, **kw: Any) -> FhirClient:
    key = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption())
    auth = SmartAuth(f"http://127.0.0.1:{srv.port}/token", "carrier-test", key)

    async def no_sleep(seconds: float) -> None:
        return None

    return FhirClient(srv.base, auth=auth, retries=1, sleep=no_sleep, **kw)


async def _search(client: FhirClient) -> list[dict[str, Any]]:
    return [r async for r in client.search("Appointment", {"_count": "10"})]


@pytest.mark.parametrize(("headers", "body"), [
    ({"Content-Type": "text/html"}, b"<html><body>Please sign in</body></html>"),
    ({"Content-Type": "application/fhir+json"}, b"[]"),
    ({"Content-Type": "application/fhir+json"}, b'"ok"'),
    ({"Content-Type": "application/fhir+json"}, b"null"),
    ({"Content-Type": "application/fhir+json"}, b'{"resourceType": "Bundle", "entry": {}'),
    ({"Content-Type": "application/fhir+json"}, b'{"entry": ' + b"[" * 100000),  # nesting
])
async def test_a_reply_that_is_no_fhir_json_object_is_an_io_error(
        servers: tuple[Hostile, Hostile], headers: dict[str, str], body: bytes) -> None:
    here, _ = servers
    here.reply = (200, headers, body)
    with pytest.raises(OSError, match="not a FHIR JSON"):
        await _search(_client(here))


async def test_a_redirect_to_another_host_is_not_followed_and_gets_no_token(
        servers: tuple[Hostile, Hostile]) -> None:
    here, elsewhere = servers
    here.reply = (302, {"Location": f"{elsewhere.base}/Appointment?_count=10"}, b"")
    elsewhere.reply = (200, {"Content-Type": "application/fhir+json"},
                       b'{"resourceType": "Bundle", "entry": []}')
    with pytest.raises(OSError, match="302"):
        await _search(_client(here))
    assert elsewhere.authorizations == []
    assert here.authorizations
    assert all(a == f"Bearer {TOKEN}" for a in here.authorizations)


async def test_a_redirect_loop_on_the_server_ends(servers: tuple[Hostile, Hostile]) -> None:
    here, _ = servers
    here.reply = (302, {"Location": f"{here.base}/Appointment?_count=10"}, b"")
    with pytest.raises(OSError, match=r"30[12]"):
        await _search(_client(here))
    assert len(here.authorizations) <= 2 * 11  # urllib's own bound, per attempt


async def test_a_body_over_the_limit_is_refused_unread(
        servers: tuple[Hostile, Hostile], monkeypatch: pytest.MonkeyPatch) -> None:
    here, _ = servers
    monkeypatch.setattr(fhir_client, "MAX_REPLY", 1 << 16)
    here.reply = (200, {"Content-Type": "application/fhir+json"},
                  b'{"resourceType": "Bundle", "entry": [' + b'{},' * 40000 + b'{}]}')
    with pytest.raises(OSError, match="too large"):
        await _search(_client(here))


async def test_a_reply_still_coming_past_its_deadline_is_abandoned(
        servers: tuple[Hostile, Hostile]) -> None:
    here, _ = servers
    here.reply = (200, {"Content-Type": "application/fhir+json"},
                  b'{"resourceType": "Bundle", "entry": [' + b'{},' * 300000 + b'{}]}')
    ticks = itertools.count(0, 20.0)  # the client's clock: 20 s more at every look
    client = _client(here, clock=lambda: float(next(ticks)))
    with pytest.raises(TimeoutError):
        await _search(client)
