"""The narrow interfaces the dialer needs from its neighbours.

The dialer never imports `agent` and only depends on these protocols for
records (consent, DNC, audit), the patient's contact details and the calls
already placed; appointments come through `carrier.plugin.AppointmentSource`.
The composition root (`carrier/app.py`) passes the real implementations.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from carrier.dialer.gate import Address, Consent, Decision, GateRequest, PriorCall


class Outcome(enum.StrEnum):
    """What a dial attempt came to, as the gateway reports it."""

    ANSWERED = "answered"  # a person (the workflow ran)
    MACHINE = "machine"  # answering machine: minimum-necessary message left
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"  # the callee side failed (4xx/5xx/6xx other than busy)
    TRUNK_DOWN = "trunk_down"  # our trunk failed: try the next trunk
    TOO_LATE = "too_late"  # the gate's window closed before a trunk slot came: nothing sent
    NO_MEDIA_PORT = "no_media_port"  # the node had no free RTP port pair: nothing sent
    STOPPED = "stopped"  # the process began stopping before a trunk slot came: nothing sent
    WITHDRAWN = "withdrawn"  # the gate's re-check refused once the slot came: nothing sent


# Attempts that sent nothing: not a dial, no contact (no cap counts them), asked again.
NOT_SENT = frozenset({Outcome.TOO_LATE, Outcome.NO_MEDIA_PORT, Outcome.STOPPED,
                      Outcome.WITHDRAWN})


@dataclass(frozen=True)
class DialResult:
    outcome: Outcome
    confirmed: bool = False  # the patient confirmed the appointment on this call
    cancelled: bool = False  # ... or cancelled it
    trunk: str | None = None  # the trunk that carried the last attempt
    down: tuple[str, ...] = ()  # trunks that failed before it (failover), in order
    rule: str | None = None  # withdrawn: the gate's rule that refused at dial time


Recheck = Callable[[], Awaitable[str | None]]


class Dialer(Protocol):
    """Places one call, `trunk` first then its failover chain, paced by the process's one
    trunk pool (`carrier.trunk_service.TrunkSlots`): the gateway; a fake in unit tests."""

    async def dial(
        self, request: GateRequest, trunk: str, *, max_call_seconds: int | None,
        context: Mapping[str, Any] | None = None, not_after: dt.datetime | None = None,
        recheck: Recheck | None = None,
    ) -> DialResult:
        """`context`: ids for the call handler (the appointment), never PHI. `not_after`:
        the gate's yes holds until then; no INVITE that could ring later is sent
        (`Outcome.TOO_LATE`). `recheck`: asked once the trunk slot is taken; a rule name
        withdraws the call (`Outcome.WITHDRAWN`, nothing sent)."""
        ...


@dataclass(frozen=True)
class Contact:
    """What the gate needs about the callee. The number is PHI: never log it."""

    number: str
    address: Address | None
    number_given_by_patient: bool
    free_to_patient: bool = True

    def __repr__(self) -> str:
        return "Contact(<redacted>)"


class ContactInvalid(Exception):
    """The patient's stored contact details cannot be used (a number that is not one, a
    cell that does not decrypt): this patient is refused (``contact.invalid``), the pass
    goes on. ``field`` names what is wrong, never its value (PHI)."""

    def __init__(self, field: str, reason: str | None = None) -> None:
        self.field = field
        self.reason = reason or f"the stored {field} cannot be used"  # no value in it
        super().__init__(self.reason)


class PatientDirectory(Protocol):
    async def contact(self, patient_id: str) -> Contact | None:
        """None: no such patient; raises :class:`ContactInvalid` for a record it cannot
        use."""
        ...


@dataclass(frozen=True)
class DncFacts:
    """One number's do-not-call standing, read in one lookup."""

    org: bool
    national: bool
    national_copy_date: dt.date | None  # date of the registry copy in force, or None
    org_settled: bool = True  # False: an addition may still wait in a spool (outage)


class ComplianceFacts(Protocol):
    """Consent and do-not-call lookups (the records package)."""

    async def consent(self, patient_id: str) -> Mapping[str, Consent]: ...

    async def dnc(self, number: str) -> DncFacts: ...

    async def patients_at(self, number: str) -> Sequence[str]:
        """Every patient whose record carries ``number`` (ids): the caps count the number."""
        ...


class CallHistory(Protocol):
    """Calls already placed to patients (the outreach store): the frequency caps, over
    every patient at the callee's number."""

    async def prior_calls(self, patient_ids: Sequence[str], since: dt.datetime
                          ) -> list[PriorCall]: ...


class ContactLocks(Protocol):
    """Serialises gate + the write that counts a contact, per patient and per number,
    across processes (the outreach store's transaction-scoped advisory locks): the voice
    dialer and the SMS service take the same ones, so no two contacts pass one cap."""

    def contact_lock(self, patient_id: str, number: str | None = None
                     ) -> AbstractAsyncContextManager[None]: ...


class DecisionRecorder(Protocol):
    """Writes every gate decision to the audit log (spooled if Postgres is down)."""

    async def record(
        self, request: GateRequest, decision: Decision, *, outreach_id: int, at: dt.datetime
    ) -> str | None:
        """The decision's audit entry id (None where the recorder keeps none); a refusal's
        call detail record is written with it."""
        ...

    async def record_before_gate(
        self, patient_id: str, purpose: str, decision: Decision, *, outreach_id: int,
        at: dt.datetime,
    ) -> str | None:
        """A refusal decided before the gate could be asked (no usable contact: no request,
        no number), audited like the gate's."""
        ...



class TextNotSent(Exception):
    """A text the upstream did not take (the SMSC or the trunk refused it, or timed out):
    the outreach is tried again later. ``carrier.sms.smpp.SmsRefused`` is one.

    ``nothing_sent``: the upstream refused every part outright, so no text left us (it does
    not count in the caps). False when it timed out or took some parts: the patient may
    have the text, so it counts."""

    nothing_sent: bool = False


@runtime_checkable
class ReminderTexts(Protocol):
    """Sends one appointment reminder by text through the carrier's SMS service: the same
    gate as a call (``channel="sms"``, one cap across channels); a refusal raises
    :class:`carrier.dialer.gate.DialRefused` naming its rule. The application's text
    handler (``agent.sms.TextReminders``) is one; the reply opens its conversation."""

    async def send_reminder(self, patient_id: str, appointment_id: str) -> Any: ...


@dataclass
class TextChannel:
    """Which reminders go by text (offset labels: "72h"), and the texter while the SMS link
    is bound (``carrier.sms.wiring.run_sms`` sets and clears ``current``; None: the link
    is down and those reminders wait, rule ``sms.unavailable``)."""

    labels: frozenset[str] = field(default_factory=frozenset)
    current: ReminderTexts | None = None
