"""The sign-in page as a careless operator meets it, over real HTTPS on 127.0.0.1: a form
left open past its token's life is shown again, fresh, with a sentence (not a JSON error
document), and signs in on the next try; signing in again in the same browser ends the
session it replaces."""

from __future__ import annotations

import re

import httpx
import pytest

from carrier.console.app import ConsoleContext
from carrier.console.auth import COOKIE, LOGIN_CSRF_COOKIE
from carrier.console.server import client_context
from carrier.records.operators import Operators
from tests.console.conftest import Clock, code_at

pytestmark = pytest.mark.postgres


def _token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


async def test_an_expired_sign_in_form_is_shown_again_fresh(
        console: ConsoleContext, served: str, clock: Clock) -> None:
    issued = await Operators(console.records.pool, console.records.keys).add(
        "flo", "scheduler", now=clock())
    async with httpx.AsyncClient(base_url=served, verify=client_context(console.settings)) as c:
        page = await c.get("/login", params={"next": "/patients"})
        old = _token(page.text)
        c.cookies.clear()  # the form's cookie lived an hour; the page stayed open overnight
        form = {"name": "flo", "password": issued.password, "next": "/patients",
                "totp": code_at(issued, clock())}
        r = await c.post("/login", data={**form, "csrf_token": old})
        assert r.status_code == 403
        assert r.headers["content-type"].startswith("text/html")
        assert "expired" in r.text
        assert 'value="/patients"' in r.text  # where the operator was going, kept
        assert c.cookies.get(LOGIN_CSRF_COOKIE)
        fresh = _token(r.text)
        assert fresh != old
        assert fresh == c.cookies.get(LOGIN_CSRF_COOKIE)
        r = await c.post("/login", data={**form, "csrf_token": fresh})
        assert r.status_code == 303
        assert r.headers["location"] == "/patients"


async def test_signing_in_again_in_the_same_browser_ends_the_session_it_replaces(
        console: ConsoleContext, served: str, clock: Clock) -> None:
    ops = Operators(console.records.pool, console.records.keys)
    first, second = (await ops.add("ann", "supervisor", now=clock()),
                     await ops.add("ben", "supervisor", now=clock()))
    async with httpx.AsyncClient(base_url=served, verify=client_context(console.settings)) as c:
        r = await c.post("/api/v1/session", json={"name": "ann", "password": first.password,
                                                  "totp": code_at(first, clock())})
        assert r.status_code == 200
        ann = c.cookies.get(COOKIE)
        r = await c.post("/api/v1/session", json={"name": "ben", "password": second.password,
                                                  "totp": code_at(second, clock())})
        assert r.status_code == 200
        assert (await c.get("/api/v1/session")).json()["operator"] == "ben"
    async with httpx.AsyncClient(base_url=served, verify=client_context(console.settings),
                                 cookies={COOKIE: ann or ""}) as stale:
        assert (await stale.get("/api/v1/session")).status_code == 401
    assert len(console.sessions) == 1


async def test_a_page_form_with_a_stale_token_says_so_and_does_nothing(
        console: ConsoleContext, served: str, clock: Clock) -> None:
    issued = await Operators(console.records.pool, console.records.keys).add(
        "sue", "supervisor", now=clock())
    async with httpx.AsyncClient(base_url=served, verify=client_context(console.settings)) as c:
        r = await c.post("/api/v1/session", json={"name": "sue", "password": issued.password,
                                                  "totp": code_at(issued, clock())})
        assert r.status_code == 200
        # a form from before the operator signed in again (another tab): its token is old
        r = await c.post("/calls/live/call-1/hangup", data={"csrf_token": "from-before"})
        assert r.status_code == 403
        assert r.headers["content-type"].startswith("text/html")
        assert "was not sent" in r.text
        assert 'href="/calls/live"' in r.text  # the way back to a fresh form
    assert console.live.actions == []  # type: ignore[union-attr]


async def test_sign_out_from_a_stale_page_still_signs_out(
        console: ConsoleContext, served: str, clock: Clock) -> None:
    """The operator presses Sign out on a tab from before they signed in again: the session
    ends (before: a JSON 403 and the session stayed open, the operator believing otherwise).
    Signing out needs no token: the cookie is SameSite=Strict, and ending a session harms no
    one's records."""
    issued = await Operators(console.records.pool, console.records.keys).add(
        "sid", "supervisor", now=clock())
    async with httpx.AsyncClient(base_url=served, verify=client_context(console.settings)) as c:
        r = await c.post("/api/v1/session", json={"name": "sid", "password": issued.password,
                                                  "totp": code_at(issued, clock())})
        assert r.status_code == 200
        r = await c.post("/logout", data={"csrf_token": "from-before"})
        assert r.status_code == 303
        assert r.headers["location"] == "/login?bye=1"
        assert (await c.get("/api/v1/session")).status_code == 401
    assert len(console.sessions) == 0


async def test_a_form_posted_after_the_idle_logoff_signs_in_back_to_its_page(
        console: ConsoleContext, served: str, clock: Clock) -> None:
    """Hang up pressed on a page left open past the idle logoff: sign in, then back to the
    live-calls page (before: to /calls/live/call-1/hangup, which only takes POST: a 405)."""
    issued = await Operators(console.records.pool, console.records.keys).add(
        "ida", "supervisor", now=clock())
    async with httpx.AsyncClient(base_url=served, verify=client_context(console.settings)) as c:
        r = await c.post("/api/v1/session", json={"name": "ida", "password": issued.password,
                                                  "totp": code_at(issued, clock())})
        csrf = r.json()["csrf_token"]
        clock.advance(console.settings.console.idle_timeout_s + 1)
        r = await c.post("/calls/live/call-1/hangup", data={"csrf_token": csrf})
        assert r.status_code == 303
        assert r.headers["location"] == "/login?next=/calls/live"
    assert console.live.actions == []  # type: ignore[union-attr]
