"""A pass started just before 9 pm never rings a phone after 9 pm.

The gate decides at the start of each call; the INVITE goes out when the trunk's pacing
(calls per second) lets it, which on a slow trunk is many seconds later. Before: every
call the gate allowed at 20:59:15 was sent whenever its slot came, so the third rang at
20:59:55 and went on ringing after 21:00. Now the gate's yes carries the moment its
window closes (``Decision.valid_until``), the clearance travels with the request
(``DialRequest.not_after``) and the one outbound path sends no INVITE that could still be
ringing then: that call is ``too_late``, not counted against any cap, and asked again at
the next window.

The gateway's dialler, the one outbound path and the trunk pacing are the real ones on a
controlled clock; only the SIP leg (``dial_on``) is the test's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from carrier import outbound
from carrier.call import Call, DialFailure, DialOutcome, DialRequest
from carrier.dialer.campaign import CampaignPolicy, plan_reminders
from carrier.dialer.gate import Address, Consent, Gate, GateFacts, GateRequest
from carrier.dialer.gateway_adapter import GatewayDialer
from carrier.dialer.holiday_calendar import PackageHolidays
from carrier.dialer.ports import Contact, DialResult
from carrier.dialer.store import OutreachStore
from carrier.plugin import AppointmentFact, AppointmentState, CallOutcome
from carrier.trunk_service import Placed, TrunkSlots
from carrier.trunks import TrunkLimits, TrunkPool
from tests.dialer.conftest import RULES, FakeClock, make_runner

pytestmark = pytest.mark.postgres

NY = ZoneInfo("America/New_York")
# Tue 2026-11-17 20:59:15 in New York
LATE = dt.datetime(2026, 11, 17, 20, 59, 15, tzinfo=NY).astimezone(dt.UTC)


class PacedGateway:
    """The real outbound path (clearance check, trunk slot, failover) over one slow
    trunk (one call every 20 s); the SIP leg answers nothing (no answer)."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        pool = TrunkPool([TrunkLimits("primary", cps=0.05, max_concurrent=8, burst=1)])
        self.slots = TrunkSlots(pool, clock=clock.monotonic, sleep=clock.sleep)
        self.invites: list[dt.datetime] = []

    async def place(self, req: DialRequest) -> Placed[Call | DialFailure]:
        return await outbound.place(req, self.slots, self._dial_on, self._audit, (),
                                    wall=self.clock.now)

    async def _dial_on(self, req: DialRequest, trunk: str) -> Call | DialFailure:
        self.invites.append(self.clock.now())
        return DialFailure(DialOutcome.NO_ANSWER, 480, "ring timeout", trunk)

    async def _audit(self, action: str, ref: str, reason: str,
                     details: Mapping[str, Any]) -> None:
        return None

    async def run_outbound(self, call: Call, context: dict[str, Any]) -> CallOutcome | None:
        raise AssertionError("nothing answers in this test")


class NewYorkDirectory:
    async def contact(self, patient_id: str) -> Contact:
        return Contact(number=f"+121255501{patient_id[-2:]}", address=Address(state="NY"),
                       number_given_by_patient=True)


async def _never_answered(call: Call, request: GateRequest) -> DialResult:
    raise AssertionError("nothing answers in this test")


async def test_no_call_rings_after_nine_pm(pool: asyncpg.Pool) -> None:
    store = OutreachStore(pool)
    appts = [AppointmentFact(f"a{i}", f"p{i:02d}", LATE + dt.timedelta(hours=14),
                             AppointmentState.OPEN) for i in range(3)]
    policy = CampaignPolicy(reminder_offsets=(dt.timedelta(hours=14),))
    assert await store.add(plan_reminders(appts, policy, LATE), LATE) == 3
    clock = FakeClock(wall0=LATE)
    gateway = PacedGateway(clock)
    dialer = GatewayDialer(gateway, "+12125550100", _never_answered)
    runner = make_runner(pool, clock, dialer, policy=policy)  # type: ignore[arg-type]
    runner.directory = NewYorkDirectory()
    report = await runner.run_once()

    # Only an INVITE that cannot ring past 21:00 (ring timeout 30 s) went out.
    assert gateway.invites == [LATE]
    assert report.outcomes == {"no_answer": 1, "too_late": 2}
    rows = await pool.fetch("SELECT o.state, o.dials, a.outcome FROM dialer_outreach o"
                            " JOIN dialer_attempts a ON a.outreach_id = o.id ORDER BY o.id")
    assert [tuple(r) for r in rows] == [
        ("pending", 1, "no_answer"), ("pending", 0, "too_late"), ("pending", 0, "too_late")]
    # A call never sent is no contact: it counts against no cap.
    prior = await store.prior_calls(["p01", "p02"], LATE - dt.timedelta(days=1))
    assert prior == []


def test_a_decision_carries_the_end_of_its_window() -> None:
    gate = Gate(RULES, PackageHolidays(RULES))
    facts = GateFacts({"voice": Consent.GRANTED}, False, False, LATE.date())
    florida = GateRequest(patient_id="p-1", number="+13055550123", purpose="no_show",
                          number_given_by_patient=True, free_to_patient=True)
    # 19:30 in Miami: Florida's own window closes at 20:00 local, before the federal one.
    now = dt.datetime(2026, 11, 17, 19, 30, tzinfo=NY)
    d = gate.decide(florida, facts, now)
    assert d.allowed
    assert d.valid_until == dt.datetime(2026, 11, 17, 20, 0, tzinfo=NY)
    assert d.to_record()["valid_until"] == "2026-11-18T01:00:00+00:00"
    # Spring forward (Sun 2027-03-14) in Arizona (no DST) vs Denver for a state-only address
    # that spans both: the earlier close wins.
    arizona = GateRequest(patient_id="p-2", number="+16025550123", purpose="no_show",
                          number_given_by_patient=True, free_to_patient=True,
                          address=Address(state="AZ"))
    now = dt.datetime(2027, 3, 14, 12, 0, tzinfo=ZoneInfo("America/Phoenix"))
    d = gate.decide(arizona, facts, now)
    assert d.allowed
    assert d.valid_until == dt.datetime(2027, 3, 14, 21, 0, tzinfo=ZoneInfo("America/Denver"))
