"""The one contract between the carrier and the application it hosts (the voice agent).

The carrier never imports the application. ``carrier.app`` loads one object that
satisfies :class:`Application` from the ``agent.application`` setting
(``module:attribute``), starts it with the carrier's records facade, and from then on
talks to it only through what is typed here:

* :class:`CallHandler` - runs one answered call (inbound or outbound) to its end and
  returns a :class:`CallOutcome`. It receives the ``carrier.call.Call`` and a frozen
  :class:`CallContext`; nothing private of the SIP layer travels with them.
* :class:`AppointmentSource` - the port through which the dialer learns which
  appointments exist and in what state, in the carrier's own vocabulary
  (:class:`AppointmentState`). The application owns its calendar tables and its
  status names; it maps them onto these states.
* A dial *purpose* (``appointment_reminder``, ``no_show``, ``refill``, ...) is the
  dialer's word for why it calls; which workflow serves a purpose is the application's
  business and never appears in the carrier.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from carrier.call import Call, Direction
    from carrier.health import ComponentHealth
    from carrier.metrics import Level
    from carrier.records.sealed import SealedColumn
    from carrier.records.store import Records
    from carrier.settings import Settings
    from carrier.webchat.chat import TextLeg


class OutcomeKind(enum.StrEnum):
    """How a conversation ended, as the carrier (dialer, call records) needs to know it."""

    CONFIRMED = "confirmed"  # the patient confirmed the appointment
    CANCELLED = "cancelled"  # ... cancelled it
    RESCHEDULED = "rescheduled"  # ... moved it to another slot
    OPTED_OUT = "opted_out"  # consent revoked / do-not-call on this call
    TRANSFERRED = "transferred"  # handed to a person and the transfer succeeded
    TRANSFER_FAILED = "transfer_failed"  # a transfer was tried and did not succeed
    MACHINE_MESSAGE = "machine_message"  # an answering machine took a minimal message
    COMPLETED = "completed"  # the workflow reached its end with some other outcome
    ABANDONED = "abandoned"  # the caller hung up before the workflow ended
    LENGTH_LIMIT = "length_limit"  # the call reached its length limit
    FAILED = "failed"  # the application could not run the conversation


class AmdResult(enum.StrEnum):
    HUMAN = "human"
    MACHINE = "machine"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class NewSlot:
    """The slot a call moved an appointment to (a rescheduled outcome's write-back)."""

    starts_at: dt.datetime
    ends_at: dt.datetime
    provider_id: str | None = None


@dataclass(frozen=True)
class CallOutcome:
    """What one call came to. Carries no PHI: ids and enums only."""

    call_id: str
    kind: OutcomeKind
    workflow: str | None = None
    patient_id: str | None = None
    amd: AmdResult | None = None
    detail: str = ""
    """The application's own finer outcome name (for the call record), never PHI."""
    new_slot: NewSlot | None = None
    """For a rescheduled outcome: the newly booked slot, written back to the source."""

    def __post_init__(self) -> None:
        if not isinstance(self.kind, OutcomeKind):
            raise TypeError("CallOutcome.kind must be an OutcomeKind")
        if self.amd is not None and not isinstance(self.amd, AmdResult):
            raise TypeError("CallOutcome.amd must be an AmdResult")


@dataclass(frozen=True)
class CallContext:
    """What the carrier knows about a call when it hands it to the application."""

    direction: Direction
    trunk: str | None = None
    patient_id: str | None = None
    """Set on outbound calls the dialer placed; inbound callers are identified by the app."""
    purpose: str | None = None
    """The dialer's reason for an outbound call (``appointment_reminder``, ``no_show``...)."""
    appointment_id: str | None = None
    max_duration_s: float | None = None
    """Hard length limit of this call (exempt healthcare calls); None for no limit."""
    origid: str | None = None
    """STIR/SHAKEN ``origid`` of an outbound call."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Operator-supplied, application-specific values (never PHI)."""


@runtime_checkable
class CallHandler(Protocol):
    async def __call__(self, call: Call, context: CallContext) -> CallOutcome: ...


@runtime_checkable
class ChatHandler(Protocol):
    """Runs one web text chat (``carrier.webchat``) to its end, as a call handler runs a
    call: ``leg.receive()`` / ``leg.send(text)`` instead of sound."""

    async def __call__(self, leg: TextLeg, context: CallContext) -> CallOutcome: ...


@runtime_checkable
class ChatApplication(Protocol):
    """An application that also serves text chats on the patient web page (optional:
    without it the page offers voice only)."""

    @property
    def chat_handler(self) -> ChatHandler: ...


class AppointmentState(enum.StrEnum):
    """The dialer's view of an appointment's state (the application maps its own names)."""

    OPEN = "open"  # booked, not yet confirmed: reminders go out
    CONFIRMED = "confirmed"  # confirmed: later reminders are skipped
    CLOSED = "closed"  # cancelled, completed or deleted: nothing more is dialled
    MISSED = "missed"  # a no-show: reactivation may start


@dataclass(frozen=True)
class AppointmentFact:
    """An appointment reduced to what the dialer needs (no clinical data)."""

    id: str
    patient_id: str
    starts_at: dt.datetime
    state: AppointmentState
    changed_at: dt.datetime | None = None
    """When the state last changed (for a missed appointment: when it was marked)."""
    needs: frozenset[str] = frozenset()
    """Outreach beyond reminders the application says it needs (``"screening"``)."""

    def __post_init__(self) -> None:
        if self.starts_at.tzinfo is None:
            raise ValueError("appointment start must be timezone-aware")


class AppointmentSource(Protocol):
    async def upcoming(self, now: dt.datetime, horizon: dt.timedelta
                       ) -> list[AppointmentFact]: ...

    async def missed_since(self, since: dt.datetime) -> list[AppointmentFact]: ...

    async def state(self, appointment_id: str) -> AppointmentState | None: ...


@runtime_checkable
class RetainsText(Protocol):
    """An application whose own tables hold conversation text (redacted turns across
    channels) or other PHI kept as long (done staff tasks): the carrier purges them with
    call transcripts (``retention.transcript_days``) without naming them itself.
    ``(table, time column)`` pairs; a row whose time column is NULL is never purged."""

    retained_tables: Sequence[tuple[str, str]]


@runtime_checkable
class RetainsEvidence(Protocol):
    """An application whose own tables hold dialing and billing evidence (past
    appointments: patient ids with times): the carrier purges them with the dialer's
    evidence (``retention.dial_evidence_days``, never under four years). ``(table, time
    column)`` pairs; a row whose time is NULL or still ahead is never purged."""

    evidence_tables: Sequence[tuple[str, str]]


@runtime_checkable
class RetainsSlots(Protocol):
    """An application whose calendar keeps open times (slots: provider ids with times, no
    patient): the carrier purges those ended longer ago than ``retention.slot_days``.
    ``(table, time column, guard)``: ``guard`` a fixed SQL condition of the application's
    code (never input) a row must also meet, so a slot an appointment still points at
    stays."""

    slot_tables: Sequence[tuple[str, str, str]]


@runtime_checkable
class SealsColumns(Protocol):
    """An application whose own tables hold values encrypted with the records' data keys
    (``records.keys.encrypt``): ``carrier keys reencrypt`` moves them to the newest data key
    and ``carrier keys status`` counts them, without the carrier naming them itself
    (:class:`carrier.records.sealed.SealedColumn`)."""

    sealed_columns: Sequence[SealedColumn]


class TextPort(Protocol):
    """What the carrier's SMS service offers the application (``carrier.sms.service``):
    gated reminders, answers within a patient's thread, texts the patient asked for."""

    async def send_to_patient(self, patient_id: str, purpose: str, text: str) -> Any: ...

    async def reply(self, number: str, text: str) -> Any: ...

    async def send_requested(self, patient_id: str, text: str) -> Any: ...

    async def revoke(self, patient_id: str, evidence_ref: str, at: dt.datetime,
                     said: str = "", *, spanish: bool = False) -> Any:
        """An opt-out heard in a text conversation (``said``: the words, which may name
        calls), recorded by the STOP policy; returns the confirmation saying what was
        revoked (in Spanish when ``spanish``: the conversation is)."""
        ...

    async def answer(self, number: str, text: str) -> Any:
        """An answer to a text no conversation takes: nothing to a number that opted out."""
        ...

    async def revoke_number(self, number: str, evidence_ref: str, at: dt.datetime,
                            said: str = "") -> Any:
        """The same from a number that is no one patient's: its patients, or the
        organisation's do-not-call list."""
        ...


@runtime_checkable
class TextApplication(Protocol):
    """An application that takes texts: given the carrier's :class:`TextPort` when texts
    are on (``sms.enabled``), it returns the handler of every inbound text that is not a
    STOP/START/HELP keyword (an async context manager: entered for the service's life).
    ``reminder_templates``: the operator's reminder texts by language ("en", "es")."""

    def texts(self, port: TextPort, reminder_templates: Mapping[str, str]
              ) -> TextHandlerContext: ...


class TextHandlerContext(Protocol):
    async def __aenter__(self) -> Any: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def __call__(self, message: Any) -> None: ...

    async def opted_out(self, patient_id: str) -> None: ...


class Application(Protocol):
    """The hosted application, as ``carrier.app`` starts and stops it."""

    handler: CallHandler
    appointments: AppointmentSource
    migrations: Path | None
    """The folder of the application's own ``NNNN_name.sql`` migrations (its tables), which
    ``carrier db migrate`` and ``carrier serve`` apply after the carrier's; None: no tables."""

    async def start(self, settings: Settings, records: Records, *, speech: bool = True
                    ) -> None: ...

    async def stop(self) -> None: ...

    async def reload(self, settings: Settings) -> None:
        """SIGHUP: take ``settings`` (re-read) for new calls; calls up keep what they had.
        ``handler`` may be replaced; raise ConfigError/OSError/ValueError to refuse."""
        ...

    def health(self) -> Sequence[ComponentHealth]:
        """The application's own components (speech workers...), for ``carrier health``."""
        ...


class ScheduleChangeKind(enum.StrEnum):
    """What a schedule feed (HL7 SIU, FHIR, CSV) says happened to an appointment."""

    BOOKED = "booked"  # SIU^S12, a new row in a CSV, a FHIR Appointment seen first
    RESCHEDULED = "rescheduled"  # SIU^S13: a new time
    MODIFIED = "modified"  # SIU^S14: details changed (time may move; status stays)
    CANCELLED = "cancelled"  # SIU^S15
    DELETED = "deleted"  # SIU^S17: entered in error; nothing more is dialled
    NO_SHOW = "no_show"  # SIU^S26: the patient did not come


# Changes that end an appointment: they may name it without its times.
ENDING_KINDS = frozenset({ScheduleChangeKind.CANCELLED, ScheduleChangeKind.DELETED,
                          ScheduleChangeKind.NO_SHOW})


@dataclass(frozen=True)
class ScheduleChange:
    """A schedule feed's change to one appointment, in neutral words (no clinical data).

    ``patient_id`` is the records patient the feed's patient identifier maps to;
    ``appointment_ref`` is ``source`` + the source's own appointment id, unique per source.
    A cancellation, deletion or no-show may come without times (``None``: the appointment
    keeps the times it has; one not known yet is only remembered as ended).
    """

    source: str
    appointment_ref: str
    patient_id: str
    kind: ScheduleChangeKind
    starts_at: dt.datetime | None
    ends_at: dt.datetime | None
    changed_at: dt.datetime
    provider_ref: str = "unassigned"
    provider_name: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.kind, ScheduleChangeKind):
            raise TypeError("ScheduleChange.kind must be a ScheduleChangeKind")
        if self.starts_at is None or self.ends_at is None:
            if self.kind not in ENDING_KINDS or (self.starts_at, self.ends_at) != (None, None):
                raise ValueError("only a cancellation, deletion or no-show may omit times")
        elif self.starts_at.tzinfo is None or self.ends_at <= self.starts_at:
            raise ValueError("an appointment needs an aware start before its end")


@dataclass(frozen=True)
class PrescriptionChange:
    """A prescription from a feed (FHIR MedicationRequest). Medication and pharmacy are
    PHI: the application stores them encrypted."""

    source: str
    prescription_ref: str
    patient_id: str
    medication: str
    pharmacy: str
    refill_due: dt.date | None
    active: bool = True


@runtime_checkable
class ScheduleFeed(Protocol):
    """How the application applies what schedule feeds bring into its own tables.

    The carrier calls these inside the one transaction of an inbound message (``conn``,
    an ``asyncpg`` connection), after it upserted the patient; the application writes its
    calendar rows on that connection so nothing is half-written. Both return the
    application's own id of the row (the carrier keeps it to write outcomes back).
    """

    async def apply_schedule(self, conn: Any, change: ScheduleChange) -> str: ...

    async def apply_schedules(self, conn: Any, changes: Sequence[ScheduleChange]
                              ) -> list[str]:
        """The same for many distinct appointments at once (a CSV file), in order."""
        ...

    async def apply_prescription(self, conn: Any, change: PrescriptionChange) -> str: ...


@runtime_checkable
class MeasuredApplication(Protocol):
    """An application with figures of its own for ``GET /metrics`` (the voice agent: how
    its speech went), read at each scrape."""

    def levels(self) -> Sequence[Level]: ...


def levels_of(app: object) -> Sequence[Level]:
    """The application's own metrics samples (none when it has no ``levels``)."""
    return app.levels() if isinstance(app, MeasuredApplication) else ()


def schedule_feed_of(app: object) -> ScheduleFeed | None:
    """The application's ``schedule_feed`` when it takes schedule feeds, else None
    (an :class:`Application` need not: feeds are then refused with a clear error)."""
    feed = getattr(app, "schedule_feed", None)
    return feed if isinstance(feed, ScheduleFeed) else None
