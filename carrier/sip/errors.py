"""SIP errors that carry their wire meaning (STYLE.md practice 5)."""

from __future__ import annotations

# Reason phrases of the codes the stack sends (RFC 3261 sec 21 and extensions).
REASONS = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    200: "OK",
    202: "Accepted",
    301: "Moved Permanently",
    302: "Moved Temporarily",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    421: "Extension Required",
    422: "Session Interval Too Small",
    423: "Interval Too Brief",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    491: "Request Pending",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
    600: "Busy Everywhere",
    603: "Decline",
}


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


class CallFailedError(Exception):
    """An outbound call ended without answer; `status` is the SIP code (408 on timeout)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason
