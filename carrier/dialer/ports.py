"""The narrow interfaces the dialer needs from its neighbours.

The dialer never imports `agent` and only depends on these protocols for
records (consent, DNC, audit) and for the patient's contact details; the
composition root (`carrier/app.py`) passes the real implementations.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from carrier.dialer.gate import Address, Consent, Decision, DialRequest


class Outcome(enum.StrEnum):
    """What a dial attempt came to, as the gateway reports it."""

    ANSWERED = "answered"  # a person (the workflow ran)
    MACHINE = "machine"  # answering machine: minimum-necessary message left
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"  # the callee side failed (4xx/5xx/6xx other than busy)
    TRUNK_DOWN = "trunk_down"  # our trunk failed: try the next trunk


@dataclass(frozen=True)
class DialResult:
    outcome: Outcome
    confirmed: bool = False  # the patient confirmed the appointment on this call
    cancelled: bool = False  # ... or cancelled it


class Dialer(Protocol):
    """Places one call through one trunk (the gateway; a fake in unit tests)."""

    async def dial(
        self, request: DialRequest, trunk: str, *, max_call_seconds: int | None
    ) -> DialResult: ...


@dataclass(frozen=True)
class Contact:
    """What the gate needs about the callee. The number is PHI: never log it."""

    number: str
    address: Address | None
    number_given_by_patient: bool
    free_to_patient: bool = True

    def __repr__(self) -> str:
        return "Contact(<redacted>)"


class PatientDirectory(Protocol):
    async def contact(self, patient_id: str) -> Contact | None: ...


class ComplianceFacts(Protocol):
    """Consent and do-not-call lookups (the records package)."""

    async def consent(self, patient_id: str) -> Mapping[str, Consent]: ...

    async def org_dnc(self, number: str) -> bool: ...

    async def national_dnc(self, number: str) -> tuple[bool, dt.date | None]:
        """(listed?, date of the registry copy in force or None)."""
        ...


class DecisionRecorder(Protocol):
    """Writes every gate decision to the audit log (spooled if Postgres is down)."""

    async def record(
        self, request: DialRequest, decision: Decision, *, outreach_id: int, at: dt.datetime
    ) -> None: ...


class AppointmentStatus(Protocol):
    """Current status of an appointment from the calendar (scheduled/confirmed/cancelled/...)."""

    async def status(self, appointment_id: str) -> str | None: ...
