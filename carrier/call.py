"""The ``Call`` API the carrier offers its applications (the voice agent).

A ``Call`` is one answered leg: its media session, who is calling (with the
STIR/SHAKEN outcome), what the carrier knows about it (``call.context``, a
``carrier.plugin.CallContext``), and the control verbs (transfer, hang up). Outbound
calls are requested with a :class:`DialRequest` and end either in a ``Call`` or in a
typed :class:`DialFailure`; the gateway keeps the SIP side of each call to itself.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from carrier.plugin import CallContext


class Direction(enum.Enum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


@dataclass(frozen=True)
class CallerInfo:
    """Who is on the other end, as far as signalling tells."""

    number: str
    """E.164 of the calling party (inbound) or the called party (outbound)."""
    display_name: str | None = None
    stir_status: str = "none"
    """``passed``, ``failed`` or ``none`` (no Identity header)."""
    stir_code: int | None = None
    """The SIP code of a failed verification (403/428/436/437/438)."""
    verstat: str = "No-TN-Validation"
    attestation: str | None = None


class DialOutcome(enum.Enum):
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    REJECTED = "rejected"
    TRUNK_DOWN = "trunk_down"
    TOO_LATE = "too_late"  # the clearance's window closed before a trunk slot came: not sent
    NO_MEDIA_PORT = "no_media_port"  # this node had no free RTP port pair: not sent
    STOPPED = "stopped"  # the process began stopping before a trunk slot came: not sent
    WITHDRAWN = "withdrawn"  # the clearance's re-check refused once the slot came: not sent


@dataclass(frozen=True)
class DialFailure:
    """A dial that did not produce a call. ``code`` is the final SIP status if any."""

    outcome: DialOutcome
    code: int | None = None
    reason: str = ""
    trunk: str = ""

    def __post_init__(self) -> None:
        if self.outcome is DialOutcome.REJECTED and self.code is None:
            raise ValueError("a rejected dial carries its SIP code")


@dataclass(frozen=True)
class Clearance:
    """Why an outbound call may be placed; ``Gateway.dial`` refuses a request without one.

    ``rule`` is the compliance gate's allowing rule (``allowed``), or ``operator_test``
    for an operator's test call, which the gateway places only to a number on the
    ``dialer.operator_test_numbers`` list. Whoever issues it has recorded the decision
    in the audit log. ``recheck``, when given, is asked once the trunk slot is taken,
    right before the INVITE: a rule name (its refusal, which it has recorded) withdraws
    the clearance (``withdrawn``, nothing sent), None lets the call go.
    """

    rule: str
    operator_test: bool = False
    recheck: Callable[[], Awaitable[str | None]] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.operator_test != (self.rule == "operator_test"):
            raise ValueError("an operator test clearance has the rule 'operator_test'")


@dataclass(frozen=True)
class DialRequest:
    """An outbound call the compliance gate has already allowed (its ``clearance``)."""

    to: str
    """E.164 number to call."""
    from_number: str
    trunk: str
    origid: str
    """Unique per call (STIR/SHAKEN ``origid``); recorded with the call."""
    headers: Mapping[str, str] = field(default_factory=dict)
    ring_timeout_s: float = 30.0
    max_duration_s: float | None = None
    """Hard call-length limit (60 s for exempt healthcare calls); None for none."""
    patient_id: str | None = None
    """Who the dialer calls (an id, never PHI); handed on in the ``CallContext``."""
    purpose: str | None = None
    """The dialer's reason for the call (``appointment_reminder``, ...)."""
    appointment_id: str | None = None
    diverted_from: str | None = None
    """The number the call was diverted from, signed in a ``div`` PASSporT."""
    clearance: Clearance | None = None
    """The gate's (or the operator-test list's) yes; without it nothing is dialled."""
    gate_ref: str | None = None
    """The gate decision's audit entry id (``dial.decision``), kept in the call's CDR."""
    consent_ref: str | None = None
    """The consent the gate relied on, if it names one (kept in the CDR)."""
    not_after: dt.datetime | None = None
    """The gate's yes holds until then (its calling window closes): no INVITE is sent that
    could still be ringing at that moment (``ring_timeout_s``)."""

    def __post_init__(self) -> None:
        if self.max_duration_s is not None and not self.max_duration_s > 0:
            raise ValueError("max_duration_s must be a positive number of seconds")


@dataclass(frozen=True)
class CallEvent:
    kind: str
    """``dtmf``, ``hold``, ``resume``, ``transfer``, ``hangup``, ``stir``..."""
    value: str = ""


class MediaLike(Protocol):
    """The subset of ``media.MediaSession`` the call API relies on."""

    def inbound(self) -> Any: ...
    async def play(self, frames: Any) -> bool: ...
    def cancel_playback(self) -> None: ...
    def send_dtmf(self, digits: str) -> None: ...
    def dtmf_events(self) -> Any: ...


LENGTH_LIMIT_REASON = "length-limit"
"""``Call.end_reason`` of a call the carrier ended at its length limit (``max_duration_s``)."""


class Call:
    """One established call leg. Created by the gateway; used by the call handler."""

    def __init__(
        self,
        *,
        call_id: str,
        direction: Direction,
        caller: CallerInfo,
        called: str,
        media: MediaLike,
        transfer: Callable[[str, Mapping[str, Any]], Awaitable[bool]],
        hangup: Callable[[str], Awaitable[None]],
        context: CallContext | None = None,
        consult: Callable[[str, Mapping[str, str]], Awaitable[Call | DialFailure]] | None = None,
        bridge: Callable[[Call], Awaitable[bool]] | None = None,
    ) -> None:
        self.call_id = call_id
        self.direction = direction
        self.caller = caller
        self.called = called
        self.media = media
        self.context = context or CallContext(direction=direction)
        self.events: asyncio.Queue[CallEvent] = asyncio.Queue(maxsize=256)
        self.ended = asyncio.Event()
        self.end_reason: str | None = None
        self._transfer = transfer
        self._hangup = hangup
        self._consult = consult
        self._bridge = bridge

    async def transfer(self, target: str, context: Mapping[str, Any] | None = None) -> bool:
        """Hand the call to ``target`` (a SIP URI); ``context`` is a redacted summary."""
        return await self._transfer(target, context or {})

    async def consult(self, target: str, headers: Mapping[str, str] | None = None
                      ) -> Call | DialFailure:
        """First leg of an attended (warm) transfer: call ``target`` (``tel:+1...``, routed
        over this call's trunk, so it leaves the operator's network and carries a ``div``
        PASSporT) while this call stays up. ``headers`` go on the INVITE (the context).
        The answered leg is a ``Call`` whose media the application may speak into."""
        if self._consult is None:
            return DialFailure(DialOutcome.TRUNK_DOWN, None, "no consult path")
        return await self._consult(target, dict(headers or {}))

    async def bridge(self, other: Call) -> bool:
        """Connect this call to ``other`` (a consult leg) until either side hangs up;
        both are then hung up. False when no bridge could be made."""
        if self._bridge is None:
            return False
        return await self._bridge(other)

    async def hangup(self, reason: str = "normal") -> None:
        if not self.ended.is_set():
            await self._hangup(reason)
            self.mark_ended(reason)

    def mark_ended(self, reason: str) -> None:
        if not self.ended.is_set():
            self.end_reason = reason
            self.ended.set()
            self.push_event(CallEvent("hangup", reason))

    def push_event(self, event: CallEvent) -> None:
        # Events are advisory; a handler that stopped reading must not stall signalling.
        if not self.events.full():
            self.events.put_nowait(event)
