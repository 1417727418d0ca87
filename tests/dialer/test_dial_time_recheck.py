"""A call waiting for its trunk slot is asked again, right before its INVITE, whether
the patient's standing still lets it go: a number put on the do-not-call list or a
consent revoked while the call waited stops it there.

The gate decides when the pass takes the outreach; the INVITE goes out when the trunk's
pacing lets it, which on a busy or slow trunk is seconds to minutes later (the window
closing meanwhile is handled by ``Decision.valid_until``). Before: consent, the
organisation's do-not-call list and the national registry were read once, at the pass's
decision, so a patient who said "stop calling" on her parent's call at the same number,
or whose number staff put on the list, was rung all the same by the call already queued.
Now the runner hands the dial a re-check (the same lookups and the gate's standing rules:
number, consent, do-not-call) that the one outbound path runs once the slot is taken;
a refusal there sends nothing (``withdrawn``, audited ``dial.withdrawn``), is recorded as
the gate's decision with its rule, counts against no cap, and the outreach follows the
rule as any refusal does (a revocation ends it).

The gateway's dialler, the one outbound path and the trunk pacing are the real ones on a
controlled clock; only the SIP leg (``dial_on``) is the test's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import asyncpg
import pytest

from carrier import outbound
from carrier.call import Call, DialFailure, DialOutcome, DialRequest
from carrier.dialer.campaign import CampaignPolicy, plan_reminders
from carrier.dialer.gate import Consent, GateRequest
from carrier.dialer.gateway_adapter import GatewayDialer
from carrier.dialer.ports import DialResult
from carrier.dialer.store import OutreachStore
from carrier.plugin import AppointmentFact, AppointmentState, CallOutcome
from carrier.trunk_service import Placed, TrunkSlots
from carrier.trunks import TrunkLimits, TrunkPool
from tests.dialer.conftest import (
    START,
    FakeClock,
    FakeDirectory,
    FakeFacts,
    FakeRecorder,
    make_runner,
)

pytestmark = pytest.mark.postgres

FIRST, SECOND = "+12125550131", "+12125550132"


class WhileWaiting(FakeClock):
    """The fake clock; the first wait for a trunk slot runs ``meanwhile`` (what happens
    in the world while the second call is queued)."""

    meanwhile: Any = None

    async def sleep(self, seconds: float) -> None:
        if self.meanwhile is not None:
            self.meanwhile()
            self.meanwhile = None
        await super().sleep(seconds)


class PacedGateway:
    """The real outbound path over one slow trunk (one call every 20 s); the SIP leg
    answers nothing (no answer)."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        pool = TrunkPool([TrunkLimits("primary", cps=0.05, max_concurrent=8, burst=1)])
        self.slots = TrunkSlots(pool, clock=clock.monotonic, sleep=clock.sleep)
        self.invites: list[str] = []
        self.audits: list[tuple[str, str]] = []

    async def place(self, req: DialRequest) -> Placed[Call | DialFailure]:
        return await outbound.place(req, self.slots, self._dial_on, self._audit, (),
                                    wall=self.clock.now)

    async def _dial_on(self, req: DialRequest, trunk: str) -> Call | DialFailure:
        self.invites.append(req.to)
        return DialFailure(DialOutcome.NO_ANSWER, 480, "ring timeout", trunk)

    async def _audit(self, action: str, ref: str, reason: str,
                     details: Mapping[str, Any]) -> None:
        self.audits.append((action, reason))

    async def run_outbound(self, call: Call, context: dict[str, Any]) -> CallOutcome | None:
        raise AssertionError("nothing answers in this test")


async def _never_answered(call: Call, request: GateRequest) -> DialResult:
    raise AssertionError("nothing answers in this test")


@pytest.mark.parametrize(("change", "rule"), [
    ("dnc", "dnc.organisation"),
    ("revoked", "tcpa.consent.revoked"),
    ("revoked_at_number", "tcpa.consent.revoked_at_number"),
])
async def test_a_queued_call_is_stopped_by_what_changed_while_it_waited(
        pool: asyncpg.Pool, change: str, rule: str) -> None:
    store = OutreachStore(pool)
    appts = [AppointmentFact(f"a{i}", f"p0{i}", START + dt.timedelta(hours=24),
                             AppointmentState.OPEN) for i in (1, 2)]
    policy = CampaignPolicy(reminder_offsets=(dt.timedelta(hours=24),))
    assert await store.add(plan_reminders(appts, policy, START), START) == 2
    clock = WhileWaiting()
    facts = FakeFacts()
    at_number: dict[str, list[str]] = {}

    async def patients_at(number: str) -> list[str]:
        return at_number.get(number, [])

    facts.patients_at = patients_at  # type: ignore[method-assign]

    def meanwhile() -> None:
        if change == "dnc":  # staff put the number on the list
            facts.org.add(SECOND)
        elif change == "revoked":  # the patient texted STOP
            facts.consent_by_patient["p02"] = {"voice": Consent.REVOKED}
        else:  # her parent at the same phone said "stop calling" on another call
            at_number[SECOND] = ["p09"]
            facts.consent_by_patient["p09"] = {"voice": Consent.REVOKED}

    clock.meanwhile = meanwhile
    gateway = PacedGateway(clock)
    recorder = FakeRecorder()
    runner = make_runner(pool, clock, GatewayDialer(gateway, "+15550100100", _never_answered),
                         facts=facts, recorder=recorder, policy=policy,
                         directory=FakeDirectory({"p01": FIRST, "p02": SECOND}))
    report = await runner.run_once()

    assert gateway.invites == [FIRST]  # the second was never sent
    assert report.outcomes == {"no_answer": 1, "withdrawn": 1}
    assert report.dialled == 1
    assert ("dial.withdrawn", rule) in gateway.audits
    # The decision at dial time is recorded with the rule that refused it.
    second = await pool.fetchval("SELECT id FROM dialer_outreach WHERE patient_id = 'p02'")
    assert (second, rule, False) in recorder.decisions
    # Never sent: no contact, no cap counts it; a revocation or the list ends the outreach.
    assert await store.prior_calls(["p02"], START - dt.timedelta(days=1)) == []
    state = await pool.fetchval("SELECT state FROM dialer_outreach WHERE id = $1", second)
    assert state == "done"


async def test_nothing_changed_the_queued_call_goes_out(pool: asyncpg.Pool) -> None:
    store = OutreachStore(pool)
    appts = [AppointmentFact(f"a{i}", f"p0{i}", START + dt.timedelta(hours=24),
                             AppointmentState.OPEN) for i in (1, 2)]
    policy = CampaignPolicy(reminder_offsets=(dt.timedelta(hours=24),))
    await store.add(plan_reminders(appts, policy, START), START)
    clock = WhileWaiting()
    gateway = PacedGateway(clock)
    runner = make_runner(pool, clock, GatewayDialer(gateway, "+15550100100", _never_answered),
                         policy=policy, directory=FakeDirectory({"p01": FIRST, "p02": SECOND}))
    report = await runner.run_once()
    assert gateway.invites == [FIRST, SECOND]
    assert report.outcomes == {"no_answer": 2}


async def test_a_recheck_that_cannot_read_the_records_sends_nothing(pool: asyncpg.Pool) -> None:
    """The database goes away while the second call waits: its re-check cannot read the
    patient's standing, so it is not sent (fail closed); the pass ends as an outage, and
    the outreach is taken again once the lease runs out."""
    store = OutreachStore(pool)
    appts = [AppointmentFact(f"a{i}", f"p0{i}", START + dt.timedelta(hours=24),
                             AppointmentState.OPEN) for i in (1, 2)]
    policy = CampaignPolicy(reminder_offsets=(dt.timedelta(hours=24),))
    await store.add(plan_reminders(appts, policy, START), START)
    clock = WhileWaiting()
    facts = FakeFacts()

    def outage() -> None:
        async def down(number: str) -> Any:
            raise ConnectionRefusedError("database away")

        facts.dnc = down  # type: ignore[method-assign]

    clock.meanwhile = outage
    gateway = PacedGateway(clock)
    runner = make_runner(pool, clock, GatewayDialer(gateway, "+15550100100", _never_answered),
                         facts=facts, policy=policy,
                         directory=FakeDirectory({"p01": FIRST, "p02": SECOND}))
    with pytest.raises(ConnectionRefusedError):
        await runner.run_once()
    assert gateway.invites == [FIRST]
