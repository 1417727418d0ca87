"""SIP errors that carry their wire meaning (STYLE.md practice 5)."""

from __future__ import annotations


class SipError(Exception):
    """Base class for errors raised by the SIP stack."""


class SipParseError(SipError, ValueError):
    """The peer sent something we cannot accept.

    `status_code` is the response to send when the message was a request and a
    response can be formed (400 by default, 505 for a bad SIP version, 416 for an
    unsupported URI scheme). `reason` is a short fixed text safe for logs and for the
    reason phrase: it never echoes the offending input.
    """

    def __init__(self, reason: str, status_code: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code
        # Filled in by the message parser when the start line and raw header
        # fields could be read, so that the transport can still answer.
        self.is_request: bool | None = None
        self.raw_headers: tuple[tuple[str, str], ...] = ()
        self.method: str | None = None


class LocalProtocolError(SipError):
    """We tried to do something the protocol does not allow (a bug on our side)."""
