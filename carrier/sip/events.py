"""Events the user agent core hands to its user (frozen dataclasses, STYLE.md practice 4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from carrier.sip.dialog import ReferTarget, Replaces
from carrier.sip.message import Request, Response

if TYPE_CHECKING:
    from carrier.sip.call import Call


@dataclass(frozen=True)
class IncomingCall:
    """A new INVITE passed the policy checks; answer with `call.ring/answer/reject`."""

    call: Call
    request: Request
    replaces: Replaces | None = None


@dataclass(frozen=True)
class CallProgress:
    """A provisional response (180/183...) to our INVITE."""

    call: Call
    response: Response


@dataclass(frozen=True)
class CallAnswered:
    """A 2xx to our INVITE; the ACK has been sent."""

    call: Call
    response: Response


@dataclass(frozen=True)
class CallFailed:
    """Our INVITE ended without a dialog: final non-2xx, 408 on timeout, 503 on transport."""

    call: Call
    status: int
    reason: str
    response: Response | None = None

    def __post_init__(self) -> None:
        if not 300 <= self.status <= 699:
            raise ValueError("a failed call has a 3xx-6xx status")


@dataclass(frozen=True)
class CallConfirmed:
    """The ACK for our 2xx arrived (UAS side)."""

    call: Call


@dataclass(frozen=True)
class CallCancelled:
    """The caller sent CANCEL before we answered; 487 has been sent."""

    call: Call


ENDED_REASONS = frozenset(
    {"bye-received", "bye-sent", "ack-timeout", "session-expired", "transport-error"}
)


@dataclass(frozen=True)
class CallEnded:
    call: Call
    reason: str

    def __post_init__(self) -> None:
        if self.reason not in ENDED_REASONS:
            raise ValueError(f"unknown end reason {self.reason!r}")


@dataclass(frozen=True)
class ReInviteReceived:
    """An in-dialog INVITE (hold, resume, codec change). Answer with `call.respond(key, ...)`."""

    call: Call
    request: Request
    key: str


@dataclass(frozen=True)
class UpdateReceived:
    """An UPDATE with an SDP offer. Answer with `call.respond(key, ...)`."""

    call: Call
    request: Request
    key: str


@dataclass(frozen=True)
class RequestResult:
    """Final outcome of an in-dialog request we sent (re-INVITE, UPDATE, INFO, REFER...)."""

    call: Call
    method: str
    status: int
    response: Response | None = None


@dataclass(frozen=True)
class ReferReceived:
    """A REFER (RFC 3515); 202 has been sent. Report progress with `call.notify_refer`."""

    call: Call
    request: Request
    target: ReferTarget


@dataclass(frozen=True)
class ReferProgress:
    """A NOTIFY for a REFER we sent: the sipfrag status of the transferred call."""

    call: Call
    status: int
    final: bool


@dataclass(frozen=True)
class DtmfReceived:
    """A digit sent by SIP INFO (the fallback when RFC 4733 events are not used)."""

    call: Call
    digit: str
    duration_ms: int


@dataclass(frozen=True)
class OptionsResult:
    """Outcome of an out-of-dialog OPTIONS we sent (a trunk keepalive); None on timeout."""

    key: str
    status: int | None


@dataclass(frozen=True)
class PolicyRefused:
    """An INVITE refused by the inbound policy; the endpoint writes the audit entry."""

    source: tuple[str, str, int]
    rule: str
    status: int
    call_id: str


@dataclass(frozen=True)
class RegistrationChanged:
    aor: str
    registered: bool
    expires: int
    status: int | None


UaEvent = (
    IncomingCall
    | CallProgress
    | CallAnswered
    | CallFailed
    | CallConfirmed
    | CallCancelled
    | CallEnded
    | ReInviteReceived
    | UpdateReceived
    | RequestResult
    | ReferReceived
    | ReferProgress
    | DtmfReceived
    | OptionsResult
    | RegistrationChanged
    | PolicyRefused
)
