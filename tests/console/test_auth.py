"""Sign-in with password and TOTP, lockout, idle logoff, CSRF and cookies (issue 15),
against the console app on a real database with a hand-moved clock."""

from __future__ import annotations

import httpx
import pytest

from carrier.console.app import ConsoleContext
from carrier.console.auth import COOKIE, REVALIDATE
from carrier.records.operators import Operators
from tests.console.conftest import Clock, _client, code_at, settings

pytestmark = pytest.mark.postgres


async def _add(console: ConsoleContext, clock: Clock, name: str, role: str):  # type: ignore[no-untyped-def]
    return await Operators(console.records.pool, console.records.keys).add(name, role,
                                                                          now=clock())


async def _login(client: httpx.AsyncClient, name: str, password: str, totp: str
                 ) -> httpx.Response:
    return await client.post("/api/v1/session",
                             json={"name": name, "password": password, "totp": totp})


async def test_password_and_totp_sign_in_and_the_cookie_is_locked_down(
        console: ConsoleContext, client: httpx.AsyncClient, clock: Clock) -> None:
    issued = await _add(console, clock, "alice", "supervisor")
    r = await _login(client, "alice", issued.password, code_at(issued, clock()))
    assert r.status_code == 200
    assert r.json()["role"] == "supervisor"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    for flag in ("HttpOnly", "Secure", "SameSite=strict"):
        assert flag.lower() in cookie.lower()
    assert (await client.get("/api/v1/session")).json()["operator"] == "alice"
    rows = await console.records.pool.fetch(
        "SELECT action, actor FROM audit_log WHERE action LIKE 'console.%' ORDER BY seq")
    assert [(r["action"], r["actor"]) for r in rows] == [("console.login", "console:alice")]


async def test_a_phi_role_needs_its_code_and_a_code_works_once(
        console: ConsoleContext, client: httpx.AsyncClient, clock: Clock) -> None:
    issued = await _add(console, clock, "sam", "scheduler")
    assert (await _login(client, "sam", issued.password, "")).status_code == 401
    assert (await _login(client, "sam", issued.password, "000000" if code_at(
        issued, clock()) != "000000" else "111111")).status_code == 401
    assert (await _login(client, "sam", "wrong", code_at(issued, clock()))).status_code == 401
    code = code_at(issued, clock())
    assert (await _login(client, "sam", issued.password, code)).status_code == 200
    other = _client(console)
    async with other:
        replay = await _login(other, "sam", issued.password, code)
        assert replay.status_code == 401  # the same code, again: refused
        clock.advance(30)
        fresh = await _login(other, "sam", issued.password, code_at(issued, clock()))
        assert fresh.status_code == 200
    body = replay.json()
    assert replay.headers["content-type"] == "application/problem+json"
    assert body["status"] == 401
    assert body["title"] == "Sign-in refused"


async def test_unknown_names_and_disabled_accounts_are_refused_alike(
        console: ConsoleContext, client: httpx.AsyncClient, clock: Clock) -> None:
    issued = await _add(console, clock, "dora", "auditor")
    await Operators(console.records.pool, console.records.keys).disable("dora", now=clock())
    a = await _login(client, "dora", issued.password, code_at(issued, clock()))
    b = await _login(client, "nobody", "x", "123456")
    assert a.status_code == b.status_code == 401
    assert a.json()["detail"] == b.json()["detail"]


@pytest.mark.parametrize("console_settings", [{"lockout_failures": 2, "lockout_s": 600}],
                         indirect=True)
async def test_lockout_after_the_configured_failures_for_the_configured_time(
        console: ConsoleContext, client: httpx.AsyncClient, clock: Clock) -> None:
    issued = await _add(console, clock, "lou", "compliance")
    assert "check the name" in (await _login(client, "lou", "bad", "")).json()["detail"]
    locked = await _login(client, "lou", "bad", "")
    assert "locked" in locked.json()["detail"]
    clock.advance(30)
    right = await _login(client, "lou", issued.password, code_at(issued, clock()))
    assert right.status_code == 401
    assert "locked" in right.json()["detail"]
    clock.advance(600)
    assert (await _login(client, "lou", issued.password,
                         code_at(issued, clock()))).status_code == 200


@pytest.fixture
def console_settings(request: pytest.FixtureRequest, tmp_path):  # type: ignore[no-untyped-def]
    return settings(tmp_path, **getattr(request, "param", {}))


@pytest.mark.parametrize("console_settings", [{"idle_timeout_s": 120}], indirect=True)
async def test_idle_logoff_after_the_configured_time_and_polling_is_not_activity(
        console: ConsoleContext, signin, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    sup = await signin("supervisor")
    poll = {"X-Carrier-Background": "1"}
    clock.advance(100)
    assert (await sup.client.get("/api/v1/live-calls")).status_code == 200  # activity
    clock.advance(100)
    assert (await sup.client.get("/api/v1/live-calls", headers=poll)).status_code == 200
    clock.advance(100)  # 200 s since the operator last did anything; polls do not count
    r = await sup.client.get("/api/v1/live-calls", headers=poll)
    assert r.status_code == 401
    assert (await sup.client.get("/api/v1/session")).status_code == 401


async def test_state_changes_need_the_csrf_token(signin) -> None:  # type: ignore[no-untyped-def]
    comp = await signin("compliance")
    body = {"phone": "+1 555 555 0199", "source": "call"}
    r = await comp.client.post("/api/v1/dnc", json=body)
    assert r.status_code == 403
    assert r.json()["title"] == "CSRF check failed"
    r = await comp.client.post("/api/v1/dnc", json=body, headers={"X-CSRF-Token": "forged"})
    assert r.status_code == 403
    assert (await comp.client.post("/api/v1/dnc", json=body,
                                   headers=comp.headers())).status_code == 201


async def test_a_disabled_account_loses_its_open_sessions(
        console: ConsoleContext, signin, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    aud = await signin("auditor", "audrey")
    assert (await aud.client.get("/api/v1/audit/chain")).status_code == 200
    await Operators(console.records.pool, console.records.keys).disable("audrey", now=clock())
    clock.advance(REVALIDATE.total_seconds() + 1)  # another process did it: re-read in time
    assert (await aud.client.get("/api/v1/audit/chain")).status_code == 401


async def test_login_form_with_double_submit_csrf_then_logout(
        console: ConsoleContext, client: httpx.AsyncClient, clock: Clock) -> None:
    issued = await _add(console, clock, "flo", "scheduler")
    page = await client.get("/login?next=/calls")
    assert page.status_code == 200
    assert 'name="totp"' in page.text
    token = client.cookies.get("carrier_login_csrf")
    assert token
    assert f'value="{token}"' in page.text
    form = {"name": "flo", "password": issued.password, "totp": code_at(issued, clock()),
            "next": "/calls"}
    assert (await client.post("/login", data=form)).status_code == 403  # no token
    form["next"] = "//evil.example/"
    r = await client.post("/login", data={**form, "csrf_token": token})
    assert r.status_code == 303
    assert r.headers["location"] == "/"
    assert (await client.get("/api/v1/session")).status_code == 200
    csrf = (await client.get("/api/v1/session")).json()["csrf_token"]
    out = await client.post("/logout", data={"csrf_token": csrf})
    assert out.status_code == 303
    assert out.headers["location"] == "/login?bye=1"
    assert (await client.get("/api/v1/session")).status_code == 401


async def test_refused_form_sign_in_shows_the_form_again(
        console: ConsoleContext, client: httpx.AsyncClient) -> None:
    await client.get("/login")
    token = client.cookies.get("carrier_login_csrf")
    r = await client.post("/login", data={"name": "x", "password": "y", "totp": "",
                                          "csrf_token": token})
    assert r.status_code == 401
    assert 'id="login-error"' in r.text


async def test_accounts_get_argon2id_at_the_library_strength(
        console: ConsoleContext, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # the production hasher, not the fixtures' cheap one
    await _add(console, clock, "hana", "admin")
    stored = await console.records.pool.fetchval(
        "SELECT password_hash FROM console_operators WHERE name = 'hana'")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    secret = await console.records.pool.fetchval(
        "SELECT totp_secret_ct FROM console_operators WHERE name = 'hana'")
    assert b"otpauth" not in secret  # sealed under the data keys, not kept in clear


async def test_pages_redirect_to_sign_in_and_refuse_a_role_with_a_403_page(
        console: ConsoleContext, signin, client: httpx.AsyncClient) -> None:  # type: ignore[no-untyped-def]
    from fastapi import Depends  # noqa: PLC0415

    from carrier.console.app import build_app  # noqa: PLC0415
    from carrier.console.auth import page_operator  # noqa: PLC0415
    from carrier.console.roles import Operator, Role  # noqa: PLC0415

    app = build_app(console)

    @app.get("/only-admins")
    async def only(op: Operator = Depends(page_operator(Role.ADMIN))) -> dict[str, str]:  # noqa: B008
        return {"hello": op.name}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="https://testserver") as anon:
        r = await anon.get("/only-admins")
        assert r.status_code == 303
        assert r.headers["location"] == "/login?next=/only-admins"
    sup = await signin("supervisor")
    sup.client._transport = httpx.ASGITransport(app=app)
    r = await sup.client.get("/only-admins")
    assert r.status_code == 403
    assert 'id="forbidden"' in r.text
    assert "supervisor role may not open this page" in r.text
