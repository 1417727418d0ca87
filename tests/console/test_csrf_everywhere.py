"""Every state-changing route of the console (API and pages) refuses a request without the
session's CSRF token, whichever role sends it: a cross-site page could otherwise make a
signed-in operator's browser act (SameSite=Strict is one line of defence, not the only
one). Routes are read from the app, so a new one is covered without listing it."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute

from carrier.console.app import ConsoleContext, build_app
from tests.console.conftest import SignedIn
from tests.console.conftest import _client as build_client

pytestmark = pytest.mark.postgres
SignIn = Callable[..., Awaitable[SignedIn]]
CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
NO_SESSION_NEEDED = {"/login", "/api/v1/session"}  # sign-in: double-submit cookie / JSON only
ALWAYS_ALLOWED = {"/logout"}  # ends the session only (documented in login.logout)


def _routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, set[str]]]:
    """Every route of the app, through the routers it includes (FastAPI 0.165 wraps them)."""
    for r in routes:
        if isinstance(r, APIRoute):
            yield prefix + r.path, set(r.methods)
        elif hasattr(r, "original_router"):
            yield from _routes(r.original_router.routes,
                               prefix + (r.include_context.prefix or ""))


def _filled(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-000000000001", path)


async def test_no_state_changing_route_acts_without_the_csrf_token(
        console: ConsoleContext, signin: SignIn) -> None:
    routes = [(m, path) for path, methods in _routes(build_app(console).routes)
              for m in methods & CHANGING]
    assert len(routes) > 10
    acted = []
    for role in ("admin", "compliance", "scheduler", "supervisor", "auditor"):
        s = await signin(role)
        for method, path in routes:
            if path in NO_SESSION_NEEDED | ALWAYS_ALLOWED:
                continue
            url = _filled(path)
            for kind in ("json", "form"):
                if kind == "json":
                    r = await s.client.request(method, url, json={})
                else:
                    r = await s.client.request(method, url, data={"csrf_token": "wrong"})
                if r.status_code < 400:
                    acted.append(f"{role} {method} {path} ({kind}): {r.status_code}")
                elif r.status_code not in (401, 403, 404, 405):
                    acted.append(f"{role} {method} {path} ({kind}): {r.status_code}"
                                 " before the CSRF check")
    assert not acted, "\n".join(acted)


async def test_a_cross_site_form_cannot_sign_in_through_the_json_api(
        console: ConsoleContext, signin: SignIn) -> None:
    """A form on another site can POST ``text/plain`` that looks like JSON (no preflight):
    login CSRF would sign the victim's browser in as the attacker. Refused (422)."""
    s = await signin("scheduler")
    async with build_client(console) as c:
        r = await c.post("/api/v1/session", content=json.dumps(
            {"name": s.issued.name, "password": s.issued.password, "totp": ""}),
            headers={"content-type": "text/plain"})
    assert r.status_code == 422
    assert "carrier_session" not in r.headers.get("set-cookie", "")
