"""SDP (RFC 4566) text <-> `SessionDescription`, and SDES `a=crypto` lines (RFC 4568).

Pure: no clock, no randomness. The offer/answer side (RFC 3264) is `carrier.sip.sdp`,
which re-exports everything here.

Hostile input: `parse_sdp` takes UTF-8 without control characters (HTAB aside), ASCII
numbers in range, at most `MAX_SDP_BYTES`; else `SdpError` 400. More than `MAX_MEDIA`
m= lines is well formed but not acceptable here (488). `usable_address` refuses with 488
a connection address the media layer cannot use: no IP literal (no DNS here), multicast,
reserved, another family than ours. 0.0.0.0 (RFC 2543 hold, RFC 3264 8.4) is taken as
"send nothing".
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from dataclasses import dataclass, field

from carrier.sip.errors import SipError

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
SRTP_SUITES = ("AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32")
SRTP_KEY_LEN = 30  # 16-byte master key + 14-byte salt for the AES_CM_128 suites

# static payload types we can use, by encoding name (RFC 3551 table 4)
STATIC = {0: ("PCMU", 8000), 8: ("PCMA", 8000), 9: ("G722", 8000)}
SUPPORTED = ("PCMU", "PCMA")
MAX_SDP_BYTES = 16 * 1024  # an audio offer is well under 2 KiB
MAX_MEDIA = 16  # the answer repeats every m= line: bound what we echo
DECIMAL = re.compile(r"[0-9]{1,10}")  # an ASCII number (`str.isdigit` takes "²")
# C0 controls but HTAB, DEL and C1 controls (RFC 4566 sec 5: text never holds NUL, CR, LF).
_BAD_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _num(text: str, limit: int, what: str) -> int:
    """An ASCII decimal no larger than `limit` (`str.isdigit` also takes "²")."""
    if not DECIMAL.fullmatch(text) or int(text) > limit:
        raise SdpError(f"bad {what}", 400)
    return int(text)


class SdpError(SipError, ValueError):
    """An SDP we cannot parse or accept; `status_code` is the SIP answer (400 or 488)."""

    def __init__(self, reason: str, status_code: int = 488) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code


@dataclass(frozen=True)
class Crypto:
    """One `a=crypto` line (RFC 4568 sec 9.1) with a single inline key."""

    tag: int
    suite: str
    key: bytes  # master key || master salt
    lifetime: str | None = None
    mki: str | None = None

    def __str__(self) -> str:
        inline = "inline:" + base64.b64encode(self.key).decode()
        if self.lifetime:
            inline += "|" + self.lifetime
        if self.mki:
            inline += "|" + self.mki
        return f"{self.tag} {self.suite} {inline}"

    @classmethod
    def parse(cls, value: str) -> Crypto:
        parts = value.split()
        if len(parts) < 3 or not DECIMAL.fullmatch(parts[0]) or not parts[2].startswith("inline:"):
            raise SdpError("bad crypto attribute", 400)
        key_text, *extra = parts[2][len("inline:") :].split("|")
        try:
            key = base64.b64decode(key_text, validate=True)
        except (binascii.Error, ValueError) as err:
            raise SdpError("bad crypto key", 400) from err
        lifetime = next((e for e in extra if ":" not in e), None)
        mki = next((e for e in extra if ":" in e), None)
        return cls(int(parts[0]), parts[1], key, lifetime, mki)


@dataclass
class Media:
    """One m= section."""

    kind: str
    port: int
    proto: str
    formats: list[str]
    connection: str | None = None
    attributes: list[tuple[str, str | None]] = field(default_factory=list)
    bandwidth: list[str] = field(default_factory=list)

    def attr(self, name: str) -> str | None:
        for key, value in self.attributes:
            if key == name:
                return "" if value is None else value
        return None

    def attrs(self, name: str) -> list[str]:
        return [v or "" for k, v in self.attributes if k == name]

    @property
    def direction(self) -> str:
        for key, _ in self.attributes:
            if key in DIRECTIONS:
                return key
        return "sendrecv"

    def rtpmap(self) -> dict[int, tuple[str, int, int]]:
        """payload type -> (encoding name, clock rate, channels), static ones included."""
        out: dict[int, tuple[str, int, int]] = {}
        for fmt in self.formats:
            if DECIMAL.fullmatch(fmt) and int(fmt) in STATIC:
                name, rate = STATIC[int(fmt)]
                out[int(fmt)] = (name, rate, 1)
        for value in self.attrs("rtpmap"):
            pt_text, _, enc = value.partition(" ")
            bits = enc.strip().split("/")
            if len(bits) < 2:
                raise SdpError("bad rtpmap", 400)
            pt = _num(pt_text, 127, "rtpmap")
            rate = _num(bits[1], 1_000_000, "rtpmap")
            channels = int(bits[2]) if len(bits) > 2 and DECIMAL.fullmatch(bits[2]) else 1
            out[pt] = (bits[0], rate, channels)
        return out

    @property
    def ptime(self) -> int | None:
        value = self.attr("ptime")
        return int(value) if value and DECIMAL.fullmatch(value) and 0 < int(value) <= 200 else None

    @property
    def cryptos(self) -> list[Crypto]:
        return [Crypto.parse(v) for v in self.attrs("crypto")]


@dataclass
class SessionDescription:
    origin: str = "- 0 0 IN IP4 0.0.0.0"
    name: str = "-"
    connection: str | None = None
    timing: str = "0 0"
    attributes: list[tuple[str, str | None]] = field(default_factory=list)
    media: list[Media] = field(default_factory=list)
    bandwidth: list[str] = field(default_factory=list)

    def serialize(self) -> bytes:
        lines = ["v=0", f"o={self.origin}", f"s={self.name}"]
        if self.connection:
            lines.append(f"c={self.connection}")
        lines += [f"b={b}" for b in self.bandwidth]
        lines.append(f"t={self.timing}")
        lines += [_attr_line(k, v) for k, v in self.attributes]
        for m in self.media:
            lines.append(f"m={m.kind} {m.port} {m.proto} {' '.join(m.formats)}")
            if m.connection:
                lines.append(f"c={m.connection}")
            lines += [f"b={b}" for b in m.bandwidth]
            lines += [_attr_line(k, v) for k, v in m.attributes]
        return ("\r\n".join(lines) + "\r\n").encode()

    def address_for(self, media: Media) -> str | None:
        conn = media.connection or self.connection
        if conn is None:
            return None
        parts = conn.split()
        if len(parts) != 3 or parts[0] != "IN":
            raise SdpError("bad connection line", 400)
        return parts[2].split("/")[0]

    def usable_address(self, media: Media, local_address: str) -> str:
        """The address to send `media` to, or `SdpError` 488 when the media layer cannot
        use it (see the module docstring); 400 when there is none."""
        conn = media.connection or self.connection
        if conn is None:
            raise SdpError("no connection address", 400)
        parts = conn.split()
        if len(parts) != 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
            raise SdpError("unusable connection address")
        addr = _ip(parts[2])  # refuses "/ttl", a zone and hostnames
        if addr is None:
            raise SdpError("unusable connection address")
        ours = _ip(local_address.strip("[]"))
        if parts[1] != f"IP{addr.version}" or (ours is not None and ours.version != addr.version):
            raise SdpError("connection address of another family")
        if addr.is_multicast or addr.is_reserved:  # 255.255.255.255 is in 240/4, reserved
            raise SdpError("connection address is multicast or reserved")
        return str(addr)  # 0.0.0.0 / :: taken (RFC 3264 8.4): nothing is sent to it


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An IP literal without a zone, or None (a hostname, "/ttl", junk)."""
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    return None if getattr(addr, "scope_id", None) is not None else addr


def _attr_line(key: str, value: str | None) -> str:
    return f"a={key}" if value is None else f"a={key}:{value}"


def _text(data: bytes | str) -> str:
    if len(data) > MAX_SDP_BYTES:
        raise SdpError("SDP too large", 400)
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as err:
        raise SdpError("SDP not UTF-8", 400) from err
    if _BAD_CHAR.search(text) is not None or "\r" in text.replace("\r\n", ""):
        raise SdpError("control character in SDP", 400)
    return text


def parse_sdp(data: bytes | str) -> SessionDescription:  # noqa: PLR0912 - one branch per line type
    text = _text(data)
    sdp = SessionDescription()
    current: Media | None = None
    seen_version = False
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.rstrip("\r")
        if not line:
            continue
        if len(line) < 2 or line[1] != "=":
            raise SdpError("bad SDP line", 400)
        kind, value = line[0], line[2:]
        if kind == "v":
            seen_version = value == "0"
        elif kind == "m":
            parts = value.split()
            if len(parts) < 4:
                raise SdpError("bad m= line", 400)
            if len(sdp.media) >= MAX_MEDIA:  # well formed, more than we answer: 488
                raise SdpError("too many media streams")
            port_text, slash, count = parts[1].partition("/")
            port = _num(port_text, 65535, "m= port")
            if slash:
                _num(count, 65535, "m= port count")
            current = Media(parts[0], port, parts[2], parts[3:])
            sdp.media.append(current)
        elif kind == "a":
            name, colon, attr_value = value.partition(":")
            pair = (name, attr_value if colon else None)
            (current.attributes if current else sdp.attributes).append(pair)
        elif kind == "c":
            if current is None:
                sdp.connection = value
            else:
                current.connection = value
        elif kind == "b":
            (current.bandwidth if current else sdp.bandwidth).append(value)
        elif current is None and kind == "o":
            sdp.origin = value
        elif current is None and kind == "s":
            sdp.name = value
        elif current is None and kind == "t":
            sdp.timing = value
    if not seen_version:
        raise SdpError("missing v=0", 400)
    return sdp
