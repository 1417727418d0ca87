"""Stateless answers to requests the parser refused (RFC 3261 8.2.6.2, 16.11): the
status of the parse error with the identifying fields copied, and a To tag that is the
same for every retransmission of one request, so no state is kept to answer them alike."""

from __future__ import annotations

import hashlib

from carrier.sip.errors import REASONS, SipParseError
from carrier.sip.message import Header, Response
from carrier.sip.uri import is_digits, is_token

__all__ = ["error_response", "stateless_tag"]


def error_response(err: SipParseError) -> Response | None:
    """The response to a request we could not accept, or None when none can be sent.

    No response goes to a response, to an ACK, or to a message without a Via.
    """
    if not err.is_request or err.method == "ACK":
        return None
    headers, seen = [], set()  # every Via; the first From, To, Call-ID and CSeq only
    for k, v in err.raw_headers:
        if k == "Via" or (k in ("From", "To", "Call-ID", "CSeq") and k not in seen):
            seen.add(k)
            headers.append((k, v))
    if "Via" not in seen:
        return None
    cseq = _answer_cseq(next((v for k, v in headers if k == "CSeq"), None), err.method)
    headers = [(k, _tagged(v, headers) if k == "To" else v) for k, v in headers if k != "CSeq"]
    headers += [("CSeq", cseq)] if cseq is not None else []
    resp = Response(
        headers=headers,
        status=err.status_code,
        reason=REASONS.get(err.status_code, "Bad Request"),
    )
    resp.add("Warning", f'399 - "{err.reason}"')
    return resp


def _answer_cseq(value: str | None, method: str | None) -> str | None:
    """An answer's CSeq (one is required, RFC 3261 8.1.1.5): as received when it reads
    ``number method`` with the request line's method; else its number (0 when there is
    none) and that method, which the peer matches its transaction on (17.1.3)."""
    if method is None or not is_token(method):
        return value
    parts = (value or "").split()
    seq = parts[0] if parts and is_digits(parts[0]) else "0"
    return value if parts == [seq, method] else f"{seq} {method}"


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
