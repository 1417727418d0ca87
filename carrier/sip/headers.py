"""Typed SIP header values: name-addr, Via, CSeq (RFC 3261 sec 20, 25.1), and header names.

Each type has `parse(text)` and `__str__` (serialize); malformed input raises
`SipParseError` with status 400.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from carrier.sip.errors import SipParseError
from carrier.sip.uri import (
    URI,
    WS,
    Params,
    format_params,
    get_param,
    is_digits,
    is_token,
    parse_params,
    parse_uri,
    quote,
    scan_quoted,
    set_param,
    split_outside,
    unquote,
)

# RFC 3261 sec 7.3.3 and later extensions (RFC 3265, 3515, 3892, 3841, 4028, 8224).
COMPACT_FORMS = {
    "i": "Call-ID",
    "m": "Contact",
    "e": "Content-Encoding",
    "l": "Content-Length",
    "c": "Content-Type",
    "f": "From",
    "s": "Subject",
    "k": "Supported",
    "t": "To",
    "v": "Via",
    "o": "Event",
    "u": "Allow-Events",
    "r": "Refer-To",
    "b": "Referred-By",
    "x": "Session-Expires",
    "y": "Identity",
    "a": "Accept-Contact",
    "j": "Reject-Contact",
    "d": "Request-Disposition",
    "n": "Identity-Info",
}

_KNOWN = [
    "Accept",
    "Accept-Encoding",
    "Accept-Language",
    "Alert-Info",
    "Allow",
    "Authentication-Info",
    "Authorization",
    "Call-ID",
    "Call-Info",
    "Contact",
    "Content-Disposition",
    "Content-Encoding",
    "Content-Language",
    "Content-Length",
    "Content-Type",
    "CSeq",
    "Date",
    "Error-Info",
    "Expires",
    "From",
    "In-Reply-To",
    "Max-Forwards",
    "MIME-Version",
    "Min-Expires",
    "Min-SE",
    "Organization",
    "P-Asserted-Identity",
    "Priority",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Proxy-Require",
    "RAck",
    "Reason",
    "Record-Route",
    "Refer-To",
    "Referred-By",
    "Replaces",
    "Reply-To",
    "Require",
    "Retry-After",
    "Route",
    "RSeq",
    "Server",
    "Session-Expires",
    "Subject",
    "Subscription-State",
    "Supported",
    "Timestamp",
    "To",
    "Unsupported",
    "User-Agent",
    "Via",
    "Warning",
    "WWW-Authenticate",
    "Event",
    "Allow-Events",
    "Identity",
    "Identity-Info",
    "Accept-Contact",
    "Reject-Contact",
    "Request-Disposition",
    "Privacy",
]
_CANONICAL = {name.lower(): name for name in _KNOWN}
_CANONICAL.update({short: long for short, long in COMPACT_FORMS.items()})

# Header fields whose value is a comma-separated list (RFC 3261 sec 7.3.1). The
# authentication headers and Date are deliberately absent: commas are part of one value.
LIST_HEADERS = frozenset(
    {
        "Accept",
        "Accept-Encoding",
        "Accept-Language",
        "Alert-Info",
        "Allow",
        "Call-Info",
        "Contact",
        "Content-Encoding",
        "Content-Language",
        "Error-Info",
        "In-Reply-To",
        "Proxy-Require",
        "Reason",
        "Record-Route",
        "Require",
        "Route",
        "Supported",
        "Unsupported",
        "Via",
        "Warning",
        "Allow-Events",
        "P-Asserted-Identity",
        "Privacy",
        "Identity",
    }
)


def canonical_name(name: str) -> str:
    """Long canonical form of a header name; unknown names keep their spelling."""
    return _CANONICAL.get(name.lower(), name)


@dataclass(frozen=True)
class NameAddr:
    """`[display-name] <uri> *(;param)` or a bare addr-spec (RFC 3261 sec 20.10, 25.1)."""

    uri: URI
    display: str | None = None
    params: Params = ()

    @property
    def tag(self) -> str | None:
        return get_param(self.params, "tag")

    def param(self, name: str) -> str | None:
        return get_param(self.params, name)

    def with_param(self, name: str, value: str | None) -> NameAddr:
        return replace(self, params=set_param(self.params, name, value))

    def with_tag(self, tag: str) -> NameAddr:
        return self.with_param("tag", tag)

    def __str__(self) -> str:
        display = ""
        if self.display is not None:
            display = quote(self.display) + " "
        return f"{display}<{self.uri}>{format_params(self.params)}"

    @classmethod
    def parse(cls, text: str) -> NameAddr:
        value = text.strip(WS)
        if not value:
            raise SipParseError("empty address")
        display: str | None = None
        if value.startswith('"'):
            end = scan_quoted(value, 0)
            display = unquote(value[:end])
            rest = value[end:].lstrip(WS)
            if not rest.startswith("<"):
                raise SipParseError("display name without <uri>")
            return cls._angle(rest, display)
        lt = value.find("<")
        if lt >= 0:
            words = value[:lt].split()
            # Unquoted UTF-8 names are common in the field; separators stay refused.
            if not all(is_token("".join("x" if ord(c) > 127 else c for c in w)) for w in words):
                raise SipParseError("bad display name")
            display = " ".join(words) if words else None
            return cls._angle(value[lt:], display)
        # addr-spec without <>: its parameters belong to the header, and a URI with
        # a '?' or ',' must be enclosed (RFC 3261 sec 20).
        uri_text, semi, param_text = value.partition(";")
        uri_text = uri_text.strip(WS)
        if "?" in uri_text or "," in uri_text:
            raise SipParseError("URI with headers must be in <>")
        return cls(uri=parse_uri(uri_text), params=parse_params(param_text) if semi else ())

    @classmethod
    def _angle(cls, text: str, display: str | None) -> NameAddr:
        gt = text.find(">")
        if gt < 0:
            raise SipParseError("unterminated <uri>")
        inner = text[1:gt]
        if inner != inner.strip(WS) or not inner:
            raise SipParseError("whitespace inside <uri>")
        rest = text[gt + 1 :].strip(WS)
        if rest and not rest.startswith(";"):
            raise SipParseError("junk after <uri>")
        return cls(uri=parse_uri(inner), display=display, params=parse_params(rest))


@dataclass(frozen=True)
class Via:
    """One Via value: `SIP/2.0/UDP host[:port];branch=...` (RFC 3261 sec 20.42, RFC 3581)."""

    transport: str
    host: str
    port: int | None = None
    params: Params = ()
    protocol: str = "SIP/2.0"

    @property
    def branch(self) -> str | None:
        return get_param(self.params, "branch")

    @property
    def received(self) -> str | None:
        return get_param(self.params, "received")

    @property
    def rport(self) -> int | None:
        value = get_param(self.params, "rport")
        return int(value) if value and is_digits(value, 5) else None

    @property
    def has_rport(self) -> bool:
        return get_param(self.params, "rport") is not None

    def param(self, name: str) -> str | None:
        return get_param(self.params, name)

    def with_param(self, name: str, value: str | None) -> Via:
        return replace(self, params=set_param(self.params, name, value))

    @property
    def sent_by(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.protocol}/{self.transport} {self.sent_by}{format_params(self.params)}"

    @classmethod
    def parse(cls, text: str) -> Via:
        value = text.strip(WS)
        parts = value.split("/", 2)
        if len(parts) != 3:
            raise SipParseError("bad Via protocol")
        name, version = parts[0].strip(WS), parts[1].strip(WS)
        rest = parts[2].lstrip(WS)
        if not is_token(name) or not is_token(version):
            raise SipParseError("bad Via protocol")
        words = rest.split(None, 1)
        if len(words) != 2:
            raise SipParseError("bad Via sent-by")
        transport, sent = words[0], words[1]
        if not is_token(transport):
            raise SipParseError("bad Via transport")
        sent_by, semi, param_text = sent.partition(";")
        sent_by = _COLON_LWS.sub(":", sent_by.strip(WS))
        if any(ch in WS for ch in sent_by):
            raise SipParseError("bad Via sent-by")
        host_uri = parse_uri("sip:" + sent_by)
        if host_uri.user is not None or host_uri.params or host_uri.headers:
            raise SipParseError("bad Via sent-by")
        params = parse_params(param_text) if semi else ()
        if semi and not params:
            raise SipParseError("empty Via parameter")
        return cls(
            transport=transport.upper(),
            host=host_uri.host,
            port=host_uri.port,
            params=params,
            protocol=f"{name.upper()}/{version}",
        )


_COLON_LWS = re.compile(r"[ \t]*:[ \t]*")
CSEQ_MAX = 2**31 - 1


@dataclass(frozen=True)
class CSeq:
    seq: int
    method: str

    def __post_init__(self) -> None:
        if not 0 <= self.seq <= CSEQ_MAX or not is_token(self.method):
            raise SipParseError("bad CSeq")

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"

    @classmethod
    def parse(cls, text: str) -> CSeq:
        words = text.split()
        if len(words) != 2 or not is_digits(words[0]):
            raise SipParseError("bad CSeq")
        return cls(int(words[0]), words[1])


def split_list(value: str) -> list[str]:
    """Comma-separated values, respecting quotes and <>; empty elements are an error."""
    items = [item.strip(WS) for item in split_outside(value, ",")]
    if any(not item for item in items):
        raise SipParseError("empty list element")
    return items


def parse_token_list(value: str) -> list[str]:
    """Option tags / methods (Require, Supported, Allow...)."""
    if not value.strip():
        return []
    items = split_list(value)
    if not all(is_token(item) for item in items):
        raise SipParseError("bad token list")
    return items
