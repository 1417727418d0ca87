"""The narrow interface an INVITE session needs from its user agent (`SessionHost`).

A session never reaches into the user agent: it asks the host to send a request in a
new client transaction, respond in a server transaction, send a stateless ACK, arm or
cancel a named timer, and it returns its events (`Out`) to whoever drove it.
`carrier.sip.ua.UserAgent` implements this protocol; tests may implement it too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from carrier.sip.events import Out
from carrier.sip.message import Request, Response
from carrier.sip.session_api import SessionHandle
from carrier.sip.transaction import Address, Timers

ResponseHandler = Callable[[Response | None, float], list[Out]]
TimerFired = Callable[[float], list[Out]]


class SessionHost(Protocol):
    @property
    def timers(self) -> Timers: ...

    @property
    def session_expires(self) -> int:
        """Session-Expires we offer when the peer asked for none (RFC 4028)."""
        ...

    def new_id(self) -> str: ...

    def contact(self, transport: str) -> str:
        """Our Contact header value for requests and responses over `transport`."""
        ...

    def send_request(
        self, req: Request, dest: Address, now: float, handler: ResponseHandler
    ) -> list[Out]:
        """Start a client transaction (fresh Via branch); `handler` gets its responses,
        or None on timeout / transport error."""
        ...

    def send_cancel(self, cancel: Request, dest: Address, now: float) -> list[Out]:
        """CANCEL in its own transaction with the INVITE's branch (RFC 3261 9.1)."""
        ...

    def abandon(self, invite: Request) -> None:
        """Drop the client transaction of `invite` (no final answer after CANCEL)."""
        ...

    def send_ack(self, ack: Request, dest: Address) -> list[Out]:
        """An ACK for a 2xx, outside any transaction (RFC 3261 13.2.2.4)."""
        ...

    def respond(self, key: str, response: Response, now: float) -> list[Out]:
        """Send `response` in server transaction `key` (nothing if it has ended)."""
        ...

    def request_source(self, key: str) -> Address | None:
        """Where the request of server transaction `key` came from."""
        ...

    def trunk_of(self, source_host: str) -> str | None:
        """The trunk the inbound policy places `source_host` in, if any."""
        ...

    def set_timer(self, name: str, due: float, fire: TimerFired) -> None: ...

    def cancel_timer(self, name: str) -> None: ...

    def session_ended(self, session: SessionHandle) -> None:
        """The session is over: the host forgets it."""
        ...
