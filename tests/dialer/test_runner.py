"""Leasing, exactly-once dialling, retries, stop rules and trunk failover on a real Postgres."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import sys
from collections import Counter
from pathlib import Path

import asyncpg
import pytest

from carrier.dialer.campaign import CampaignPolicy, plan_no_show, plan_reminders
from carrier.dialer.gate import Consent
from carrier.dialer.ports import DialResult, Outcome
from carrier.dialer.store import OutreachStore
from carrier.plugin import AppointmentFact as Appointment
from carrier.plugin import AppointmentState
from carrier.trunks import TrunkLimits, TrunkPool
from tests.dialer.conftest import (
    START,
    FakeClock,
    FakeDialer,
    FakeDirectory,
    FakeFacts,
    FakeRecorder,
    make_runner,
)

pytestmark = pytest.mark.postgres
REPO_ROOT = Path(__file__).resolve().parents[2]


async def seed(pool: asyncpg.Pool, n: int, *, hours_ahead: float = 2.0) -> OutreachStore:
    """n appointments whose 2 h reminder is due now (one outreach each)."""
    store = OutreachStore(pool)
    appts = [
        Appointment(f"a{i}", f"p{i}", START + dt.timedelta(hours=hours_ahead),
                    AppointmentState.OPEN)
        for i in range(n)
    ]
    policy = CampaignPolicy(reminder_offsets=(dt.timedelta(hours=hours_ahead),))
    assert await store.add(plan_reminders(appts, policy, START), START) == n
    return store


async def test_two_concurrent_workers_dial_each_outreach_exactly_once(db_url: str) -> None:
    pools = [
        await asyncpg.create_pool(db_url, user="carrier_app", min_size=1, max_size=4)
        for _ in range(2)
    ]
    try:
        await seed(pools[0], 120)
        clock = FakeClock()
        dialer = FakeDialer(clock)
        runners = [make_runner(p, clock, dialer, worker=f"w{i}") for i, p in enumerate(pools)]

        async def work(runner_index: int) -> int:
            total = 0
            while True:
                report = await runners[runner_index].run_once(limit=7)
                total += report.leased
                if report.leased == 0:
                    return total

        shares = await asyncio.gather(work(0), work(1))
    finally:
        for p in pools:
            await p.close()
    per_patient = Counter(patient for patient, _, _ in dialer.dials)
    assert len(per_patient) == 120
    assert set(per_patient.values()) == {1}
    assert sum(shares) == 120
    assert min(shares) > 0, shares  # both workers took a share of the campaign


async def test_restart_before_dial_requeues_after_dial_never_redials(pool: asyncpg.Pool) -> None:
    store = await seed(pool, 2)
    clock = FakeClock()
    crashed = await store.lease("dead-worker", clock.now(), dt.timedelta(minutes=5), 2)
    assert len(crashed) == 2
    # the dead worker had started dialling the first one when it died
    assert await store.begin_dial(crashed[0], "allowed", "appointment_reminder", clock.now())
    dialer = FakeDialer(clock)
    runner = make_runner(pool, clock, dialer)
    assert (await runner.run_once()).leased == 0  # leases still valid: nothing to do
    clock.advance(301)
    report = await runner.run_once()
    assert (report.requeued, report.interrupted) == (1, 1)
    assert [p for p, _, _ in dialer.dials] == [crashed[1].patient_id]
    # the dead worker's late write is fenced: its lease token no longer holds
    assert await store.begin_dial(crashed[1], "allowed", "x", clock.now()) is None
    [status] = await store.status(clock.now())
    assert status.done == 2
    assert status.dialled == 1


async def test_busy_is_retried_and_gated_again(pool: asyncpg.Pool) -> None:
    """The busy call was initiated, so it is the patient's exempt call for the day: the
    retry is gated again and refused by the daily cap (federal.yaml counted_outcomes)."""
    await seed(pool, 1, hours_ahead=4)
    clock = FakeClock()
    recorder = FakeRecorder()
    outcomes = [Outcome.BUSY, Outcome.ANSWERED]
    dialer = FakeDialer(clock, script=lambda _r, _t, n: DialResult(outcomes[n - 1]))
    runner = make_runner(pool, clock, dialer, recorder=recorder)
    first = await runner.run_once()
    assert first.outcomes == Counter({"busy": 1})
    assert (await runner.run_once()).leased == 0  # not due again yet
    clock.advance(30 * 60)
    second = await runner.run_once()
    assert second.outcomes == Counter()
    assert [r for _, r, _ in recorder.decisions] == ["allowed", "cap.exempt.daily"]
    assert dialer.max_seconds == [60]


async def test_gate_refusals_are_recorded_with_their_rule(pool: asyncpg.Pool) -> None:
    await seed(pool, 3)
    clock = FakeClock(wall0=dt.datetime(2026, 11, 18, 1, 30, tzinfo=dt.UTC))  # 20:30 EST
    directory = FakeDirectory({"p0": "+13055550123", "p1": "+12125550101", "p2": "+12125550102"})
    facts = FakeFacts(consent_by_patient={"p1": {"voice": Consent.REVOKED}}, org={"+12125550102"})
    recorder = FakeRecorder()
    dialer = FakeDialer(clock)
    store = OutreachStore(pool)
    # the appointments are 2 h after the seed time; run the pass at 20:30 New York time
    await pool.execute(
        "UPDATE dialer_outreach SET due_at = $1, not_after = $2",
        clock.now(),
        clock.now() + dt.timedelta(hours=3),
    )
    runner = make_runner(pool, clock, dialer, facts=facts, directory=directory, recorder=recorder)
    report = await runner.run_once()
    assert dialer.dials == []
    assert report.refused == Counter(
        {"window.state.FL": 1, "tcpa.consent.revoked": 1, "dnc.organisation": 1}
    )
    assert sorted(r for _, r, _ in recorder.decisions) == sorted(report.refused)
    [status] = await store.status(clock.now())
    assert status.refused == dict(report.refused)
    assert status.done == 2  # revoked and DNC are final
    assert status.scheduled == 1  # the window refusal waits for later


async def test_confirmation_stops_the_remaining_reminders(pool: asyncpg.Pool) -> None:
    store = OutreachStore(pool)
    appt = Appointment("a1", "p1", START + dt.timedelta(hours=100), AppointmentState.OPEN)
    assert await store.add(plan_reminders([appt], CampaignPolicy(), START), START) == 3
    assert await store.add(plan_reminders([appt], CampaignPolicy(), START), START) == 0
    clock = FakeClock()
    clock.advance(28 * 3600)  # the 72 h reminder is due
    dialer = FakeDialer(clock, script=lambda *_: DialResult(Outcome.ANSWERED, confirmed=True))
    report = await make_runner(pool, clock, dialer).run_once()
    assert report.outcomes == Counter({"confirmed": 1})
    [status] = await store.status(clock.now())
    assert (status.confirmed, status.cancelled, status.due + status.scheduled) == (1, 2, 0)


async def test_confirmation_on_another_channel_stops_reminders(pool: asyncpg.Pool) -> None:
    store = OutreachStore(pool)
    appt = Appointment("a1", "p1", START + dt.timedelta(hours=100), AppointmentState.OPEN)
    await store.add(plan_reminders([appt], CampaignPolicy(), START), START)
    assert await store.stop_appointment("a1", "confirmed", START) == 3
    clock = FakeClock()
    clock.advance(100 * 3600)
    dialer = FakeDialer(clock)
    assert (await make_runner(pool, clock, dialer).run_once()).leased == 0
    assert dialer.dials == []


async def test_no_show_reactivation_is_dialled_minutes_after_missed(pool: asyncpg.Pool) -> None:
    store = OutreachStore(pool)
    appt = Appointment("a9", "p9", START - dt.timedelta(minutes=20), AppointmentState.MISSED)
    await store.add([plan_no_show(appt, START, CampaignPolicy())], START)
    clock = FakeClock()
    dialer = FakeDialer(clock)
    runner = make_runner(pool, clock, dialer)
    assert (await runner.run_once()).leased == 0
    clock.advance(5 * 60)
    assert (await runner.run_once()).dialled == 1
    assert [s.campaign for s in await store.status(clock.now())] == ["no_show"]


async def test_trunk_failover_to_secondary(pool: asyncpg.Pool) -> None:
    await seed(pool, 3)
    clock = FakeClock()

    def script(_req: object, trunk: str, _n: int) -> DialResult:
        return DialResult(Outcome.TRUNK_DOWN if trunk == "primary" else Outcome.ANSWERED)

    dialer = FakeDialer(clock, script=script)
    report = await make_runner(pool, clock, dialer).run_once()
    assert report.outcomes == Counter({"answered": 3})
    # the primary is tried once, marked down, and the rest go straight to the secondary
    assert [t for _, t, _ in dialer.dials] == ["primary", "secondary", "secondary", "secondary"]
    rows = await pool.fetch("SELECT trunk, outcome FROM dialer_attempts ORDER BY id")
    assert Counter((r["trunk"], r["outcome"]) for r in rows) == Counter(
        {("primary", "trunk_down"): 1, ("secondary", "answered"): 3}
    )


async def test_calls_per_second_limit(pool: asyncpg.Pool) -> None:
    await seed(pool, 6)
    clock = FakeClock()
    trunks = TrunkPool([TrunkLimits("primary", cps=2, max_concurrent=10, burst=1)])
    dialer = FakeDialer(clock, trunks=trunks)
    await make_runner(pool, clock, dialer).run_once()
    starts = [t for _, _, t in dialer.dials]
    assert len(starts) == 6
    assert all(b - a >= 0.5 - 1e-9 for a, b in itertools.pairwise(starts))


async def test_exempt_daily_cap_holds_across_outreach_of_one_patient(pool: asyncpg.Pool) -> None:
    store = OutreachStore(pool)
    appts = [
        Appointment("a1", "p1", START + dt.timedelta(hours=2), AppointmentState.OPEN),
        Appointment("a2", "p1", START + dt.timedelta(hours=3), AppointmentState.OPEN),
    ]
    policy = CampaignPolicy(reminder_offsets=(dt.timedelta(hours=2), dt.timedelta(hours=3)))
    await store.add(plan_reminders(appts, policy, START), START)
    clock = FakeClock()
    dialer = FakeDialer(clock)
    report = await make_runner(pool, clock, dialer).run_once()
    assert report.dialled == 1
    assert report.refused == Counter({"cap.exempt.daily": 1})


async def test_concurrency_limit_per_trunk(pool: asyncpg.Pool) -> None:
    await seed(pool, 8)
    clock = FakeClock()
    active, peak = 0, 0
    hold = asyncio.Event()

    class HeldDialer(FakeDialer):
        async def attempt(self, request, trunk):  # type: ignore[no-untyped-def]
            nonlocal active, peak
            active += 1
            peak = max(peak, active)
            try:
                await hold.wait()  # calls stay up until the test hangs them up
                return await super().attempt(request, trunk)
            finally:
                active -= 1

    trunks = TrunkPool([TrunkLimits("primary", cps=1000, max_concurrent=2, burst=100)])
    dialer = HeldDialer(clock, trunks=trunks)
    task = asyncio.create_task(make_runner(pool, clock, dialer).run_once())
    # Bounded wait on the real database: the third outreach has passed the gate and is
    # waiting for a trunk slot while two calls are up.
    for _ in range(500):
        if await pool.fetchval("SELECT count(*) FROM dialer_attempts") >= 3:
            break
        await asyncio.sleep(0.01)
    # Give a third call every chance to start (it would within milliseconds): it must not.
    for _ in range(50):
        if active > 2:
            break
        await asyncio.sleep(0.02)
    assert (active, peak) == (2, 2)
    hold.set()
    report = await task
    assert report.dialled == 8
    assert peak == 2


async def test_two_dialer_processes_share_one_campaign(
    pool: asyncpg.Pool, db_url: str, tmp_path: Path
) -> None:
    await seed(pool, 150)
    outs = [tmp_path / "w1.txt", tmp_path / "w2.txt"]
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.dialer.worker_process",
            db_url,
            str(out),
            cwd=REPO_ROOT,
        )
        for out in outs
    ]
    codes = await asyncio.wait_for(asyncio.gather(*(p.wait() for p in procs)), 90)
    assert codes == [0, 0]
    dialled = [out.read_text().split() for out in outs]
    every = dialled[0] + dialled[1]
    assert sorted(every) == sorted(f"p{i}" for i in range(150))  # each exactly once
    assert all(dialled), [len(d) for d in dialled]  # both processes took a share


async def test_one_dnc_lookup_per_decision(pool: asyncpg.Pool) -> None:
    """Gate inputs come from one place (`inputs.gate_facts`): the runner used to ask the
    records for the number's DNC standing twice per decision (org, then national). Each
    call has two decisions: the pass's, and the re-check once its trunk slot is taken."""
    await seed(pool, 3)
    clock = FakeClock()
    facts = FakeFacts()
    report = await make_runner(pool, clock, FakeDialer(clock), facts=facts).run_once()
    assert report.dialled == 3
    assert facts.lookups == 3 + 3


async def test_an_outage_recording_one_call_does_not_cut_the_others(pool: asyncpg.Pool) -> None:
    """Before: one call's failed write raised inside the pass's TaskGroup, which cancelled
    every other call still up. Now the others run to their end and are recorded, and the
    pass then reports the outage (the loop backs off)."""
    await seed(pool, 3)
    clock = FakeClock()
    release = asyncio.Event()

    class SlowCalls(FakeDialer):
        async def attempt(self, request, trunk):  # type: ignore[no-untyped-def]
            if request.patient_id != "p0":
                await release.wait()  # p1 and p2 are mid-conversation when p0 ends
            return await super().attempt(request, trunk)

    class FlakyStore(OutreachStore):
        async def finish_call(self, done):  # type: ignore[no-untyped-def]
            if done.lease.patient_id == "p0":
                release.set()
                raise ConnectionResetError("database gone")
            return await super().finish_call(done)

    runner = make_runner(pool, clock, SlowCalls(clock))
    runner.store = FlakyStore(pool)
    with pytest.raises(ConnectionResetError):
        await runner.run_once()
    rows = await pool.fetch("SELECT patient_id, state FROM dialer_outreach ORDER BY patient_id")
    assert [(r["patient_id"], r["state"]) for r in rows] == [
        ("p0", "leased"), ("p1", "done"), ("p2", "done")]  # p0: reclaimed after the lease
