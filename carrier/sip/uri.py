"""SIP URIs and the small lexical helpers shared by header parsers (RFC 3261 sec 19.1, 25.1).

Pure functions over `str`; a malformed value raises `SipParseError` (400).
"""

from __future__ import annotations

import ipaddress
import re
import string
from dataclasses import dataclass, field, replace

from carrier.sip.errors import SipParseError

TOKEN_CHARS = frozenset(string.ascii_letters + string.digits + "-.!%*_+`'~")
_SCHEME_CHARS = frozenset(string.ascii_letters + string.digits + "+-.")
_HOST_CHARS = frozenset(string.ascii_letters + string.digits + "-.")
# user / password / param / header characters: unreserved, escaped and the
# user-unreserved / param-unreserved / hnv-unreserved sets, all printable, no space.
_URI_CHARS = frozenset(string.ascii_letters + string.digits + "-_.!~*'()%&=+$,;?/:[]")
WS = " \t"
# Refused anywhere in the header section: C0 controls but HTAB, DEL, C1 controls, and
# the U+DC80-U+DCFF escapes `surrogateescape` gives bytes that are not UTF-8.
_BAD_CHAR = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\udc80-\udcff]")

Params = tuple[tuple[str, str | None], ...]


def is_token(text: str) -> bool:
    return bool(text) and all(ch in TOKEN_CHARS for ch in text)


def is_digits(text: str, max_len: int = 10) -> bool:
    """1*DIGIT in ASCII, at most `max_len` long. `str.isdigit()` also takes superscript
    and Arabic-Indic digits, which `int()` refuses or reads as another number."""
    return 0 < len(text) <= max_len and text.isascii() and text.isdigit()


def text_fault(line: str, *, quoted_pairs: bool = True) -> str | None:
    """Why a line of the header section is refused, or None (RFC 3261 sec 25.1).

    UTF-8 only; a control character only as a quoted-pair ("\\" %x00-7F but CR/LF)
    inside a quoted-string, as RFC 4475's intmeth carries NUL, BEL and DEL.
    """
    if _BAD_CHAR.search(line) is None:
        return None
    if any("\udc80" <= ch <= "\udcff" for ch in line):
        return "header not UTF-8"
    quoted = False
    i = 0
    while i < len(line):
        ch = line[i]
        if quoted and quoted_pairs and ch == "\\" and i + 1 < len(line) and line[i + 1] < "\x80":
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        elif _BAD_CHAR.match(ch):
            return "control character in header"
        i += 1
    return None


def get_param(params: Params, name: str) -> str | None:
    """Value of a parameter (case-insensitive name); '' for a valueless one."""
    lname = name.lower()
    for key, value in params:
        if key.lower() == lname:
            return "" if value is None else value
    return None


def has_param(params: Params, name: str) -> bool:
    lname = name.lower()
    return any(key.lower() == lname for key, _ in params)


def set_param(params: Params, name: str, value: str | None) -> Params:
    lname = name.lower()
    kept = tuple((k, v) for k, v in params if k.lower() != lname)
    return (*kept, (name, value))


def format_params(params: Params) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params)


def scan_quoted(text: str, start: int) -> int:
    """Index just past the quoted-string that opens at `text[start]` (a '"')."""
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == '"':
            return i + 1
        i += 1
    raise SipParseError("unterminated quoted string")


def split_outside(text: str, sep: str) -> list[str]:
    """Split on `sep` where it is not inside a quoted string or <...>."""
    parts: list[str] = []
    depth = 0
    last = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == '"':
            i = scan_quoted(text, i)
            continue
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth = max(depth - 1, 0)
        elif ch == sep and depth == 0:
            parts.append(text[last:i])
            last = i + 1
        i += 1
    parts.append(text[last:])
    return parts


def _uri_chars_ok(text: str) -> bool:
    return bool(text) and all(ch in _URI_CHARS and ch not in ";?" for ch in text)


def parse_params(text: str, *, allow_quoted: bool = True) -> Params:
    """Parse `;a=b;c` (leading ';' already present or not) into pairs; LWS around '=' allowed."""
    if not text.strip():
        return ()
    body = text.strip()
    if body.startswith(";"):
        body = body[1:]
    out: list[tuple[str, str | None]] = []
    for raw in split_outside(body, ";"):
        item = raw.strip(WS)
        if not item:
            raise SipParseError("empty parameter")
        name, eq, value = item.partition("=")
        name = name.strip(WS)
        if not (is_token(name) if allow_quoted else _uri_chars_ok(name)):
            raise SipParseError("bad parameter name")
        if not eq:
            out.append((name, None))
            continue
        value = value.strip(WS)
        if value.startswith('"') and allow_quoted:
            if scan_quoted(value, 0) != len(value):
                raise SipParseError("bad quoted parameter")
        elif not allow_quoted:
            if not value or not _uri_chars_ok(value):
                raise SipParseError("bad parameter value")
        elif not value or not all(ch in TOKEN_CHARS or ch in "[]:" for ch in value):
            raise SipParseError("bad parameter value")
        out.append((name, value))
    return tuple(out)


def unquote(text: str) -> str:
    """The content of a quoted-string with quoted-pairs resolved."""
    inner = text[1:-1]
    out: list[str] = []
    i = 0
    while i < len(inner):
        if inner[i] == "\\" and i + 1 < len(inner):
            out.append(inner[i + 1])
            i += 2
            continue
        out.append(inner[i])
        i += 1
    return "".join(out)


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class URI:
    """A SIP/SIPS URI, or any other absolute URI kept opaque (`opaque` set, `host` empty)."""

    scheme: str
    host: str = ""
    user: str | None = None
    password: str | None = None
    port: int | None = None
    params: Params = ()
    headers: tuple[tuple[str, str], ...] = ()
    opaque: str | None = field(default=None)

    @property
    def is_sip(self) -> bool:
        return self.opaque is None

    def param(self, name: str) -> str | None:
        return get_param(self.params, name)

    def with_params(self, **kv: str | None) -> URI:
        params = self.params
        for key, value in kv.items():
            params = set_param(params, key, value)
        return replace(self, params=params)

    def without_headers(self) -> URI:
        return replace(self, headers=())

    @property
    def transport(self) -> str:
        value = self.param("transport")
        if value:
            return value.upper()
        return "TLS" if self.scheme == "sips" else "UDP"

    @property
    def hostport(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def __str__(self) -> str:
        if self.opaque is not None:
            return f"{self.scheme}:{self.opaque}"
        userinfo = ""
        if self.user is not None:
            userinfo = self.user
            if self.password is not None:
                userinfo += ":" + self.password
            userinfo += "@"
        text = f"{self.scheme}:{userinfo}{self.hostport}{format_params(self.params)}"
        if self.headers:
            text += "?" + "&".join(f"{k}={v}" for k, v in self.headers)
        return text


def _parse_host(text: str) -> tuple[str, int | None]:
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SipParseError("bad IPv6 reference")
        host, rest = text[: end + 1], text[end + 1 :]
        if not all(ch in string.hexdigits + ":." for ch in host[1:-1]) or len(host) < 4:
            raise SipParseError("bad IPv6 reference")
    else:
        host, colon, port_text = text.partition(":")
        rest = colon + port_text
        if not host or not all(ch in _HOST_CHARS for ch in host):
            raise SipParseError("bad host")
    if not rest:
        return host, None
    if not rest.startswith(":") or not is_digits(rest[1:], 5):
        raise SipParseError("bad port")
    port = int(rest[1:])
    if port > 65535:
        raise SipParseError("bad port")
    return host, port


def parse_uri(text: str) -> URI:
    """Parse an absolute URI; sip/sips get full structure, other schemes stay opaque."""
    scheme, colon, rest = text.partition(":")
    if (
        not colon
        or not scheme
        or not scheme[0].isalpha()
        or not all(ch in _SCHEME_CHARS for ch in scheme)
    ):
        raise SipParseError("bad URI scheme")
    scheme = scheme.lower()
    if any(ch in WS or ord(ch) < 0x21 or ch in '<>"' for ch in rest) or not rest:
        raise SipParseError("bad URI")
    if scheme not in ("sip", "sips"):
        return URI(scheme=scheme, opaque=rest)
    if not all(ch in _URI_CHARS or ch == "@" for ch in rest):
        raise SipParseError("bad character in SIP URI")
    user: str | None = None
    password: str | None = None
    if "@" in rest:
        userinfo, _, rest = rest.rpartition("@")
        user, pcolon, pw = userinfo.partition(":")
        password = pw if pcolon else None
        if not user:
            raise SipParseError("empty user in SIP URI")
    hostpart, qmark, header_text = rest.partition("?")
    hostport, _, param_text = hostpart.partition(";")
    host, port = _parse_host(hostport)
    params = parse_params(param_text, allow_quoted=False) if param_text or ";" in hostpart else ()
    if ";" in hostpart and not param_text:
        raise SipParseError("empty URI parameter")
    headers: list[tuple[str, str]] = []
    if qmark:
        for item in header_text.split("&"):
            name, _, value = item.partition("=")
            if not name:
                raise SipParseError("bad URI header")
            headers.append((name, value))
    return URI(
        scheme=scheme,
        host=host,
        user=user,
        password=password,
        port=port,
        params=params,
        headers=tuple(headers),
    )


_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")


def on_this_host(host: str) -> bool:
    """A host only this machine can be, whoever names it: ``localhost``, loopback
    (127/8, ::1, IPv4-mapped too) or "this network" (0/8) but 0.0.0.0 itself, which
    SDP uses for hold (RFC 3264 8.4). From a peer elsewhere such an address is its own
    inside address (a misconfigured SBC, a NAT) and cannot be reached as given."""
    if host.lower() == "localhost":
        return True
    try:
        addr = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if addr.is_unspecified:
        return False
    return addr.is_loopback or (isinstance(addr, ipaddress.IPv4Address)
                                and addr in _THIS_NETWORK)

