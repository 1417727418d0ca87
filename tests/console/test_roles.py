"""Least privilege, enforced on the server: every ``/api/v1`` endpoint x every role ->
the expected status (403 for a role without the right, the endpoint's own answer for one
with it), and 401 without a session. The table must name every API route."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from agent.staff_tasks import RecordsStaffTasks
from carrier.console.app import ConsoleContext, build_app
from carrier.console.roles import Role

pytestmark = pytest.mark.postgres

A, C, S, V, U = (Role.ADMIN, Role.COMPLIANCE, Role.SCHEDULER, Role.SUPERVISOR, Role.AUDITOR)
PID = str(uuid.UUID(int=7))
WHY = {"reason": "role table"}

# (method, path, request kwargs, roles allowed, status for an allowed role)
TABLE: list[tuple[str, str, dict[str, Any], set[Role], int]] = [
    ("POST", "/patients", {"json": {"name": "Testa Roleson", "phone": "+15555550142"}}, {S},
     201),
    ("POST", "/patients/search", {"json": {"phone": "+15555550142", "reason": "role test"}},
     {S}, 200),
    ("GET", f"/patients/{PID}", {"params": WHY}, {S}, 404),
    ("PUT", f"/patients/{PID}/language", {"json": {"language": "es"}}, {S}, 404),
    ("GET", "/appointments", {}, {S}, 200),
    ("GET", "/staff-tasks", {}, {S, V, C}, 200),
    ("GET", "/staff-tasks/999", {"params": WHY}, {S, V, C}, 404),
    ("POST", "/staff-tasks/999/done", {"json": {"note": "called back"}}, {S, V, C}, 404),
    ("GET", f"/patients/{PID}/consent", {"params": WHY}, {C}, 404),
    ("POST", f"/patients/{PID}/consent/grant", {"json": {
        "channel": "voice", "kind": "tcpa_express", "source": "form", "evidence": "f-1"}},
     {C}, 404),
    ("POST", f"/patients/{PID}/consent/revoke", {"json": {
        "channel": "voice", "source": "call", "evidence": "c-1"}}, {C}, 404),
    ("POST", "/dnc", {"json": {"phone": "+15555550143", "source": "call"}}, {C}, 201),
    ("POST", "/dnc/status", {"json": {"phone": "+15555550143"}}, {C}, 200),
    ("POST", "/dnc/national", {"content": b"2025550143\n",
                               "headers": {"content-type": "text/plain"}}, {C}, 201),
    ("GET", "/retention", {}, {C}, 200),
    ("POST", "/retention/run", {"json": {"confirm": False}}, {C}, 422),
    ("GET", "/campaigns", {}, {S}, 200),
    ("POST", "/campaigns/none/pause", {}, {S}, 404),
    ("POST", "/campaigns/none/start", {}, {S}, 404),
    ("POST", "/audit/export", {"json": {"start": "2026-01-01T00:00:00Z",
                                        "end": "2026-12-31T00:00:00Z"}}, {C, U}, 200),
    ("POST", "/audit/verify", {"content": b"not a bundle"}, {C, U}, 200),
    ("GET", "/audit/chain", {}, {C, U}, 200),
    ("GET", "/live-calls", {}, {V}, 200),
    ("POST", "/live-calls/nope/hangup", {}, {V}, 404),
    ("POST", "/live-calls/nope/transfer", {"json": {"target": "sip:desk@127.0.0.1"}}, {V},
     404),
    ("GET", "/calls", {}, {V}, 200),
    ("GET", "/calls.csv", {}, {V}, 200),
    ("GET", "/calls/nope/transcript", {"params": WHY}, {V}, 404),
    ("GET", "/operators", {}, {A}, 200),
    ("POST", "/operators", {"json": {"name": "newbie", "role": "auditor"}}, {A}, 201),
    ("POST", "/operators/nobody/disable", {}, {A}, 404),
    ("POST", "/operators/nobody/reset-mfa", {}, {A}, 404),
    ("GET", "/trunks", {}, {A}, 200),
]


def _template(path: str) -> str:
    out = []
    for part in path.split("/"):
        out.append("{x}" if part in (PID, "nope", "none", "nobody", "999") else part)
    return "/".join(out)


def test_the_table_names_every_api_route(console: ConsoleContext) -> None:
    routes = set()
    for path, ops in build_app(console).openapi()["paths"].items():
        if path.startswith("/api/v1/") and path != "/api/v1/session":
            short = "/".join("{x}" if p.startswith("{") else p
                             for p in path.removeprefix("/api/v1").split("/"))
            routes |= {(method.upper(), short) for method in ops}
    assert routes == {(m, _template(p)) for m, p, *_ in TABLE}


async def test_every_endpoint_for_every_role(console: ConsoleContext, signin,
                                             client: httpx.AsyncClient) -> None:
    console.application = SimpleNamespace(staff_tasks=RecordsStaffTasks(console.records))
    signed = {role: await signin(role.value) for role in Role}
    got: dict[tuple[str, str, str], int] = {}
    want: dict[tuple[str, str, str], int] = {}
    for method, path, kwargs, allowed, ok in TABLE:
        extra = dict(kwargs)
        anon = await client.request(method, f"/api/v1{path}", **extra)
        got[(method, path, "-")] = anon.status_code
        want[(method, path, "-")] = 401
        assert anon.headers["content-type"] == "application/problem+json"
        for role, who in signed.items():
            headers = {**extra.get("headers", {}), **who.headers()}
            r = await who.client.request(method, f"/api/v1{path}",
                                         **{**extra, "headers": headers})
            got[(method, path, role.value)] = r.status_code
            want[(method, path, role.value)] = ok if role in allowed else 403
            if r.status_code >= 400:
                assert r.headers["content-type"] == "application/problem+json", (method, path)
    assert got == want
