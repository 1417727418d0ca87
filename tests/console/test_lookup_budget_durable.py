"""The lookup budget (``console.phi_lookups_per_hour``) is the records database's, not one
process's; a search of call records by number spends it; a HEAD spends and audits nothing.

Before: the budget was a dict in the ``serve`` process. A restart gave every operator a
fresh hour, and two consoles on one database (two nodes, or ``serve`` restarted by its
supervisor) each granted the whole budget. A search of call records by number (the CDRs'
last four digits: who called the clinic when) was audited but spent nothing, so it was an
unbounded walk. A ``HEAD /calls.csv`` wrote a ``calls.export`` audit entry with no data out.
Now the budget is rows in ``console_phi_lookups``, shared by every console on the database
and kept over restarts; a number search of the CDRs is a lookup like a patient search
(API, page and CSV alike); a budget that cannot be checked (the database down) refuses the
lookup with 503 rather than granting it; a HEAD reaches no audit and no budget.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from carrier.console.app import ConsoleContext, build_app
from carrier.console.lookups import LookupBudget, spend_lookup
from carrier.console.problems import Problem
from carrier.dialer.store import OutreachStore
from carrier.records.store import Records
from tests.console.conftest import Clock, SignedIn, StubAppointments, StubLive, code_at

pytestmark = pytest.mark.postgres
SignIn = Callable[..., Awaitable[SignedIn]]
BUDGET = pytest.mark.parametrize(
    "console_settings", [{"phi_lookups_per_hour": 3, "idle_timeout_s": 7200.0}], indirect=True)


def _number(n: int) -> str:
    return f"+1555555{n:04d}"


def _twin(console: ConsoleContext) -> ConsoleContext:
    """A second console on the same database: another node, or ``serve`` after a restart."""
    return ConsoleContext(console.settings, records=console.records, live=StubLive(),
                          campaigns=OutreachStore(console.records.pool),
                          appointments=StubAppointments(), now=console.now)


async def _actions(console: ConsoleContext, action: str) -> list[str]:
    await console.records.drain_spool()
    rows = await console.records.pool.fetch(
        "SELECT actor FROM audit_log WHERE action = $1 ORDER BY seq", action)
    return [r["actor"] for r in rows]


async def _search(c: httpx.AsyncClient, csrf: str, n: int) -> int:
    r = await c.post("/api/v1/patients/search", headers={"X-CSRF-Token": csrf},
                     json={"phone": _number(n), "reason": "walk"})
    return r.status_code


@BUDGET
async def test_the_budget_is_shared_by_two_consoles_and_outlives_a_restart(
        console: ConsoleContext, signin: SignIn, clock: Clock) -> None:
    s = await signin("scheduler")
    assert [await _search(s.client, s.csrf, 100 + n) for n in range(2)] == [200, 200]
    # The same operator on a second console over the same database (a node behind the same
    # balancer): one lookup is left, not a fresh three.
    other = _twin(console)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(other)),
                                 base_url="https://testserver") as c:
        r = await c.post("/api/v1/session", json={
            "name": s.issued.name, "password": s.issued.password,
            "totp": code_at(s.issued, clock(), steps=1)})
        assert r.status_code == 200, r.text
        csrf = r.json()["csrf_token"]
        assert [await _search(c, csrf, 110 + n) for n in range(2)] == [200, 429]
    # ``serve`` restarted: a fresh process's budget is still spent.
    restarted = _twin(console)
    with pytest.raises(Problem) as refused:
        await spend_lookup(restarted, "console:op-scheduler")
    assert refused.value.status == 429
    clock.advance(3601)
    await spend_lookup(restarted, "console:op-scheduler")  # the hour has gone by


@BUDGET
async def test_a_calls_search_by_number_spends_the_operators_budget(
        console: ConsoleContext, signin: SignIn) -> None:
    sup = await signin("supervisor")
    h = sup.headers()
    assert (await sup.client.get("/api/v1/calls", headers=h)).status_code == 200  # no number
    assert (await sup.client.get("/calls")).status_code == 200
    codes = [(await sup.client.get("/api/v1/calls", headers=h,
                                   params={"number": "0101", "reason": "complaint"})).status_code,
             (await sup.client.get("/calls", params={"number": "0102"})).status_code,
             (await sup.client.get("/api/v1/calls.csv", headers=h,
                                   params={"number": "0103"})).status_code,
             (await sup.client.get("/calls.csv", params={"number": "0104"})).status_code]
    assert codes == [200, 200, 200, 429]
    r = await sup.client.get("/api/v1/calls", headers=h, params={"number": "0105"})
    assert r.status_code == 429
    assert "0105" not in r.text
    assert (await sup.client.get("/api/v1/calls", headers=h)).status_code == 200
    assert await _actions(console, "patients.lookup_limited") == ["console:op-supervisor"] * 2


async def test_a_budget_that_cannot_be_checked_refuses_the_lookup(
        make_cluster: Callable[[], object], tmp_path: Path, test_kek: object,
        clock: Clock) -> None:
    import asyncpg  # noqa: PLC0415

    from carrier.records.migrate import migrate, plan  # noqa: PLC0415
    from tests.console.conftest import settings  # noqa: PLC0415

    cluster = make_cluster()
    conn = await asyncpg.connect(cluster.uri())  # type: ignore[attr-defined]
    await migrate(conn, plan())
    await conn.close()
    records = await Records.open(cluster.uri(), test_kek, tmp_path / "spool",  # type: ignore[attr-defined]
                                 retry_interval=3600)
    try:
        ctx = ConsoleContext(settings(tmp_path, phi_lookups_per_hour=3), records=records,
                             now=clock)
        assert isinstance(ctx.lookups, LookupBudget)
        await spend_lookup(ctx, "console:sched")
        await asyncio.to_thread(cluster.stop)  # type: ignore[attr-defined]
        with pytest.raises(Problem) as refused:
            await spend_lookup(ctx, "console:sched")
        assert refused.value.status == 503
        assert "no lookup" in refused.value.detail
    finally:
        await records.close()


async def test_head_on_an_export_or_a_number_search_writes_no_audit_and_spends_nothing(
        console: ConsoleContext, signin: SignIn) -> None:
    sup = await signin("supervisor")
    before = await _actions(console, "calls.export") + await _actions(
        console, "call_records.export")
    for path in ("/api/v1/calls.csv", "/calls.csv"):
        r = await sup.client.head(path, headers=sup.headers(), params={"number": "0101"})
        assert r.status_code == 200
        assert r.content == b""
    assert await _actions(console, "calls.export") + await _actions(
        console, "call_records.export") == before
    assert await _actions(console, "calls.search") == []
    assert await console.records.pool.fetchval(
        "SELECT count(*) FROM console_phi_lookups") == 0
