"""Which part of a SIP message body is the session description, and whether a body an
offer carries can be taken at all (RFC 3261 8.2.3 and 20.11, RFC 5621), sans-IO.

A body is either `application/sdp` or a `multipart/mixed` (or `/alternative`) one, as
SIP-I trunks send (ITU-T Q.1912.5: the SDP beside an `application/ISUP` part). Of a
multipart body the first part that is `application/sdp` with disposition `session`
is the offer or answer; a part we do not understand is ignored when marked
`handling=optional` and makes the body unacceptable (415) when its handling is
required (the default, RFC 3261 20.11; RFC 5621 9). A multipart body without SDP
whose other parts are all optional carries no offer (the INVITE is then a late offer,
RFC 3264 5). A multipart body that cannot be split (no boundary, no closing
delimiter) is a bad request: `SipParseError` 400.
"""

from __future__ import annotations

from dataclasses import dataclass

from carrier.sip.errors import SipParseError
from carrier.sip.message import Message
from carrier.sip.uri import parse_params

SDP = "application/sdp"
MULTIPART = ("multipart/mixed", "multipart/alternative")
ACCEPT = "application/sdp, multipart/mixed, multipart/alternative"
REFUSED_HEADERS = (("Accept", ACCEPT), ("Accept-Encoding", "identity"))
MAX_PARTS = 16
MAX_DEPTH = 3  # multipart inside multipart (RFC 5621 allows nesting)


@dataclass(frozen=True)
class Part:
    content_type: str  # lower case, without parameters
    params: dict[str, str]
    disposition: str  # lower case
    required: bool
    body: bytes


def _media_type(value: str | None, default: str) -> tuple[str, dict[str, str]]:
    if not value:
        return default, {}
    kind, _, rest = value.partition(";")
    try:
        params = {k.lower(): (v or "").strip('"') for k, v in parse_params(";" + rest)} \
            if rest.strip() else {}  # fmt: skip
    except SipParseError as err:
        raise SipParseError("bad multipart content type") from err
    return kind.strip().lower(), params


def _disposition(value: str | None, content_type: str) -> tuple[str, bool]:
    """(disposition type, handling required); RFC 3261 20.11 defaults."""
    if not value:
        return ("session" if content_type == SDP else "render"), True
    kind, _, params = value.partition(";")
    optional = "handling=optional" in params.replace(" ", "").lower()
    return kind.strip().lower(), not optional


def _part(raw: bytes) -> Part:
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        if raw.startswith(b"\r\n"):  # a part without headers: text/plain (RFC 2046 5.1)
            head, body = b"", raw[2:]
        else:
            raise SipParseError("bad multipart part")
    try:
        lines = head.decode("utf-8").split("\r\n") if head else []
    except UnicodeDecodeError as err:
        raise SipParseError("bad multipart part") from err
    fields: dict[str, str] = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise SipParseError("bad multipart part")
        fields.setdefault(name.strip().lower(), value.strip())
    ctype, params = _media_type(fields.get("content-type"), "text/plain")
    disposition, required = _disposition(fields.get("content-disposition"), ctype)
    return Part(ctype, params, disposition, required, body)


def split_multipart(body: bytes, boundary: str) -> list[Part]:
    """The parts of a multipart body (RFC 2046 5.1.1); `SipParseError` 400 when it
    cannot be split."""
    if not boundary or len(boundary) > 70:
        raise SipParseError("multipart without boundary")
    delimiter = b"\r\n--" + boundary.encode()
    pieces = (b"\r\n" + body).split(delimiter)
    parts: list[Part] = []
    for piece in pieces[1:]:
        if piece.startswith(b"--"):
            return parts
        if len(parts) >= MAX_PARTS:
            raise SipParseError("too many multipart parts")
        padding, newline, rest = piece.partition(b"\r\n")
        if not newline or padding.strip(b" \t"):
            raise SipParseError("bad multipart delimiter")
        parts.append(_part(rest))
    raise SipParseError("multipart without closing delimiter")


def _session(parts: list[Part], depth: int) -> tuple[bytes | None, bool]:
    """(the SDP, a required part we cannot take)."""
    sdp, unknown = None, False
    for part in parts:
        if part.content_type == SDP and part.disposition == "session":
            sdp = part.body if sdp is None else sdp
        elif part.content_type in MULTIPART and depth < MAX_DEPTH:
            inner, bad = _session(split_multipart(part.body, part.params.get("boundary", "")),
                                  depth + 1)  # fmt: skip
            sdp, unknown = (inner if sdp is None else sdp), unknown or bad
        elif part.required:
            unknown = True
    return sdp, unknown


def _top(msg: Message) -> tuple[bytes | None, bool]:
    """(the session description of `msg`, whether the body holds what we cannot take)."""
    if not msg.body:
        return None, False
    codings = {c.strip().lower() for v in msg.get_all("Content-Encoding") for c in v.split(",")}
    if codings - {"identity", ""}:
        return None, True
    ctype, params = _media_type(msg.get("Content-Type"), "")  # no type: not one we read
    disposition, required = _disposition(msg.get("Content-Disposition"), ctype)
    if ctype in MULTIPART:
        return _session(split_multipart(msg.body, params.get("boundary", "")), 1)
    if ctype == SDP and disposition == "session":
        return msg.body, False
    return None, required or (ctype != SDP and disposition == "session")


def body_refusal(msg: Message) -> tuple[tuple[str, str], ...] | None:
    """The headers of a 415 when the body of an offer (INVITE, re-INVITE, UPDATE) cannot
    be taken as it is (RFC 3261 8.2.3): compressed (Content-Encoding other than
    identity), a type we do not read, a part we do not understand whose handling is
    required. None: no body, SDP, or a multipart body we can take. `SipParseError`
    400: a multipart body that cannot be split."""
    _, refused = _top(msg)
    return REFUSED_HEADERS if refused else None


def session_sdp(msg: Message) -> bytes | None:
    """The SDP a message carries (its body, or the session part of a multipart body);
    None when there is none. A body that cannot be read gives None here: for requests
    `body_refusal` has answered it already, responses cannot be answered."""
    try:
        sdp, _ = _top(msg)
    except SipParseError:
        return None
    return sdp
