"""What an INVITE session looks like from the outside: its states and the read-only
face that events carry (`SessionHandle`).

This module sits below both `events` and `session`, so that an event can name the
session it is about without `events` importing `session` (no import cycle). Code that
drives a session (answer, hang up...) holds the concrete
`carrier.sip.session.InviteSession`.
"""

from __future__ import annotations

import enum
from typing import Protocol

from carrier.sip.dialog import Dialog
from carrier.sip.message import Request
from carrier.sip.transaction import Address


class SessionState(enum.Enum):
    """RFC 3261 sec 12-13 dialog states, refined where a state changes what a request does.

    UAC: INITIAL (INVITE sent, nothing heard) -> PROCEEDING (100) -> EARLY (1xx with a
    tag) -> CONFIRMED (2xx, ACK sent); CANCEL_PENDING / CANCELLING while a CANCEL waits
    for a provisional (RFC 3261 9.1) or for the INVITE's final answer.
    UAS: INITIAL (INVITE received) -> EARLY (1xx sent) -> ANSWERED (2xx sent, waiting for
    the ACK, RFC 3261 13.3.1.4) -> CONFIRMED.
    """

    INITIAL = "initial"
    PROCEEDING = "proceeding"
    EARLY = "early"
    CANCEL_PENDING = "cancel-pending"
    CANCELLING = "cancelling"
    ANSWERED = "answered"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


UNANSWERED = frozenset(
    {SessionState.INITIAL, SessionState.PROCEEDING, SessionState.EARLY,
     SessionState.CANCEL_PENDING, SessionState.CANCELLING}
)  # fmt: skip


class SessionHandle(Protocol):
    """The read-only face of one INVITE session, as events carry it."""

    @property
    def role(self) -> str: ...  # "uac" | "uas"

    @property
    def call_id(self) -> str: ...

    @property
    def state(self) -> SessionState: ...

    @property
    def invite(self) -> Request: ...

    @property
    def local_tag(self) -> str: ...

    @property
    def dest(self) -> Address: ...

    @property
    def trunk(self) -> str | None: ...

    @property
    def dialog(self) -> Dialog | None: ...

    @property
    def local_sdp(self) -> bytes | None: ...

    @property
    def remote_sdp(self) -> bytes | None: ...
