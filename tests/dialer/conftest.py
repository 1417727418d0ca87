"""Dialer test helpers: a fake clock, fake ports and a fake dial function.

The fake dialer is not a SIP peer mock: it is the boundary of the dialer unit (the
`Dialer` protocol the gateway implements); end-to-end calls are tested with pjsua2 elsewhere.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field

import asyncpg
import pytest

from carrier.dialer.campaign import CampaignPolicy
from carrier.dialer.gate import Consent, Decision, Gate, GateRequest
from carrier.dialer.holiday_calendar import PackageHolidays
from carrier.dialer.ports import Contact, DialResult, DncFacts, Outcome, Recheck
from carrier.dialer.rules import load_rules
from carrier.dialer.runner import DialerRunner
from carrier.dialer.store import OutreachStore
from carrier.trunk_service import SlotOutcome, TrunkSlots
from carrier.trunks import TrunkLimits, TrunkPool

RULES = load_rules()
# Tue 2026-11-17 10:00 in New York
START = dt.datetime(2026, 11, 17, 15, 0, tzinfo=dt.UTC)


@dataclass
class FakeClock:
    wall0: dt.datetime = START
    mono: float = 0.0

    def now(self) -> dt.datetime:
        return self.wall0 + dt.timedelta(seconds=self.mono)

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.mono += seconds

    async def sleep(self, seconds: float) -> None:
        self.mono += seconds
        await asyncio.sleep(0)


@dataclass
class FakeFacts:
    consent_by_patient: dict[str, Mapping[str, Consent]] = field(default_factory=dict)
    org: set[str] = field(default_factory=set)
    national: set[str] = field(default_factory=set)
    copy_date: dt.date | None = dt.date(2026, 11, 10)

    async def consent(self, patient_id: str) -> Mapping[str, Consent]:
        return self.consent_by_patient.get(patient_id, {"voice": Consent.GRANTED})

    lookups: int = 0

    async def dnc(self, number: str) -> DncFacts:
        self.lookups += 1
        return DncFacts(number in self.org, number in self.national, self.copy_date)

    async def patients_at(self, number: str) -> list[str]:
        return []


@dataclass
class FakeDirectory:
    numbers: dict[str, str] = field(default_factory=dict)

    async def contact(self, patient_id: str) -> Contact | None:
        number = self.numbers.get(patient_id, "+12125550100")
        return Contact(number=number, address=None, number_given_by_patient=True)


@dataclass
class FakeRecorder:
    decisions: list[tuple[int, str, bool]] = field(default_factory=list)

    async def record(
        self, request: GateRequest, decision: Decision, *, outreach_id: int, at: dt.datetime
    ) -> None:
        self.decisions.append((outreach_id, decision.rule, decision.allowed))

    async def record_before_gate(
        self, patient_id: str, purpose: str, decision: Decision, *, outreach_id: int,
        at: dt.datetime,
    ) -> None:
        self.decisions.append((outreach_id, decision.rule, decision.allowed))


def two_trunks() -> TrunkPool:
    return TrunkPool([
        TrunkLimits("primary", cps=50, max_concurrent=8, burst=8, failover="secondary"),
        TrunkLimits("secondary", cps=50, max_concurrent=8, burst=8),
    ])


@dataclass
class FakeDialer:
    """The gateway's boundary: deterministic outcomes by (patient, trunk), paced by the real
    trunk pool (`TrunkSlots`) on the fake clock; records every attempt with its time."""

    clock: FakeClock
    script: Callable[[GateRequest, str, int], DialResult] | None = None
    dials: list[tuple[str, str, float]] = field(default_factory=list)
    max_seconds: list[int | None] = field(default_factory=list)
    contexts: list[Mapping[str, object]] = field(default_factory=list)
    yields: int = 3
    trunks: TrunkPool = field(default_factory=two_trunks)
    slots: TrunkSlots | None = None

    def __post_init__(self) -> None:
        self.slots = TrunkSlots(self.trunks, clock=self.clock.monotonic, sleep=self.clock.sleep)

    async def attempt(self, request: GateRequest, trunk: str) -> DialResult:
        self.dials.append((request.patient_id, trunk, self.clock.monotonic()))
        for _ in range(self.yields):  # let other tasks and workers interleave
            await asyncio.sleep(0)
        if self.script is None:
            return DialResult(Outcome.ANSWERED)
        n = sum(1 for p, _, _ in self.dials if p == request.patient_id)
        return self.script(request, trunk, n)

    async def dial(
        self, request: GateRequest, trunk: str, *, max_call_seconds: int | None,
        context: Mapping[str, object] | None = None, not_after: dt.datetime | None = None,
        recheck: Recheck | None = None,
    ) -> DialResult:
        self.max_seconds.append(max_call_seconds)
        self.contexts.append(context or {})
        assert self.slots is not None

        async def attempt(trunk: str) -> DialResult:
            # As the gateway does: the re-check once the slot is taken, then the INVITE.
            rule = None if recheck is None else await recheck()
            if rule is not None:
                return DialResult(Outcome.WITHDRAWN, rule=rule)
            return await self.attempt(request, trunk)

        def outcome_of(r: DialResult) -> SlotOutcome:
            return SlotOutcome.TRUNK_DOWN if r.outcome is Outcome.TRUNK_DOWN else \
                SlotOutcome.DONE

        placed = await self.slots.place(trunk, attempt, outcome_of)
        if placed.result is None:
            return DialResult(Outcome.TRUNK_DOWN, down=placed.down)
        r = placed.result
        return DialResult(r.outcome, r.confirmed, r.cancelled, trunk=placed.trunk,
                          down=placed.down, rule=r.rule)


def make_runner(
    pool: asyncpg.Pool,
    clock: FakeClock,
    dialer: FakeDialer,
    *,
    worker: str = "w1",
    facts: FakeFacts | None = None,
    directory: FakeDirectory | None = None,
    recorder: FakeRecorder | None = None,
    policy: CampaignPolicy | None = None,
) -> DialerRunner:
    return DialerRunner(
        store=OutreachStore(pool),
        gate=Gate(RULES, PackageHolidays(RULES)),
        facts=facts or FakeFacts(),
        directory=directory or FakeDirectory(),
        recorder=recorder or FakeRecorder(),
        dialer=dialer,
        trunk="primary",
        policy=policy or CampaignPolicy(),
        worker=worker,
        clock=clock.now,
    )


@pytest.fixture
async def pool(db_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await asyncpg.create_pool(db_url, user="carrier_app", min_size=1, max_size=6)
    try:
        yield p
    finally:
        await p.close()
