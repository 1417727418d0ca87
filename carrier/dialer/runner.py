"""One dialer pass: lease due outreach, gate each, dial, record everything.

The runner holds no clock of its own: `clock()` (wall time, aware) is injected, so tests
drive time by hand. Trunk choice, calls-per-second, concurrency and failover are not
here: every outbound call takes its trunk from the process's one pool through the
`Dialer` port (`carrier.trunks`). Order per outreach:

  appointment still open? -> contact -> [patient + number lock: gate facts (`inputs.gate_facts`)
  -> gate -> audit record -> begin_dial (fenced by the lease)] -> dial (trunk `trunk`,
  then its failover chain) -> finish, retry or stop: one write of the attempts (those on
  trunks that were down too), the outcome and the appointment's outreach stopped when it
  was confirmed or cancelled. When the database is away that write goes through the
  records outbox and is applied when it returns: no dial decision is lost to an outage.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg

from carrier import metrics
from carrier.dialer.campaign import (
    REMINDER_CAMPAIGN,
    CampaignPolicy,
    after_dial,
    after_refusal,
    stop_states,
)
from carrier.dialer.gate import Decision, DialRefused, Gate, GateRequest
from carrier.dialer.inputs import gate_facts, request_for, standing_facts
from carrier.dialer.ports import (
    NOT_SENT,
    ComplianceFacts,
    ContactInvalid,
    DecisionRecorder,
    Dialer,
    DialResult,
    Outcome,
    PatientDirectory,
    TextChannel,
    TextNotSent,
)
from carrier.dialer.store import DialDone, Lease, OutreachStore
from carrier.plugin import AppointmentSource, AppointmentState

log = logging.getLogger(__name__)

# What a pass may meet when the database or its network goes away; anything else is a
# defect and ends the pass loudly.
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # ConnectionError, refused/reset sockets
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,  # connection closed / pool closing under us
    # A pooled connection the server vanished under, reset while its query was in flight
    # ("cannot switch to state 15; another operation is in progress"): not an InterfaceError.
    asyncpg.InternalClientError,
)


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
    unrecorded: int = 0  # calls whose outcome could not be written (database outage)
    spooled: int = 0  # calls whose outcome waits in the records outbox (database outage)
    texted: int = 0  # reminders sent by text instead of a call
    released: int = 0  # leases handed back undialled: the process was stopping
    outage: BaseException | None = None


@dataclass
class DialerRunner:
    store: OutreachStore
    gate: Gate
    facts: ComplianceFacts
    directory: PatientDirectory
    recorder: DecisionRecorder
    dialer: Dialer
    trunk: str
    """The first trunk tried for each call (its failover chain follows)."""
    policy: CampaignPolicy
    worker: str
    clock: Callable[[], dt.datetime]
    appointments: AppointmentSource | None = None
    texts: TextChannel | None = None
    """Reminders whose offset label is in ``texts.labels`` go by text, not by call."""

    async def run_once(self, *, limit: int = 50, stop: asyncio.Event | None = None
                       ) -> PassReport:
        """One pass. Once ``stop`` is set no more outreach is gated: the leases not begun
        are handed back (``released``), and the calls already placed end as the gateway
        ends them (a drain, then a hang-up), each recorded."""
        report = PassReport()
        report.requeued, report.interrupted = await self.store.reclaim_expired(self.clock())
        leases = await self.store.lease(self.worker, self.clock(), self.policy.lease_for, limit)
        report.leased = len(leases)
        async with asyncio.TaskGroup() as calls:
            for n, lease in enumerate(leases):
                if stop is not None and stop.is_set():
                    report.released = await self.store.release(leases[n:], self.clock())
                    break
                try:
                    ready = await self._prepare(lease, report)
                except OUTAGE_ERRORS as exc:
                    # Calls already up carry on to their end; the leases not yet gated
                    # expire and are taken again after the outage.
                    report.outage = exc
                    break
                if ready is None:
                    continue
                request, decision, attempt, gate_ref = ready
                calls.create_task(self._dial_guarded(lease, request=request,
                                                     decision=decision, attempt=attempt,
                                                     report=report, gate_ref=gate_ref))
        if report.outage is not None:
            raise report.outage  # the loop backs off; what was recorded stays recorded
        return report

    async def _dial_guarded(self, lease: Lease, *, request: GateRequest, decision: Decision,
                            attempt: int, report: PassReport, gate_ref: str | None) -> None:
        """One call of the pass; an outage while recording it must not cut the others."""
        try:
            await self._dial(lease, request=request, decision=decision, attempt=attempt,
                             report=report, gate_ref=gate_ref)
        except OUTAGE_ERRORS as exc:
            report.unrecorded += 1
            report.outage = exc

    async def _prepare(
        self, lease: Lease, report: PassReport
    ) -> tuple[GateRequest, Decision, int, str | None] | None:
        """Gate the outreach; (request, decision, attempt id, the decision's audit id) when
        it may be dialled now."""
        now = self.clock()
        if self.appointments is not None and stop_states(lease.campaign):
            state = await self.appointments.state(lease.appointment_id)
            if state in stop_states(lease.campaign):
                assert state is not None
                await self._refuse(lease, f"appointment.{state.value}", lease.purpose, report,
                                   now)
                if state is AppointmentState.CLOSED:  # nothing more for this appointment
                    await self.store.stop_appointment(lease.appointment_id, state.value, now)
                else:  # confirmed or missed: this campaign only (screening, no-show go on)
                    await self.store.stop_appointment_campaign(
                        lease.appointment_id, lease.campaign, state.value, now)
                report.stopped += 1
                return None
        if (self.texts is not None and lease.campaign == REMINDER_CAMPAIGN
                and lease.label in self.texts.labels):
            await self._text(lease, report)
            return None
        request = await self._request(lease, report, now)
        if request is None:
            return None
        # Gate and dial start under the patient's and the number's locks, so two workers
        # dialling two outreach rows of one patient, or of two patients sharing a phone,
        # cannot both pass a frequency cap.
        async with self.store.contact_lock(lease.patient_id, request.number):
            now = self.clock()
            facts = await gate_facts(request, self.facts, self.store, now)
            decision = self.gate.decide(request, facts, now)
            metrics.gate_decision(decision.allowed, decision.rule)
            # Durable before anything else happens: the audit writer spools on an outage.
            gate_ref = await self.recorder.record(request, decision,
                                                  outreach_id=lease.outreach_id, at=now)
            if not decision.allowed:
                await self._refuse(lease, decision.rule, request.subject_key, report, now)
                return None
            attempt = await self.store.begin_dial(lease, decision.rule, request.subject_key, now)
        if attempt is None:
            report.lost_leases += 1
            return None
        return request, decision, attempt, gate_ref

    async def _request(self, lease: Lease, report: PassReport, now: dt.datetime
                       ) -> GateRequest | None:
        """The gate's request from the patient's record; None when the record cannot give
        one: that patient is refused on its own (audited, the field named, never its
        value) and the pass goes on for everyone else."""
        try:
            contact = await self.directory.contact(lease.patient_id)
            if contact is None:
                await self._refuse_before_gate(lease, "contact.unknown", "no such patient",
                                               report, now)
                return None
            return request_for(lease.patient_id, lease.purpose, contact)
        except ContactInvalid as bad:
            field, why = bad.field, bad.reason
        except ValueError:  # a number the gate's request cannot take
            field, why = "phone", "the stored phone cannot be used"
        await self._refuse_before_gate(lease, "contact.invalid", why, report, now,
                                       field=field)
        return None

    async def _text(self, lease: Lease, report: PassReport) -> None:
        """A reminder whose channel is text: the SMS service gates it (the same rules, the
        caps counted over calls and texts) and logs it in ``sms_messages``, the contact the
        caps count; here the outreach is finished (``texted``) or deferred by its rule. The
        service gates under the patient's and the number's locks, the ones gate + dial
        hold, so a call and a text cannot both pass a cap. (Not taken here as well: a
        second session asking for a lock this one holds would wait for ever.)"""
        assert self.texts is not None
        texter = self.texts.current
        if texter is None:  # the SMS link is down: try again later
            await self._refuse(lease, "sms.unavailable", lease.purpose, report, self.clock())
            return
        try:
            await texter.send_reminder(lease.patient_id, lease.appointment_id)
        except DialRefused as refused:
            rule = refused.rule
        except (TextNotSent, OSError, TimeoutError) as exc:
            log.warning("reminder text not sent (%s)", type(exc).__name__)
            rule = "sms.not_sent"
        else:
            now = self.clock()
            if not await self.store.finish_text(lease, now):
                report.lost_leases += 1
            report.texted += 1
            report.outcomes["texted"] += 1
            return
        await self._refuse(lease, rule, lease.purpose, report, self.clock())

    async def _refuse_before_gate(self, lease: Lease, rule: str, reason: str,
                                  report: PassReport, now: dt.datetime, **details: str) -> None:
        decision = Decision(allowed=False, rule=rule, reason=reason, details=details)
        metrics.gate_decision(False, rule)
        await self.recorder.record_before_gate(lease.patient_id, lease.purpose, decision,
                                               outreach_id=lease.outreach_id, at=now)
        await self._refuse(lease, rule, lease.purpose, report, now)

    async def _refuse(
        self, lease: Lease, rule: str, subject: str, report: PassReport, now: dt.datetime
    ) -> None:
        nxt = after_refusal(rule, lease.not_after, self.policy, now)
        if not await self.store.record_refusal(lease, rule, subject, now, nxt):
            report.lost_leases += 1
        report.refused[rule] += 1

    async def _dial(
        self,
        lease: Lease,
        *,
        request: GateRequest,
        decision: Decision,
        attempt: int,
        report: PassReport,
        gate_ref: str | None = None,
    ) -> None:
        async def recheck() -> str | None:
            """Asked once the trunk slot is ours: what changed while the call waited (a
            revocation, the do-not-call list) withdraws it, recorded like any decision."""
            now = self.clock()
            again = self.gate.recheck(request, await standing_facts(request, self.facts), now)
            if again.allowed:
                return None
            metrics.gate_decision(False, again.rule)
            await self.recorder.record(request, again, outreach_id=lease.outreach_id, at=now)
            return again.rule

        # The decision's references travel with the call into its CDR.
        result = await self.dialer.dial(request, self.trunk,
                                        max_call_seconds=decision.max_call_seconds,
                                        context={"appointment_id": lease.appointment_id,
                                                 "gate_ref": gate_ref,
                                                 "consent_ref": consent_ref(decision)},
                                        not_after=decision.valid_until, recheck=recheck)
        await self._finish(lease, attempt, result, report, rule=decision.rule,
                           subject=request.subject_key)

    async def _finish(self, lease: Lease, attempt: int, result: DialResult, report: PassReport,
                      *, rule: str, subject: str) -> None:
        now = self.clock()
        outcome = result.outcome.value
        if result.confirmed or result.cancelled:
            outcome = "confirmed" if result.confirmed else "cancelled"
        nxt = after_dial(result.outcome, lease.dials + 1, lease.not_after, self.policy, now,
                         rule=result.rule)
        # One attempt row per trunk tried: those that were down, then the one that carried it.
        done = DialDone(lease, attempt, rule, subject, tuple(result.down), result.trunk,
                        outcome, now, nxt,
                        stop_appointment=result.confirmed or result.cancelled)
        try:
            kept = await self.store.finish_call(done)
        except OUTAGE_ERRORS as exc:
            if self.store.outbox is None:
                raise
            await self.store.spool_call(done)  # durable now; applied when the database is back
            report.spooled += 1
            report.outage = exc  # the pass ends as failed: the loop backs off
            kept = True
        if not kept:
            report.lost_leases += 1
        if result.outcome is not Outcome.TRUNK_DOWN and result.outcome not in NOT_SENT:
            report.dialled += 1
        report.outcomes[outcome] += 1


def consent_ref(decision: Decision) -> str | None:
    """What the call's permission rests on, by the gate's rule names (the gate reads the
    consent ledger's state, not one entry): ``exempt`` for an exempt healthcare call."""
    held = [r for r in decision.passed if "consent" in r or "authorization" in r]
    if decision.exempt:
        held.insert(0, "exempt")
    return ",".join(held) or None
