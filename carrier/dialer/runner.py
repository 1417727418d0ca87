"""One dialer pass: lease due outreach, gate each, dial through the trunks, record everything.

The runner holds no clock of its own: `clock()` (wall time, aware) and `monotonic()` /
`sleep()` are injected, so tests drive time by hand. Order per outreach:

  appointment still open? -> contact -> [patient lock: prior calls -> gate -> audit record
  -> begin_dial (fenced by the lease)] -> trunk slot (CPS + concurrency) -> dial
  -> on trunk_down: mark the trunk down, next trunk -> finish, retry or stop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from carrier.dialer.campaign import (
    NO_SHOW_CAMPAIGN,
    STOP_STATUSES,
    CampaignPolicy,
    after_dial,
    after_refusal,
)
from carrier.dialer.gate import Decision, DialRequest, Gate, GateFacts
from carrier.dialer.ports import (
    AppointmentStatus,
    ComplianceFacts,
    DecisionRecorder,
    Dialer,
    DialResult,
    Outcome,
    PatientDirectory,
)
from carrier.dialer.store import Lease, OutreachStore
from carrier.dialer.throttle import TrunkPool

log = logging.getLogger(__name__)


@dataclass
class PassReport:
    leased: int = 0
    dialled: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    stopped: int = 0
    lost_leases: int = 0
    requeued: int = 0
    interrupted: int = 0


@dataclass
class DialerRunner:
    store: OutreachStore
    gate: Gate
    facts: ComplianceFacts
    directory: PatientDirectory
    recorder: DecisionRecorder
    dialer: Dialer
    trunks: TrunkPool
    policy: CampaignPolicy
    worker: str
    clock: Callable[[], dt.datetime]
    monotonic: Callable[[], float]
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    appointments: AppointmentStatus | None = None
    _released: asyncio.Event = field(default_factory=asyncio.Event)

    async def run_once(self, *, limit: int = 50) -> PassReport:
        report = PassReport()
        report.requeued, report.interrupted = await self.store.reclaim_expired(self.clock())
        leases = await self.store.lease(self.worker, self.clock(), self.policy.lease_for, limit)
        report.leased = len(leases)
        async with asyncio.TaskGroup() as calls:
            for lease in leases:
                ready = await self._prepare(lease, report)
                if ready is None:
                    continue
                request, decision, attempt = ready
                trunk = await self._trunk_slot()
                calls.create_task(
                    self._dial(
                        lease,
                        request=request,
                        decision=decision,
                        attempt=attempt,
                        trunk=trunk,
                        report=report,
                    )
                )
        return report

    async def _prepare(
        self, lease: Lease, report: PassReport
    ) -> tuple[DialRequest, Decision, int] | None:
        """Gate the outreach; (request, decision, attempt id) when it may be dialled now."""
        now = self.clock()
        if self.appointments is not None and lease.campaign != NO_SHOW_CAMPAIGN:
            status = await self.appointments.status(lease.appointment_id)
            if status in STOP_STATUSES:
                await self._refuse(lease, f"appointment.{status}", lease.purpose, report, now)
                await self.store.stop_appointment(lease.appointment_id, str(status), now)
                report.stopped += 1
                return None
        contact = await self.directory.contact(lease.patient_id)
        if contact is None:
            await self._refuse(lease, "contact.unknown", lease.purpose, report, now)
            return None
        request = DialRequest(
            patient_id=lease.patient_id,
            number=contact.number,
            purpose=lease.purpose,
            number_given_by_patient=contact.number_given_by_patient,
            free_to_patient=contact.free_to_patient,
            address=contact.address,
        )
        consent = await self.facts.consent(lease.patient_id)
        org = await self.facts.org_dnc(contact.number)
        national, copy_date = await self.facts.national_dnc(contact.number)
        # Gate and dial start under one per-patient lock, so two workers dialling two
        # outreach rows of the same patient cannot both pass a frequency cap.
        async with self.store.patient_lock(lease.patient_id):
            now = self.clock()
            prior = await self.store.prior_calls(lease.patient_id, now - dt.timedelta(days=7))
            facts = GateFacts(consent, org, national, copy_date, tuple(prior))
            decision = self.gate.decide(request, facts, now)
            # Durable before anything else happens: the audit writer spools on an outage.
            await self.recorder.record(request, decision, outreach_id=lease.outreach_id, at=now)
            if not decision.allowed:
                await self._refuse(lease, decision.rule, request.subject_key, report, now)
                return None
            attempt = await self.store.begin_dial(lease, decision.rule, request.subject_key, now)
        if attempt is None:
            report.lost_leases += 1
            return None
        return request, decision, attempt

    async def _refuse(
        self, lease: Lease, rule: str, subject: str, report: PassReport, now: dt.datetime
    ) -> None:
        nxt = after_refusal(rule, lease.not_after, self.policy, now)
        if not await self.store.record_refusal(lease, rule, subject, now, nxt):
            report.lost_leases += 1
        report.refused[rule] += 1

    async def _trunk_slot(self, exclude: frozenset[str] = frozenset()) -> str:
        """Wait (by the injected clock) for a CPS token and a concurrency slot."""
        while True:
            trunk = self.trunks.acquire(self.monotonic(), exclude=exclude)
            if trunk is not None:
                return trunk
            ready = self.trunks.next_ready(self.monotonic(), exclude=exclude)
            if ready is None:
                self._released.clear()
                await self._released.wait()
            else:
                await self.sleep(max(0.0, ready - self.monotonic()))

    def _release(self, trunk: str) -> None:
        self.trunks.release(trunk)
        self._released.set()

    async def _dial(
        self,
        lease: Lease,
        *,
        request: DialRequest,
        decision: Decision,
        attempt: int,
        trunk: str,
        report: PassReport,
    ) -> None:
        tried: set[str] = set()
        while True:
            tried.add(trunk)
            await self.store.set_trunk(attempt, trunk)
            try:
                result = await self.dialer.dial(
                    request, trunk, max_call_seconds=decision.max_call_seconds
                )
            finally:
                self._release(trunk)
            if result.outcome is not Outcome.TRUNK_DOWN or len(tried) == len(self.trunks.names):
                break
            # Our trunk failed before the callee's phone rang: the secondary takes the call.
            self.trunks.mark_down(trunk, self.monotonic())
            log.warning("trunk down, failing over", extra={"trunk": trunk})
            await self.store.finish_attempt(attempt, Outcome.TRUNK_DOWN.value, self.clock())
            trunk = await self._trunk_slot(exclude=frozenset(tried))
            again = await self.store.begin_dial(
                lease, decision.rule, request.subject_key, self.clock()
            )
            if again is None:
                self._release(trunk)
                report.lost_leases += 1
                return
            attempt = again
        if result.outcome is Outcome.TRUNK_DOWN:
            self.trunks.mark_down(trunk, self.monotonic())
        await self._finish(lease, attempt, result, report)

    async def _finish(
        self, lease: Lease, attempt: int, result: DialResult, report: PassReport
    ) -> None:
        now = self.clock()
        outcome = result.outcome.value
        if result.confirmed or result.cancelled:
            outcome = "confirmed" if result.confirmed else "cancelled"
        nxt = after_dial(result.outcome, lease.dials + 1, lease.not_after, self.policy, now)
        if not await self.store.finish_dial(lease, attempt, outcome, now, nxt):
            report.lost_leases += 1
        if result.outcome is not Outcome.TRUNK_DOWN:
            report.dialled += 1
        report.outcomes[outcome] += 1
        if result.confirmed or result.cancelled:
            await self.store.stop_appointment(lease.appointment_id, outcome, now)
