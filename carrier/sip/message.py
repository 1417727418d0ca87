"""SIP message parser and serializer (RFC 3261 sec 7, 18.3, 25), sans-IO.

`parse_message(data)` turns one datagram (or one framed stream message) into a
`Request` or `Response`; `msg.serialize()` gives bytes back. `StreamFramer` cuts a
TCP/TLS byte stream into messages by Content-Length. Header values are kept as
unfolded text in arrival order (compact names expanded), typed views parse on demand;
the parser validates the fields the stack relies on so that a malformed request is
refused with the right status before anything acts on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from carrier.sip.errors import SipParseError
from carrier.sip.headers import (
    LIST_HEADERS,
    CSeq,
    NameAddr,
    Via,
    canonical_name,
    parse_token_list,
    split_list,
)
from carrier.sip.uri import URI, WS, is_token, parse_uri

__all__ = [
    "REASONS",
    "SIP_VERSION",
    "Message",
    "Request",
    "Response",
    "SipParseError",
    "StreamFramer",
    "error_response",
    "parse_message",
]

SIP_VERSION = "SIP/2.0"
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024

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

_SINGLE = ("To", "From", "Call-ID", "CSeq", "Max-Forwards", "Content-Length", "Content-Type")
_ADDRESS_LISTS = ("Contact", "Route", "Record-Route")
_VERSION_RE = re.compile(r"SIP/\d+\.\d+", re.IGNORECASE)
_LINE_RE = re.compile(r"\r?\n")
_DATE_RE = re.compile(r"[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT")
_MEDIA_TYPE_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+/[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

Header = tuple[str, str]


def _same(a: str, b: str) -> bool:
    return canonical_name(a).lower() == canonical_name(b).lower()


@dataclass
class Message:
    """Common part of requests and responses: ordered header fields and a body."""

    headers: list[Header] = field(default_factory=list)
    body: bytes = b""

    # -- raw access ---------------------------------------------------------
    def get(self, name: str) -> str | None:
        for key, value in self.headers:
            if _same(key, name):
                return value
        return None

    def get_all(self, name: str) -> list[str]:
        """Every value of a header; list headers are split at top-level commas."""
        out: list[str] = []
        for key, value in self.headers:
            if _same(key, name):
                if canonical_name(key) in LIST_HEADERS:
                    # An empty list header (e.g. "Supported:") has no elements.
                    if value.strip():
                        out.extend(split_list(value))
                else:
                    out.append(value)
        return out

    def has(self, name: str) -> bool:
        return self.get(name) is not None

    def add(self, name: str, value: str) -> None:
        self.headers.append((canonical_name(name), value))

    def prepend(self, name: str, value: str) -> None:
        self.headers.insert(0, (canonical_name(name), value))

    def remove(self, name: str) -> None:
        self.headers = [(k, v) for k, v in self.headers if not _same(k, name)]

    def set(self, name: str, value: str) -> None:
        """Replace every value of `name` by one value, keeping the first position."""
        for index, (key, _) in enumerate(self.headers):
            if _same(key, name):
                self.headers[index] = (canonical_name(name), value)
                self.headers = [
                    h for i, h in enumerate(self.headers) if i <= index or not _same(h[0], name)
                ]
                return
        self.add(name, value)

    # -- typed views --------------------------------------------------------
    @property
    def vias(self) -> list[Via]:
        return [Via.parse(value) for value in self.get_all("Via")]

    @property
    def via(self) -> Via:
        first = self.get_all("Via")
        if not first:
            raise SipParseError("missing Via")
        return Via.parse(first[0])

    @property
    def from_(self) -> NameAddr:
        return NameAddr.parse(self._required("From"))

    @property
    def to(self) -> NameAddr:
        return NameAddr.parse(self._required("To"))

    @property
    def call_id(self) -> str:
        return self._required("Call-ID")

    @property
    def cseq(self) -> CSeq:
        return CSeq.parse(self._required("CSeq"))

    @property
    def contacts(self) -> list[NameAddr]:
        return [NameAddr.parse(v) for v in self.get_all("Contact") if v.strip() != "*"]

    @property
    def record_routes(self) -> list[NameAddr]:
        return [NameAddr.parse(v) for v in self.get_all("Record-Route")]

    @property
    def routes(self) -> list[NameAddr]:
        return [NameAddr.parse(v) for v in self.get_all("Route")]

    @property
    def content_type(self) -> str | None:
        value = self.get("Content-Type")
        return None if value is None else value.split(";")[0].strip().lower()

    def tokens(self, name: str) -> list[str]:
        """Option tags of Require/Supported/Allow..., case preserved."""
        out: list[str] = []
        for value in self.get_all(name):
            out.extend(parse_token_list(value))
        return out

    def _required(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise SipParseError(f"missing {name}")
        return value

    # -- serialization --------------------------------------------------------
    def start_line(self) -> str:
        raise NotImplementedError

    def serialize(self) -> bytes:
        lines = [self.start_line()]
        wrote_length = False
        for key, value in self.headers:
            if _same(key, "Content-Length"):
                if not wrote_length:
                    lines.append(f"{key}: {len(self.body)}")
                wrote_length = True
                continue
            lines.append(f"{key}: {value}")
        if not wrote_length:
            lines.append(f"Content-Length: {len(self.body)}")
        head = "\r\n".join(lines) + "\r\n\r\n"
        return head.encode("utf-8", "surrogateescape") + self.body


@dataclass
class Request(Message):
    method: str = "OPTIONS"
    uri: URI = field(default_factory=lambda: URI(scheme="sip", host="invalid"))

    def start_line(self) -> str:
        return f"{self.method} {self.uri} {SIP_VERSION}"

    def copy(self) -> Request:
        return Request(headers=list(self.headers), body=self.body, method=self.method, uri=self.uri)


@dataclass
class Response(Message):
    status: int = 200
    reason: str = "OK"

    def start_line(self) -> str:
        return f"{SIP_VERSION} {self.status} {self.reason}"

    @property
    def is_provisional(self) -> bool:
        return self.status < 200

    @classmethod
    def for_request(
        cls,
        request: Request,
        status: int,
        reason: str | None = None,
        *,
        to_tag: str | None = None,
    ) -> Response:
        """A response carrying Via/From/To/Call-ID/CSeq from the request (RFC 3261 8.2.6.2)."""
        headers: list[Header] = [(k, v) for k, v in request.headers if _same(k, "Via")]
        for name in ("From", "To", "Call-ID", "CSeq"):
            value = request.get(name)
            if value is None:
                continue
            if name == "To" and to_tag is not None and request.to.tag is None:
                value = f"{value};tag={to_tag}"
            headers.append((name, value))
        return cls(headers=headers, status=status, reason=reason or REASONS.get(status, "Unknown"))


def _split_head(data: bytes) -> tuple[bytes, bytes]:
    data = data.lstrip(b"\r\n")
    for sep in (b"\r\n\r\n", b"\n\n"):
        end = data.find(sep)
        if end >= 0:
            return data[:end], data[end + len(sep) :]
    raise SipParseError("no end of header section")


def _header_lines(head: str) -> tuple[str, list[Header]]:
    lines = _LINE_RE.split(head)
    headers: list[Header] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t"):
            if not headers:
                raise SipParseError("folded line before any header")
            name, value = headers[-1]
            headers[-1] = (name, (value + " " + line.strip(WS)).strip(WS))
            continue
        name, colon, value = line.partition(":")
        name = name.rstrip(WS)
        if not colon or not is_token(name):
            raise SipParseError("bad header line")
        headers.append((canonical_name(name), value.strip(WS)))
    return lines[0], headers


def _parse_start(line: str) -> Request | Response:
    if line[:4].upper() == "SIP/":
        version, _, rest = line.partition(" ")
        code, _, reason = rest.partition(" ")
        if version.upper() != SIP_VERSION or len(code) != 3 or not code.isdigit():
            raise SipParseError("bad status line")
        status = int(code)
        if not 100 <= status <= 699:
            raise SipParseError("bad status code")
        return Response(status=status, reason=reason)
    parts = line.split(" ")
    if len(parts) != 3:
        raise SipParseError("bad request line")
    method, uri_text, version = parts
    if not is_token(method):
        raise SipParseError("bad method")
    if version.upper() != SIP_VERSION:
        if _VERSION_RE.fullmatch(version):
            raise SipParseError("unsupported SIP version", 505)
        raise SipParseError("bad request line")
    uri = parse_uri(uri_text)
    if uri.headers:
        raise SipParseError("headers in Request-URI")
    return Request(method=method, uri=uri)


def _validate(msg: Request | Response) -> int | None:
    """Check the fields the stack relies on; returns the Content-Length if present."""
    for name in ("Via", "From", "To", "Call-ID", "CSeq"):
        if not msg.has(name):
            raise SipParseError(f"missing {name}")
    for name in _SINGLE:
        if sum(1 for k, _ in msg.headers if _same(k, name)) > 1:
            raise SipParseError(f"repeated {name}")
    vias = msg.vias
    if not vias:
        raise SipParseError("empty Via")
    if isinstance(msg, Request) and vias[0].protocol != SIP_VERSION:
        raise SipParseError("bad Via version")
    _validate_fields(msg)
    length = msg.get("Content-Length")
    if length is None:
        return None
    if not length.isdigit() or len(length) > 9:
        raise SipParseError("bad Content-Length")
    return int(length)


def _validate_fields(msg: Request | Response) -> None:
    msg.from_, msg.to  # noqa: B018 - parsed for validation
    call_id = msg.call_id
    if not call_id or any(ch in WS for ch in call_id):
        raise SipParseError("bad Call-ID")
    cseq = msg.cseq
    if isinstance(msg, Request) and cseq.method != msg.method:
        raise SipParseError("CSeq method does not match")
    max_forwards = msg.get("Max-Forwards")
    if max_forwards is not None and (not max_forwards.isdigit() or int(max_forwards) > 255):
        raise SipParseError("bad Max-Forwards")
    for name in _ADDRESS_LISTS:
        for value in msg.get_all(name):
            if name == "Contact" and value == "*":
                continue
            NameAddr.parse(value)
    content_type = msg.get("Content-Type")
    if content_type is not None and not _MEDIA_TYPE_RE.fullmatch(
        content_type.split(";")[0].strip()
    ):
        raise SipParseError("bad Content-Type")
    date = msg.get("Date")
    if date is not None and not _DATE_RE.fullmatch(date):
        raise SipParseError("bad Date")
    for name in ("Require", "Proxy-Require", "Supported", "Allow"):
        msg.tokens(name)


def parse_message(data: bytes) -> Request | Response:
    """Parse one complete SIP message (a datagram, or one message cut by `StreamFramer`).

    Raises `SipParseError`; when the start line and header fields could be read, the
    error carries `is_request`, `method` and `raw_headers` so a response can be formed.
    """
    head_bytes, rest = _split_head(data)
    if len(head_bytes) > MAX_HEADER_BYTES:
        raise SipParseError("header section too large", 513)
    head = head_bytes.decode("utf-8", "surrogateescape")
    start, headers = _header_lines(head)
    is_request = start[:4].upper() != "SIP/"
    try:
        msg = _parse_start(start)
        msg.headers = headers
        length = _validate(msg)
    except SipParseError as err:
        err.is_request = is_request
        err.raw_headers = tuple(headers)
        err.method = start.split(" ", 1)[0] if is_request else None
        raise
    if length is None:
        msg.body = rest
    elif len(rest) < length:
        short = SipParseError("body shorter than Content-Length")
        short.is_request, short.raw_headers = is_request, tuple(headers)
        short.method = msg.method if isinstance(msg, Request) else None
        raise short
    else:
        msg.body = rest[:length]
    return msg


def error_response(err: SipParseError) -> Response | None:
    """The response to a request we could not accept, or None when none can be sent.

    No response goes to a response, to an ACK, or to a message without a Via.
    """
    if not err.is_request or err.method == "ACK":
        return None
    headers = [(k, v) for k, v in err.raw_headers if k in ("Via", "From", "To", "Call-ID", "CSeq")]
    if not any(k == "Via" for k, _ in headers):
        return None
    resp = Response(
        headers=headers,
        status=err.status_code,
        reason=REASONS.get(err.status_code, "Bad Request"),
    )
    resp.add("Warning", f'399 - "{err.reason}"')
    return resp


class StreamFramer:
    """Cuts a TCP/TLS byte stream into whole messages by Content-Length (RFC 3261 sec 18.3).

    `feed(data)` returns the complete messages now available. A missing
    Content-Length counts as 0. Raises `SipParseError` when the stream cannot be
    framed any more (bad Content-Length, oversized headers): close the connection.
    """

    def __init__(self, *, max_header: int = MAX_HEADER_BYTES, max_body: int = MAX_BODY_BYTES):
        self._buf = bytearray()
        self._max_header = max_header
        self._max_body = max_body
        self.pings = 0  # RFC 5626 double-CRLF keep-alives seen; answer each with one CRLF

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out: list[bytes] = []
        while True:
            # Keep-alive CRLFs between messages (RFC 5626 sec 4.4.1) are skipped.
            while self._buf[:2] == b"\r\n" or self._buf[:1] == b"\n":
                if self._buf[:4] == b"\r\n\r\n":
                    self.pings += 1
                    del self._buf[:4]
                    continue
                del self._buf[: 2 if self._buf[:2] == b"\r\n" else 1]
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > self._max_header:
                    raise SipParseError("header section too large", 513)
                return out
            length = _scan_content_length(bytes(self._buf[:end]))
            if length > self._max_body:
                raise SipParseError("body too large", 513)
            total = end + 4 + length
            if len(self._buf) < total:
                return out
            out.append(bytes(self._buf[:total]))
            del self._buf[:total]

    @property
    def buffered(self) -> int:
        return len(self._buf)


def _scan_content_length(head: bytes) -> int:
    found: int | None = None
    lines = head.split(b"\r\n")
    for index, line in enumerate(lines[1:], start=1):
        name, colon, value = line.partition(b":")
        if not colon or name.strip().lower() not in (b"content-length", b"l"):
            continue
        # A value folded onto the next line (LWS continuation) is still the value.
        text = value.strip()
        following = lines[index + 1] if index + 1 < len(lines) else b""
        if not text and following[:1] in (b" ", b"\t"):
            text = following.strip()
        if not text.isdigit() or len(text) > 9:
            raise SipParseError("bad Content-Length")
        if found is not None and found != int(text):
            raise SipParseError("repeated Content-Length")
        found = int(text)
    return found or 0
