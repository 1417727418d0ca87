"""Cutting a TCP/TLS byte stream into SIP messages (RFC 3261 sec 18.3), sans-IO.

`StreamFramer.feed(data)` returns the whole messages now available, framed by
Content-Length after the first empty line (lines may end in CRLF or a bare LF, as real
stacks send and the datagram parser takes); line ends between messages are skipped and
CRLFCRLF among them counted as an RFC 5626 ping. The limits below bound what one
connection can make us buffer.
`oversized(head)` is the 513 for a header section past the limit (RFC 3261 21.5.11),
answerable when the fields a response copies could be read without parsing the rest.
"""

from __future__ import annotations

import re

from carrier.sip.errors import SipParseError
from carrier.sip.headers import canonical_name

# Parsing is pure Python, linear in the header section: its size bounds the CPU one
# datagram can cost (about 10 ms at 16 KiB, 40 ms at 64 KiB). Legitimate headers stay
# far below (RFC 4475 longreq: 3.5 KB; an INVITE with three Identity headers: ~5 KB).
MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 64 * 1024  # what one TCP/TLS connection may make us buffer for a body
# The fields a response copies (RFC 3261 8.2.6.2), compact forms too: found in an oversized
# header section by one regex scan (in C), the section itself is never parsed.
_COPIED = re.compile(rb"^(via|v|from|f|to|t|call-id|i|cseq)[ \t]*:[ \t]*([^\r\n]*?)[ \t]*\r?$",
                     re.IGNORECASE | re.MULTILINE)
# The end of a header section: an empty line, whether lines end in CRLF or (as some stacks
# send, and as `parse_message` accepts) in a bare LF.
BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_LINE_END = re.compile(rb"\r?\n")
PING = b"\r\n\r\n"  # RFC 5626 4.4.1 keep-alive; answered with one CRLF
MAX_ECHO = 4096  # bytes of copied fields a 513 may carry: more, and it is not answered


def oversized(head: bytes, *, partial: bool = False) -> SipParseError:
    """The 513 for a header section past the limit, carrying the fields to answer it with
    (`error_response`) when the start line is a request's with a Via.
    `partial`: the section is not complete (a stream): its last, cut line is left out."""
    err = SipParseError("header section too large", 513)
    start, _, rest = head.partition(b"\n")
    err.is_request = start[:4].upper() != b"SIP/"
    err.method = start.split(b" ", 1)[0].decode("utf-8", "replace")
    if partial:
        rest = rest[: rest.rfind(b"\n") + 1]
    fields = tuple((canonical_name(m[1].decode("ascii")), m[2].decode("utf-8", "surrogateescape"))
                   for m in _COPIED.finditer(rest))  # fmt: skip
    # Answerable as any refused request is (`error_response`): a Via is enough, the
    # peer matches its transaction on the branch and the CSeq method (RFC 3261 17.1.3;
    # a missing CSeq is rebuilt from the method). More than MAX_ECHO bytes to copy: not.
    if any(name == "Via" for name, _ in fields) and sum(
            len(value) for _, value in fields) <= MAX_ECHO:
        err.raw_headers = fields
    return err


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
            if not self._skip_keepalives():
                return out
            blank = BLANK_LINE.search(self._buf)
            end = -1 if blank is None else blank.start()
            if end > self._max_header or (end < 0 and len(self._buf) > self._max_header):
                head = self._buf[:end] if end >= 0 else self._buf
                raise oversized(bytes(head), partial=end < 0)
            if blank is None:
                return out
            length = _scan_content_length(bytes(self._buf[:end]))
            if length > self._max_body:
                raise SipParseError("body too large", 513)
            total = blank.end() + length
            if len(self._buf) < total:
                return out
            out.append(bytes(self._buf[:total]))
            del self._buf[:total]

    def _skip_keepalives(self) -> bool:
        """Line ends between messages are skipped; CRLFCRLF among them is a ping, however
        the reads cut it (so a lone CRLF waits to see whether one follows). False while
        nothing but the start of a ping is buffered."""
        buf = self._buf
        while bytes(buf[:1]) in (b"\r", b"\n"):
            if buf[:4] == PING:
                self.pings += 1
                del buf[:4]
            elif PING.startswith(bytes(buf)):
                return False
            else:
                del buf[: 2 if buf[:2] == b"\r\n" else 1]
        return bool(buf)

    @property
    def partial(self) -> bool:
        """A message has begun and is not whole (a kept ping prefix is no message)."""
        return bytes(self._buf[:1]) not in (b"", b"\r", b"\n")

    @property
    def buffered(self) -> int:
        return len(self._buf)


def _scan_content_length(head: bytes) -> int:
    found: int | None = None
    lines = _LINE_END.split(head)
    for index, line in enumerate(lines[1:], start=1):
        name, colon, value = line.partition(b":")
        if not colon or name.strip().lower() not in (b"content-length", b"l"):
            continue
        # A value folded onto the next line (LWS continuation) is still the value.
        text = value.strip()
        following = lines[index + 1] if index + 1 < len(lines) else b""
        if not text and following[:1] in (b" ", b"\t"):
            text = following.strip()
        if not (text.isascii() and text.isdigit()) or len(text) > 9:
            raise SipParseError("bad Content-Length")
        if found is not None and found != int(text):
            raise SipParseError("repeated Content-Length")
        found = int(text)
    return found or 0
