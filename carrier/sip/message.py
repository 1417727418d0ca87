"""SIP message parser and serializer (RFC 3261 sec 7, 18.3, 25), sans-IO.

`parse_message(data)` turns one datagram (or one message cut by `framing.StreamFramer`)
into a `Request` or `Response`; `msg.serialize()` gives bytes back. Header values are
kept as unfolded text in arrival order (compact names expanded), typed views parse on
demand; the fields the stack relies on are validated here, so that a malformed request
is refused with the right status before anything acts on it.

What leaves the parser is safe for every layer above (storage, logs, audit): the
header section is UTF-8 (RFC 3261 sec 25.1 UTF8-NONASCII) with no control character
except HTAB, and a CTL only as a quoted-pair inside a quoted-string; identifiers
(Call-ID, tags, branch, CSeq method) are ASCII by their grammar; numbers are ASCII
digits of bounded length. Anything else raises `SipParseError` (400, or 513 for an
oversized header section), answered statelessly by `stateless.error_response` when the start
line and the header fields could be read.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from carrier.sip.errors import REASONS, SipParseError
from carrier.sip.framing import BLANK_LINE, MAX_HEADER_BYTES, StreamFramer, oversized
from carrier.sip.headers import (
    LIST_HEADERS,
    CSeq,
    NameAddr,
    Via,
    canonical_name,
    parse_token_list,
    split_list,
)
from carrier.sip.uri import URI, WS, is_digits, is_token, parse_params, parse_uri, text_fault

__all__ = [
    "REASONS",
    "SIP_VERSION",
    "Message",
    "Request",
    "Response",
    "SipParseError",
    "StreamFramer",
    "check_hops",
    "parse_message",
]

SIP_VERSION = "SIP/2.0"
MAX_LIST_ELEMENTS = 100  # per field value: more Vias than Max-Forwards allows hops, etc.
MAX_HEADER_FIELDS = 256  # longreq (RFC 4475) has 46; each field costs work on every lookup
MAX_CALL_ID = 256

# Header fields that appear at most once (RFC 3261 sec 20 and the extensions we act on).
_SINGLE = (
    "To", "From", "Call-ID", "CSeq", "Max-Forwards", "Content-Length", "Content-Type",
    "Date", "Expires", "Min-Expires", "Session-Expires", "Min-SE", "RSeq", "RAck",
    "Replaces", "Refer-To", "Referred-By", "MIME-Version",
)  # fmt: skip
# delta-seconds, optionally followed by parameters (Session-Expires, Min-SE, Expires).
_DELTA_HEADERS = ("Expires", "Min-Expires", "Session-Expires", "Min-SE", "RSeq")
_WORD = r"[A-Za-z0-9\-.!%*_+`'~()<>:\\\"/\[\]?{}]+"
_CALL_ID_RE = re.compile(rf"{_WORD}(?:@{_WORD})?")  # RFC 3261 sec 25.1 callid
_RACK_RE = re.compile(r"[0-9]{1,10}[ \t]+[0-9]{1,10}[ \t]+\S+")
_ADDRESS_LISTS = ("Contact", "Route", "Record-Route")
_VERSION_RE = re.compile(r"SIP/\d+\.\d+", re.IGNORECASE)
_LINE_RE = re.compile(r"\r?\n")
_DATE_RE = re.compile(r"[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT")
_MEDIA_TYPE_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+/[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

Header = tuple[str, str]


@functools.lru_cache(maxsize=1024)  # bounded: header names come from the wire
def _key(name: str) -> str:
    return canonical_name(name).lower()


def _same(a: str, b: str) -> bool:
    return a == b or _key(a) == _key(b)


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
    challenges: int = field(default=0, compare=False)  # answered so far (authretry); not sent

    def start_line(self) -> str:
        return f"{self.method} {self.uri} {SIP_VERSION}"

    def copy(self) -> Request:
        return Request(headers=list(self.headers), body=self.body, method=self.method,
                       uri=self.uri, challenges=self.challenges)  # fmt: skip


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
    blank = BLANK_LINE.search(data)  # the first empty line, CRLF or bare LF as the framer
    if blank is not None:
        return data[: blank.start()], data[blank.end() :]
    if len(data) > MAX_HEADER_BYTES:
        raise oversized(data, partial=True)
    raise SipParseError("no end of header section")


def _header_lines(head: str) -> tuple[str, list[Header], str | None]:
    """The start line, the header fields (folding undone) and the first text fault."""
    lines = _LINE_RE.split(head)
    headers: list[Header] = []
    fault = text_fault(lines[0], quoted_pairs=False)
    skipped = False  # the last field line was left out: so are its continuations
    for line in lines[1:]:
        fault = fault or text_fault(line)
        if line[:1] in (" ", "\t"):
            if not headers or skipped:
                fault = fault or "folded line before any header"
                continue
            name, value = headers[-1]
            headers[-1] = (name, (value + " " + line.strip(WS)).strip(WS))
            continue
        name, colon, value = line.partition(":")
        name = name.rstrip(WS)
        if not colon or not is_token(name):
            # Left out, and read on: the fields around it still carry a 400 back.
            fault, skipped = fault or "bad header line", True
            continue
        skipped = False
        headers.append((canonical_name(name), value.strip(WS)))
    if len(headers) > MAX_HEADER_FIELDS:
        fault = fault or "too many header fields"
    elements: dict[str, int] = {}
    for name, value in headers:
        elements[name] = elements.get(name, 0) + 1 + value.count(",")
    if max(elements.values(), default=0) > MAX_LIST_ELEMENTS:
        fault = fault or "too many list elements"
    return lines[0], headers, fault


def _parse_start(line: str, fault: str | None = None) -> Request | Response:
    if fault is not None:  # found by _header_lines; raised here to carry the raw headers
        raise SipParseError(fault)
    if line[:4].upper() == "SIP/":
        version, _, rest = line.partition(" ")
        code, _, reason = rest.partition(" ")
        if version.upper() != SIP_VERSION or len(code) != 3 or not is_digits(code):
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
    seen: set[str] = set()
    for key, _ in msg.headers:  # names are canonical already (parse_message)
        if key in _SINGLE:
            if key in seen:
                raise SipParseError(f"repeated {key}")
            seen.add(key)
    vias = msg.vias
    if not vias:
        raise SipParseError("empty Via")
    if isinstance(msg, Request) and vias[0].protocol != SIP_VERSION:
        raise SipParseError("bad Via version")
    _validate_fields(msg)
    length = msg.get("Content-Length")
    if length is None:
        return None
    if not is_digits(length, 9):
        raise SipParseError("bad Content-Length")
    return int(length)


def _validate_fields(msg: Request | Response) -> None:
    msg.from_, msg.to  # noqa: B018 - parsed for validation
    call_id = msg.call_id
    if len(call_id) > MAX_CALL_ID or not _CALL_ID_RE.fullmatch(call_id):
        raise SipParseError("bad Call-ID")
    cseq = msg.cseq
    if isinstance(msg, Request) and cseq.method != msg.method:
        raise SipParseError("CSeq method does not match")
    max_forwards = msg.get("Max-Forwards")
    if max_forwards is not None and (not is_digits(max_forwards) or int(max_forwards) > 255):
        raise SipParseError("bad Max-Forwards")
    _validate_numbers(msg)
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


def _validate_numbers(msg: Request | Response) -> None:
    """Numeric fields others read later are ASCII digits of bounded length, here."""
    for name, value in msg.headers:  # one pass; names are canonical already
        if name in _DELTA_HEADERS:
            delta, semi, params = value.partition(";")
            if not is_digits(delta.strip(WS)):
                raise SipParseError(f"bad {name}")
            if semi:
                parse_params(params)
        elif name == "RAck" and not _RACK_RE.fullmatch(value):
            raise SipParseError("bad RAck")
        elif name == "Retry-After" and not is_digits(
            value.split("(")[0].split(";")[0].strip(WS)
        ):
            raise SipParseError("bad Retry-After")


def parse_message(data: bytes) -> Request | Response:
    """Parse one complete SIP message (a datagram, or one message cut by `StreamFramer`).

    Raises `SipParseError`; when the start line and header fields could be read, the
    error carries `is_request`, `method` and `raw_headers` so a response can be formed.
    """
    head_bytes, rest = _split_head(data)
    if len(head_bytes) > MAX_HEADER_BYTES:
        raise oversized(head_bytes)  # 513, answered when the copied fields could be read
    # Bytes that are not UTF-8 survive decoding only to be echoed in a 400 (the
    # response copies Via/From/To/Call-ID/CSeq as received); `_header_lines` flags them.
    head = head_bytes.decode("utf-8", "surrogateescape")
    start, headers, fault = _header_lines(head)
    is_request = start[:4].upper() != "SIP/"
    try:
        msg = _parse_start(start, fault)
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


def check_hops(req: Request) -> None:
    """RFC 3261 sec 16.3 step 2: a request whose Max-Forwards is 0 goes no further, 483.

    OPTIONS and REGISTER are answered by us whatever the count (sec 11.1, 10.3); an ACK
    is never answered. Raises `SipParseError` (483) ready for `error_response`.
    """
    if req.method in ("OPTIONS", "REGISTER", "ACK"):
        return
    value = req.get("Max-Forwards")
    if value is not None and int(value) == 0:  # digits checked by the parser
        err = SipParseError("too many hops", 483)
        err.is_request, err.method, err.raw_headers = True, req.method, tuple(req.headers)
        raise err
