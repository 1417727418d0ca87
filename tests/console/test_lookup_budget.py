"""Each operator has a budget of patient lookups by phone number per hour
(``console.phi_lookups_per_hour``), on the API and on the pages alike.

Before, every lookup was audited but none refused: a scheduler's session (or a stolen
one) could walk through numbers one after another and collect names and dates of birth
of the whole practice. Now the lookup past the budget answers 429 and is audited
``patients.lookup_limited``; the budget frees up as the hour goes by, and it is each
operator's own. Recording a consent change is never refused for it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest

from carrier.console.app import ConsoleContext
from carrier.console.server import client_context
from carrier.errors import ConfigError
from carrier.records.operators import Operators
from carrier.settings import ConsoleSettings, Settings
from carrier.settings_checks import check_console
from carrier.settings_limits import check_limits
from tests.console.conftest import Clock, SignedIn, code_at

pytestmark = pytest.mark.postgres
SignIn = Callable[..., Awaitable[SignedIn]]
BUDGET = pytest.mark.parametrize(  # sessions outlive the hour the test moves the clock by
    "console_settings", [{"phi_lookups_per_hour": 3, "idle_timeout_s": 7200.0}], indirect=True)


def _number(n: int) -> str:
    return f"+1555555{n:04d}"  # 555-01xx style synthetic numbers


async def _limited(console: ConsoleContext) -> list[str]:
    await console.records.drain_spool()
    rows = await console.records.pool.fetch(
        "SELECT actor FROM audit_log WHERE action = 'patients.lookup_limited' ORDER BY seq")
    return [r["actor"] for r in rows]


@BUDGET
async def test_the_api_refuses_lookups_past_the_budget_until_the_hour_frees_one(
        console: ConsoleContext, signin: SignIn, clock: Clock) -> None:
    s = await signin("scheduler")
    other = await signin("scheduler", "op-other")
    for n in range(3):
        r = await s.client.post("/api/v1/patients/search", headers=s.headers(),
                                json={"phone": _number(100 + n), "reason": "walk"})
        assert r.status_code == 200, r.text
        clock.advance(60)
    r = await s.client.post("/api/v1/patients/search", headers=s.headers(),
                            json={"phone": _number(200), "reason": "walk"})
    assert r.status_code == 429
    assert "lookups" in r.json()["detail"]
    assert "5550200" not in r.text
    assert await _limited(console) == ["console:op-scheduler"]
    # Another operator's budget is their own.
    r = await other.client.post("/api/v1/patients/search", headers=other.headers(),
                                json={"phone": _number(201), "reason": "own budget"})
    assert r.status_code == 200
    clock.advance(3600 - 3 * 60 + 1)  # the first lookup is an hour old now
    r = await s.client.post("/api/v1/patients/search", headers=s.headers(),
                            json={"phone": _number(202), "reason": "after the hour"})
    assert r.status_code == 200


@BUDGET
async def test_the_pages_share_the_operators_budget_and_a_consent_change_is_never_refused(
        console: ConsoleContext, signin: SignIn) -> None:
    s = await signin("scheduler")
    for n in range(3):
        r = await s.client.post("/patients", data={"csrf_token": s.csrf,
                                                   "phone": _number(110 + n), "reason": "walk"})
        assert r.status_code == 200, r.text
    r = await s.client.post("/patients", data={"csrf_token": s.csrf,
                                               "phone": _number(120), "reason": "walk"})
    assert r.status_code == 429
    assert "text/html" in r.headers["content-type"]  # a page, as the console's errors are
    r = await s.client.post("/api/v1/patients/search", headers=s.headers(),
                            json={"phone": _number(121), "reason": "walk"})
    assert r.status_code == 429  # one budget across page and API

    c = await signin("compliance")
    pid = await console.records.add_patient("Testa Patientson", _number(130), actor="test",
                                            reason="fixture")
    for _ in range(3):
        r = await c.client.post("/consent", data={"csrf_token": c.csrf, "phone": _number(130)})
        assert r.status_code == 200
    r = await c.client.post("/consent", data={"csrf_token": c.csrf, "phone": _number(130)})
    assert r.status_code == 429
    r = await c.client.post("/consent/revoke", data={
        "csrf_token": c.csrf, "phone": _number(130), "patient_id": str(pid),
        "channel": "voice", "evidence_ref": "patient asked"})
    assert r.status_code == 200, r.text
    assert "Consent revoke recorded." in r.text
    assert await _limited(console) == ["console:op-scheduler"] * 2 + ["console:op-compliance"]


@pytest.mark.parametrize("value", [0, -1, 100_001])
def test_a_budget_out_of_range_is_refused_at_start(value: int) -> None:
    settings = Settings(console=ConsoleSettings(phi_lookups_per_hour=value))

    def load_checks() -> None:  # the upper bound is the limits table's, the lower the console's
        check_limits(settings, lambda key: "carrier.yaml")
        check_console(settings.console, "carrier.yaml")

    with pytest.raises(ConfigError) as refused:
        load_checks()
    assert "console.phi_lookups_per_hour" in str(refused.value)


@pytest.mark.parametrize("console_settings", [{"phi_lookups_per_hour": 2}], indirect=True)
async def test_the_budget_holds_over_real_https(console: ConsoleContext, served: str,
                                               clock: Clock) -> None:
    """As an operator's client meets it: the console on a real port of 127.0.0.1."""
    issued = await Operators(console.records.pool, console.records.keys).add(
        "sched", "scheduler", now=clock())
    async with httpx.AsyncClient(base_url=served, verify=client_context(console.settings)) as c:
        r = await c.post("/api/v1/session", json={"name": "sched", "password": issued.password,
                                                  "totp": code_at(issued, clock())})
        assert r.status_code == 200
        csrf = {"X-CSRF-Token": r.json()["csrf_token"]}
        codes = [(await c.post("/api/v1/patients/search", headers=csrf, json={
            "phone": _number(140 + n), "reason": "walk"})).status_code for n in range(3)]
    assert codes == [200, 200, 429]
    assert await _limited(console) == ["console:sched"]
