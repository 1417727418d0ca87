"""Events the user agent core hands to its user (frozen dataclasses, STYLE.md practice 4).

An event about a call carries its session as a `SessionHandle` (the read-only face);
`Out` is what every sans-IO step returns: bytes to send, or events.
"""

from __future__ import annotations

from dataclasses import dataclass

from carrier.sip.body import session_sdp
from carrier.sip.dialog import ReferTarget, Replaces
from carrier.sip.errors import SipParseError
from carrier.sip.message import Request, Response
from carrier.sip.session_api import SessionHandle
from carrier.sip.stateless import error_response
from carrier.sip.transaction import Address, SendData


@dataclass(frozen=True)
class IncomingCall:
    """A new INVITE passed the policy checks; answer with `ring/answer/reject` on the session."""

    call: SessionHandle
    request: Request
    replaces: Replaces | None = None


@dataclass(frozen=True)
class CallProgress:
    """A provisional response (180/183...) to our INVITE."""

    call: SessionHandle
    response: Response


@dataclass(frozen=True)
class CallAnswered:
    """A 2xx to our INVITE; the ACK has been sent."""

    call: SessionHandle
    response: Response


@dataclass(frozen=True)
class CallFailed:
    """Our INVITE ended without a dialog: final non-2xx, 408 on timeout, 503 on transport."""

    call: SessionHandle
    status: int
    reason: str
    response: Response | None = None

    def __post_init__(self) -> None:
        if not 300 <= self.status <= 699:
            raise ValueError("a failed call has a 3xx-6xx status")


@dataclass(frozen=True)
class CallConfirmed:
    """The ACK for our 2xx arrived (UAS side)."""

    call: SessionHandle


@dataclass(frozen=True)
class CallCancelled:
    """The caller sent CANCEL before we answered; 487 has been sent."""

    call: SessionHandle


ENDED_REASONS = frozenset(
    {"bye-received", "bye-sent", "ack-timeout", "session-expired", "transport-error"}
)


@dataclass(frozen=True)
class CallEnded:
    """The dialog is over. `ack-timeout`: we answered but no ACK came within 64*T1
    (RFC 3261 13.3.1.4), so we sent BYE; `session-expired`: RFC 4028 sec 10."""

    call: SessionHandle
    reason: str

    def __post_init__(self) -> None:
        if self.reason not in ENDED_REASONS:
            raise ValueError(f"unknown end reason {self.reason!r}")


@dataclass(frozen=True)
class ReInviteReceived:
    """An in-dialog INVITE (hold, resume, codec change); answer with the session's
    `respond(key, ...)`."""

    call: SessionHandle
    request: Request
    key: str

    @property
    def sdp(self) -> bytes | None:
        """The offer: the body, or the SDP part of a multipart (SIP-I) body; None: the
        re-INVITE wants our offer."""
        return session_sdp(self.request)


@dataclass(frozen=True)
class AnswerInAck:
    """The ACK of our 2xx to a re-INVITE without an offer carried the answer to the
    offer that 2xx made (RFC 3261 14.2): apply it to the media."""

    call: SessionHandle
    sdp: bytes


@dataclass(frozen=True)
class UpdateReceived:
    """An UPDATE with an SDP offer. Answer with `respond(key, ...)` on the session."""

    call: SessionHandle
    request: Request
    key: str

    @property
    def sdp(self) -> bytes | None:
        """The offer (the body, or the SDP part of a multipart body)."""
        return session_sdp(self.request)


@dataclass(frozen=True)
class RequestResult:
    """Final outcome of an in-dialog request we sent (re-INVITE, UPDATE, INFO, REFER...)."""

    call: SessionHandle
    method: str
    status: int
    response: Response | None = None


@dataclass(frozen=True)
class ReferReceived:
    """A REFER (RFC 3515); 202 has been sent. Report progress with `notify_refer` on the session."""

    call: SessionHandle
    request: Request
    target: ReferTarget


@dataclass(frozen=True)
class ReferProgress:
    """A NOTIFY for a REFER we sent: the sipfrag status of the transferred call."""

    call: SessionHandle
    status: int
    final: bool


@dataclass(frozen=True)
class DtmfReceived:
    """A digit sent by SIP INFO (the fallback when RFC 4733 events are not used)."""

    call: SessionHandle
    digit: str
    duration_ms: int


@dataclass(frozen=True)
class OptionsResult:
    """Outcome of an out-of-dialog request we sent without a session (an OPTIONS keepalive,
    a MESSAGE): the final status, None on timeout."""

    key: str
    status: int | None


@dataclass(frozen=True)
class MessageReceived:
    """A text by SIP MESSAGE (RFC 3428) from a trunk's network: the sender's and the
    addressee's user parts (numbers) and the text. The sender is PHI: never log it."""

    source: tuple[str, str, int]
    trunk: str
    sender: str
    to: str
    text: str

    def __post_init__(self) -> None:
        if not self.trunk:
            raise ValueError("a MESSAGE is taken only from a trunk")

    def __repr__(self) -> str:
        return f"MessageReceived(trunk={self.trunk!r}, <redacted>)"


@dataclass(frozen=True)
class PolicyRefused:
    """An INVITE refused by the inbound policy; the endpoint writes the audit entry."""

    source: tuple[str, str, int]
    rule: str
    status: int
    call_id: str


@dataclass(frozen=True)
class MessageDropped:
    """A malformed message no response could be formed for (a response, an ACK, or a
    request without the fields a response copies): dropped, for the endpoint to count.
    `status` is what a request would have been answered (400, 513...)."""

    status: int


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
    | AnswerInAck
    | UpdateReceived
    | RequestResult
    | ReferReceived
    | ReferProgress
    | DtmfReceived
    | OptionsResult
    | MessageReceived
    | RegistrationChanged
    | PolicyRefused
    | MessageDropped
)

Out = SendData | UaEvent


def answer_unparsed(err: SipParseError, source: Address) -> list[Out]:
    """What a message the parser refused gets: the stateless answer to `source`, or, when
    none can be formed, `MessageDropped` (counted, never answered)."""
    resp = error_response(err)
    if resp is None:
        return [MessageDropped(err.status_code)]
    return [SendData(resp.serialize(), source)]
