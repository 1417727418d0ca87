"""At most ``console.max_sessions_per_operator`` sessions per operator; a sign-in past it
ends that operator's oldest session (audited), rather than refusing the new one.

Before, every sign-in opened one more session and none ended until its idle logoff: a
stolen password (with a phished code) kept a session open beside the operator's own for
as long as it was used, unseen. Refusing the new sign-in instead would lock the operator
out by their own forgotten sessions and leave a thief's session standing; so the oldest
session goes, and the operator whose session ended sees the sign-in page.
"""

from __future__ import annotations

import httpx
import pytest

from carrier.console.app import ConsoleContext, build_app
from carrier.errors import ConfigError
from carrier.records.operators import Operators
from carrier.settings import ConsoleSettings, Settings
from carrier.settings_checks import check_console
from carrier.settings_limits import check_limits
from tests.console.conftest import Clock, code_at

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize("console_settings", [{"max_sessions_per_operator": 2}],
                         indirect=True)
async def test_a_sign_in_past_the_cap_ends_the_oldest_session(
        console: ConsoleContext, clock: Clock) -> None:
    issued = await Operators(console.records.pool, console.records.keys).add(
        "sched", "scheduler", now=clock())
    other = await Operators(console.records.pool, console.records.keys).add(
        "sup", "supervisor", now=clock())
    clients = [httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(console)),
                                 base_url="https://testserver") for _ in range(4)]
    try:
        for c, who in zip(clients, (issued, issued, other, issued), strict=True):
            r = await c.post("/api/v1/session", json={
                "name": who.name, "password": who.password, "totp": code_at(who, clock())})
            assert r.status_code == 200, r.text
            clock.advance(30)  # each sign-in with the next TOTP code
        seen = [(await c.get("/api/v1/session")).status_code for c in clients]
        assert seen == [401, 200, 200, 200]  # sched's first went; sup's own is untouched
    finally:
        for c in clients:
            await c.aclose()
    await console.records.drain_spool()
    rows = await console.records.pool.fetch(
        "SELECT actor, reason FROM audit_log WHERE action = 'console.logout' ORDER BY seq")
    assert [(r["actor"], r["reason"]) for r in rows] == [
        ("console:sched", "session cap: the oldest session ended")]


@pytest.mark.parametrize("value", [0, 101])
def test_a_cap_out_of_range_is_refused_at_start(value: int) -> None:
    settings = Settings(console=ConsoleSettings(max_sessions_per_operator=value))
    def load_checks() -> None:  # the upper bound is the limits table's, the lower the console's
        check_limits(settings, lambda key: "carrier.yaml")
        check_console(settings.console, "carrier.yaml")

    with pytest.raises(ConfigError) as refused:
        load_checks()
    assert "console.max_sessions_per_operator" in str(refused.value)


@pytest.mark.parametrize("console_settings", [{"max_sessions_per_operator": 2}],
                         indirect=True)
async def test_signing_in_again_in_one_browser_ends_no_other_desk_s_session(
        console: ConsoleContext, clock: Clock) -> None:
    """The browser's own session, replaced by its new sign-in, does not count against the
    cap: before, it did, and the operator's session at another desk was ended for it."""
    issued = await Operators(console.records.pool, console.records.keys).add(
        "sched", "scheduler", now=clock())
    desk, browser = (httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(console)),
                                       base_url="https://testserver") for _ in range(2))
    async with desk, browser:
        for c in (desk, browser, browser):
            r = await c.post("/api/v1/session", json={
                "name": "sched", "password": issued.password, "totp": code_at(issued, clock())})
            assert r.status_code == 200, r.text
            clock.advance(30)
        assert (await desk.get("/api/v1/session")).status_code == 200
        assert (await browser.get("/api/v1/session")).status_code == 200
    assert len(console.sessions) == 2
