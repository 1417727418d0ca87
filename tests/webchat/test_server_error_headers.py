"""A fault no route catches still answers with the page's security headers.

Before: Starlette's outermost error middleware (outside the app's header middleware)
answered an unexpected exception with a bare ``500 Internal Server Error``: no CSP, no
``nosniff``, no ``no-store``, no ``X-Frame-Options``, which every other answer carries. The
console's API had the same gap. Now a 500 carries them too, and says nothing of the fault.
"""

from __future__ import annotations

import httpx
import pytest

from carrier.console.app import ConsoleContext, build_app
from carrier.settings import Settings
from carrier.webchat.app import HEADERS, WebchatServer
from carrier.webchat.app import build_app as build_webchat
from carrier.webchat.settings import WebchatSettings


def _broken_chat() -> None:
    raise RuntimeError("chat handler for Testa Patientson 555-0142 failed")


async def test_a_webchat_500_carries_the_security_headers() -> None:
    server = WebchatServer(WebchatSettings(enabled=True, port=0), handler=_broken_chat,  # type: ignore[arg-type]
                           chat_handler=_broken_chat)  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=build_webchat(server), raise_app_exceptions=False)
    async with server, httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.post("/api/session", json={"mode": "text", "phone": "555-0142"})
    assert r.status_code == 500
    for name, value in HEADERS.items():
        assert r.headers.get(name) == value, name
    assert "Testa" not in r.text
    assert "0142" not in r.text
    assert "RuntimeError" not in r.text


class _BrokenLive:
    def snapshot(self) -> list[object]:
        raise RuntimeError("registry fault")


@pytest.mark.parametrize("path", ["/api/v1/live-calls", "/calls/live"])
async def test_a_console_500_carries_the_security_headers(path: str, tmp_path: object) -> None:
    from carrier.console import auth  # noqa: PLC0415
    from carrier.console.roles import Operator, Role  # noqa: PLC0415

    ctx = ConsoleContext(Settings(data_dir=str(tmp_path)), live=_BrokenLive())  # type: ignore[arg-type]
    session = ctx.sessions.open(Operator("op-1", "sup", Role.SUPERVISOR), ctx.now())
    transport = httpx.ASGITransport(app=build_app(ctx), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver",
                                 cookies={auth.COOKIE: session.token}) as c:
        r = await c.get(path)
    assert r.status_code == 500
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"
    assert "registry fault" not in r.text
