"""The console published behind a TLS proxy (``console.tls: false`` on 127.0.0.1, the
proxy terminating HTTPS), and sign-in attempts spread over many accounts.

* With the proxy's address in ``console.trusted_proxies``, the console believes its
  ``X-Forwarded-For`` / ``X-Forwarded-Proto``: the session cookie is marked Secure on
  requests the browser made over HTTPS (before, it never was with ``tls: false``, so a
  browser would send it over plain HTTP to the same host), and each client is known by its
  own address. Without the setting the headers are anyone's to forge, and are ignored.
* One address trying one password on many accounts (password spraying) met each
  account's lockout only; it could try every account. Now an address with
  ``ADDRESS_FAILURES`` failed sign-ins within ``console.lockout_s`` is refused (429) until
  its window passes, without its passwords being checked, and audited; other addresses,
  and the accounts themselves, are unaffected.

Over real HTTP on 127.0.0.1 (uvicorn, the real database); the test client plays the proxy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from carrier.console.app import ConsoleContext
from carrier.console.auth import ADDRESS_FAILURES, COOKIE
from carrier.console.server import serve_console
from carrier.errors import ConfigError
from carrier.records.operators import Operators
from carrier.settings import load_settings
from tests.console.conftest import Clock, code_at

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]
PROXY = {"tls": False, "trusted_proxies": ("127.0.0.1",)}


@pytest.fixture
async def base_url(console: ConsoleContext) -> AsyncIterator[str]:
    async with serve_console(console, "127.0.0.1", 0,
                             trusted_proxies=console.settings.console.trusted_proxies) as port:
        yield f"http://127.0.0.1:{port}"


async def _sign_in(base_url: str, name: str, password: str, totp: str,
                   headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base_url) as c:
        return await c.post("/api/v1/session", headers=headers,
                            json={"name": name, "password": password, "totp": totp})


@pytest.mark.parametrize("console_settings", [PROXY], indirect=True)
async def test_behind_the_trusted_proxy_the_cookie_is_secure(
        console: ConsoleContext, base_url: str, clock: Clock) -> None:
    issued = await Operators(console.records.pool, console.records.keys).add(
        "pia", "supervisor", now=clock())
    r = await _sign_in(base_url, "pia", issued.password, code_at(issued, clock()),
                       {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"})
    assert r.status_code == 200
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "secure" in cookie.lower()


@pytest.mark.parametrize("console_settings", [{"tls": False}], indirect=True)
async def test_without_a_trusted_proxy_the_forwarded_headers_are_ignored(
        console: ConsoleContext, base_url: str, clock: Clock) -> None:
    """Plain HTTP on the loopback (the demo): a forged X-Forwarded-Proto changes nothing."""
    issued = await Operators(console.records.pool, console.records.keys).add(
        "pia", "supervisor", now=clock())
    r = await _sign_in(base_url, "pia", issued.password, code_at(issued, clock()),
                       {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"})
    assert r.status_code == 200
    assert "secure" not in r.headers["set-cookie"].lower()


@pytest.mark.parametrize("console_settings", [PROXY], indirect=True)
async def test_one_address_spraying_passwords_over_accounts_is_stopped(
        console: ConsoleContext, base_url: str, clock: Clock) -> None:
    ops = Operators(console.records.pool, console.records.keys)
    accounts = [await ops.add(f"op{i}", "auditor", now=clock())
                for i in range(ADDRESS_FAILURES + 2)]
    sprayer = {"X-Forwarded-For": "198.51.100.66"}
    got = [(await _sign_in(base_url, a.name, "Spring2026!", "000000", sprayer)).status_code
           for a in accounts]
    # each account failed once (its own lockout never triggers); the address is stopped
    assert got == [401] * ADDRESS_FAILURES + [429, 429]
    # even the right password from that address waits for the window to pass ...
    right = accounts[-1]
    r = await _sign_in(base_url, right.name, right.password, code_at(right, clock()), sprayer)
    assert r.status_code == 429
    assert r.headers["content-type"] == "application/problem+json"
    # ... while a colleague at another address signs in as usual
    colleague = {"X-Forwarded-For": "203.0.113.20"}
    r = await _sign_in(base_url, right.name, right.password, code_at(right, clock()),
                       colleague)
    assert r.status_code == 200
    limited = await console.records.pool.fetch(
        "SELECT reason FROM audit_log WHERE action = 'console.login_refused'"
        " AND reason = 'address limited'")
    assert len(limited) == 3
    clock.advance(console.settings.console.lockout_s + 1)
    clock.advance(30)  # a fresh TOTP step for the same account
    r = await _sign_in(base_url, right.name, right.password, code_at(right, clock()), sprayer)
    assert r.status_code == 200


@pytest.mark.parametrize("value", ['["*"]', '["proxy.example"]', '["10.0.0.300"]'])
def test_a_proxy_that_is_not_an_address_is_refused_at_load(tmp_path: Path,
                                                           value: str) -> None:
    (tmp_path / "carrier.yaml").write_text(f"console:\n  trusted_proxies: {value}\n")
    with pytest.raises(ConfigError) as err:
        load_settings(tmp_path, env={})
    assert "console.trusted_proxies" in str(err.value)
