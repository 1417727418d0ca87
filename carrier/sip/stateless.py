"""Stateless answers to requests the parser refused (RFC 3261 8.2.6.2, 16.11): the
status of the parse error with the identifying fields copied, and a To tag that is the
same for every retransmission of one request, so no state is kept to answer them alike."""

from __future__ import annotations

import hashlib

from carrier.sip.errors import REASONS, SipParseError
from carrier.sip.message import Header, Response

__all__ = ["error_response", "stateless_tag"]


def error_response(err: SipParseError) -> Response | None:
    """The response to a request we could not accept, or None when none can be sent.

    No response goes to a response, to an ACK, or to a message without a Via.
    """
    if not err.is_request or err.method == "ACK":
        return None
    headers = [(k, v) for k, v in err.raw_headers if k in ("Via", "From", "To", "Call-ID", "CSeq")]
    if not any(k == "Via" for k, _ in headers):
        return None
    headers = [(k, _tagged(v, headers) if k == "To" else v) for k, v in headers]
    resp = Response(
        headers=headers,
        status=err.status_code,
        reason=REASONS.get(err.status_code, "Bad Request"),
    )
    resp.add("Warning", f'399 - "{err.reason}"')
    return resp


def stateless_tag(headers: list[Header] | tuple[Header, ...]) -> str:
    """A To tag for a stateless answer (RFC 3261 sec 8.2.6.2, 16.11): the same for every
    retransmission of one request, so no state is kept to answer them alike."""
    digest = hashlib.blake2s(digest_size=8)
    for key, value in headers:
        if key in ("Via", "From", "Call-ID", "CSeq"):
            digest.update(value.encode("utf-8", "surrogateescape") + b"\n")
    return "sl" + digest.hexdigest()


def _tagged(to: str, headers: list[Header]) -> str:
    if ";tag=" in to.replace(" ", "").lower():
        return to
    return f"{to};tag={stateless_tag(headers)}"
