"""SDP (RFC 4566) parse/serialize and audio offer/answer (RFC 3264), with SDES (RFC 4568).

Pure: no clock, no randomness. Session ids and SRTP key material are passed in.
Codecs: PCMU (0) and PCMA (8) under those static payload types only (a dynamic or
renamed one is not taken), plus telephone-event (RFC 4733). G.722 is not negotiated: no
maintained G.722 codec is available to the media layer, so G.722 alone gets 488.

Hostile input: `parse_sdp` takes UTF-8 without control characters (HTAB aside), ASCII
numbers in range, at most `MAX_SDP_BYTES`; else `SdpError` 400. More than `MAX_MEDIA`
m= lines is well formed but not acceptable here (488). Offer/answer refuse with 488 a
connection address the media layer cannot use: no IP literal (no DNS here), multicast,
reserved, another family than ours. 0.0.0.0 (RFC 2543 hold, RFC 3264 8.4) is taken as
"send nothing": our answer does not send to it.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from dataclasses import dataclass, field, replace

from carrier.sip.errors import SipError

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
_ANSWER_DIRECTION = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}
SRTP_SUITES = ("AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32")
SRTP_KEY_LEN = 30  # 16-byte master key + 14-byte salt for the AES_CM_128 suites

# static payload types we can use, by encoding name (RFC 3551 table 4)
STATIC = {0: ("PCMU", 8000), 8: ("PCMA", 8000), 9: ("G722", 8000)}
SUPPORTED = ("PCMU", "PCMA")
MAX_SDP_BYTES = 16 * 1024  # an audio offer is well under 2 KiB
MAX_MEDIA = 16  # the answer repeats every m= line: bound what we echo
_NUMBER = re.compile(r"[0-9]{1,10}")
# C0 controls but HTAB, DEL and C1 controls (RFC 4566 sec 5: text never holds NUL, CR, LF).
_BAD_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _num(text: str, limit: int, what: str) -> int:
    """An ASCII decimal no larger than `limit` (`str.isdigit` also takes "²")."""
    if not _NUMBER.fullmatch(text) or int(text) > limit:
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
        if len(parts) < 3 or not _NUMBER.fullmatch(parts[0]) or not parts[2].startswith("inline:"):
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
            if _NUMBER.fullmatch(fmt) and int(fmt) in STATIC:
                name, rate = STATIC[int(fmt)]
                out[int(fmt)] = (name, rate, 1)
        for value in self.attrs("rtpmap"):
            pt_text, _, enc = value.partition(" ")
            bits = enc.strip().split("/")
            if len(bits) < 2:
                raise SdpError("bad rtpmap", 400)
            pt = _num(pt_text, 127, "rtpmap")
            rate = _num(bits[1], 1_000_000, "rtpmap")
            channels = int(bits[2]) if len(bits) > 2 and _NUMBER.fullmatch(bits[2]) else 1
            out[pt] = (bits[0], rate, channels)
        return out

    @property
    def ptime(self) -> int | None:
        value = self.attr("ptime")
        return int(value) if value and _NUMBER.fullmatch(value) and 0 < int(value) <= 200 else None

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


# ---- offer / answer ---------------------------------------------------------------------
@dataclass(frozen=True)
class LocalMedia:
    """What our side offers or accepts for audio."""

    address: str
    port: int
    codecs: tuple[str, ...] = SUPPORTED
    telephone_event: bool = True
    ptime: int = 20
    srtp: str = "optional"  # "off" | "optional" | "required"

    def __post_init__(self) -> None:
        if self.srtp not in ("off", "optional", "required"):
            raise ValueError("srtp must be off, optional or required")
        if not set(self.codecs) <= set(SUPPORTED):
            raise ValueError("only PCMU and PCMA are available")


@dataclass(frozen=True)
class Negotiated:
    """The agreed audio stream, as the media layer needs it."""

    remote_address: str
    remote_port: int
    payload_type: int
    codec: str
    clock_rate: int
    dtmf_payload_type: int | None
    ptime: int
    direction: str  # our direction
    local_crypto: Crypto | None = None  # our key (we encrypt with it)
    remote_crypto: Crypto | None = None  # their key (we decrypt with it)

    @property
    def on_hold(self) -> bool:
        # c=0.0.0.0 is the RFC 2543 way to hold, still sent by old equipment.
        hold_address = self.remote_address == "0.0.0.0"  # noqa: S104 - compared, never bound
        return self.direction in ("recvonly", "inactive") or hold_address


def _audio_media(local: LocalMedia, formats: list[tuple[int, str, int]], dtmf_pt: int | None,
                 direction: str, crypto: Crypto | None) -> Media:  # fmt: skip
    proto = "RTP/SAVP" if crypto else "RTP/AVP"
    fmts = [str(pt) for pt, _, _ in formats] + ([str(dtmf_pt)] if dtmf_pt is not None else [])
    attrs: list[tuple[str, str | None]] = [
        ("rtpmap", f"{pt} {name}/{rate}") for pt, name, rate in formats
    ]
    if dtmf_pt is not None:
        attrs += [("rtpmap", f"{dtmf_pt} telephone-event/8000"), ("fmtp", f"{dtmf_pt} 0-16")]
    attrs.append(("ptime", str(local.ptime)))
    if crypto:
        attrs.append(("crypto", str(crypto)))
    attrs.append((direction, None))
    return Media("audio", local.port, proto, fmts, attributes=attrs)


def _origin(session_id: int, version: int, address: str) -> str:
    family = "IP6" if ":" in address else "IP4"
    return f"- {session_id} {version} IN {family} {address}"


def _conn(address: str) -> str:
    return f"IN {'IP6' if ':' in address else 'IP4'} {address}"


def build_offer(local: LocalMedia, *, session_id: int, version: int, direction: str = "sendrecv",
                srtp_key: bytes | None = None) -> SessionDescription:  # fmt: skip
    """An audio offer; `direction="sendonly"` puts the peer on hold (RFC 3264 sec 8.4)."""
    if direction not in DIRECTIONS:
        raise ValueError("bad direction")
    crypto = None
    if local.srtp != "off":
        if srtp_key is None or len(srtp_key) != SRTP_KEY_LEN:
            raise ValueError("SRTP needs 30 bytes of key material")
        crypto = Crypto(1, SRTP_SUITES[0], srtp_key)
    formats = [(pt, name, rate) for pt, (name, rate) in STATIC.items() if name in local.codecs]
    formats.sort(key=lambda f: local.codecs.index(f[1]))
    media = _audio_media(local, formats, 101 if local.telephone_event else None, direction, crypto)
    return SessionDescription(
        origin=_origin(session_id, version, local.address),
        connection=_conn(local.address),
        media=[media],
    )


def _pick_audio(offer: SessionDescription) -> tuple[int, Media]:
    for index, media in enumerate(offer.media):
        if media.kind == "audio" and media.port != 0:
            return index, media
    raise SdpError("no audio stream offered")


def _choose(media: Media, local: LocalMedia) -> tuple[int, str, int, int | None]:
    rtpmap = media.rtpmap()
    chosen: tuple[int, str, int] | None = None
    for fmt in media.formats:  # the offerer's preference order wins (RFC 3264 6.1)
        if not _NUMBER.fullmatch(fmt) or int(fmt) not in rtpmap:
            continue
        name, rate, _ = rtpmap[int(fmt)]  # media plays G.711 by static type only (0, 8)
        if name.upper() in local.codecs and (name.upper(), rate) == STATIC.get(int(fmt)):
            chosen = (int(fmt), name.upper(), rate)
            break
    if chosen is None:
        raise SdpError("no common codec")
    dtmf = next((pt for pt, (n, r, _) in rtpmap.items() if n.lower() == "telephone-event"
                 and r == 8000), None) if local.telephone_event else None  # fmt: skip
    return chosen[0], chosen[1], chosen[2], dtmf


def _take(offer: SessionDescription, media: Media, local: LocalMedia
          ) -> tuple[tuple[int, str, int, int | None], Crypto | None, str]:
    """One audio stream's codec, the peer's SRTP key and address, or `SdpError`."""
    choice, secure = _choose(media, local), media.proto.upper() == "RTP/SAVP"
    if secure != (local.srtp != "off") and local.srtp != "optional":
        raise SdpError("SRTP offered but disabled" if secure else "SRTP required")
    crypto = next((c for c in media.cryptos if c.suite in SRTP_SUITES
                   and len(c.key) == SRTP_KEY_LEN), None)  # fmt: skip
    if secure and crypto is None:
        raise SdpError("no acceptable crypto suite")
    return choice, crypto if secure else None, offer.usable_address(media, local.address)


def _answerable(offer: SessionDescription, local: LocalMedia
                ) -> tuple[int, tuple[int, str, int, int | None], Crypto | None, str]:
    """The first audio stream we can take (RFC 3264 6: each is taken or refused on its
    own, e.g. the RTP/AVP twin of an RTP/SAVP one: "best effort" SRTP); else the first
    one's reason."""
    first: SdpError | None = None
    for index, media in enumerate(offer.media):
        if media.kind == "audio" and media.port != 0:
            try:
                return index, *_take(offer, media, local)
            except SdpError as err:
                first = first or err
    raise first or SdpError("no audio stream offered")


def build_answer(
    offer: SessionDescription,
    local: LocalMedia,
    *,
    session_id: int,
    version: int,
    hold: bool = False,
    srtp_key: bytes | None = None,
) -> tuple[SessionDescription, Negotiated]:
    """Answer an offer (RFC 3264 sec 6): the first audio stream we can take is accepted,
    every other stream refused (port 0)."""
    index, (pt, name, rate, dtmf), remote_crypto, address = _answerable(offer, local)
    media = offer.media[index]
    local_crypto = None
    if remote_crypto is not None:
        if srtp_key is None or len(srtp_key) != SRTP_KEY_LEN:
            raise ValueError("SRTP needs 30 bytes of key material")
        local_crypto = Crypto(remote_crypto.tag, remote_crypto.suite, srtp_key)
    direction = _ANSWER_DIRECTION[media.direction]
    if ipaddress.ip_address(address).is_unspecified:  # we cannot send (RFC 3264 8.4)
        direction = {"sendrecv": "recvonly", "sendonly": "inactive"}.get(direction, direction)
    if hold and direction in ("sendrecv", "sendonly"):
        direction = "sendonly" if direction == "sendrecv" else "inactive"
    ptime = media.ptime or local.ptime
    answer_media = _audio_media(
        replace(local, ptime=ptime), [(pt, name, rate)], dtmf, direction, local_crypto
    )
    answer = SessionDescription(
        origin=_origin(session_id, version, local.address), connection=_conn(local.address)
    )
    for i, m in enumerate(offer.media):
        if i == index:
            answer.media.append(answer_media)
        else:
            answer.media.append(Media(m.kind, 0, m.proto, m.formats[:1]))
    negotiated = Negotiated(
        remote_address=address,
        remote_port=media.port,
        payload_type=pt,
        codec=name,
        clock_rate=rate,
        dtmf_payload_type=dtmf,
        ptime=ptime,
        direction=direction,
        local_crypto=local_crypto,
        remote_crypto=remote_crypto,
    )
    return answer, negotiated


def accept_answer(offer: SessionDescription, answer: SessionDescription) -> Negotiated:
    """Read the peer's answer to our offer (UAC side)."""
    _, media = _pick_audio(answer)
    mine = _pick_audio(offer)[1]
    rtpmap = media.rtpmap()
    offered = mine.rtpmap()
    pt = next((int(f) for f in media.formats if _NUMBER.fullmatch(f) and int(f) in offered), None)
    if pt is None or rtpmap.get(pt, offered[pt])[0].lower() == "telephone-event":
        raise SdpError("answer has no codec we offered")
    name, rate, _ = offered[pt]
    dtmf = next((p for p, (n, _, _) in rtpmap.items() if n.lower() == "telephone-event"), None)
    local_crypto = remote_crypto = None
    if media.proto.upper() == "RTP/SAVP":
        remote_crypto = next(iter(media.cryptos), None)
        local_crypto = next(
            (c for c in mine.cryptos if remote_crypto and c.tag == remote_crypto.tag), None
        )
        if remote_crypto is None or local_crypto is None:
            raise SdpError("answer crypto does not match the offer")
    mine_address = offer.address_for(mine)
    address = answer.usable_address(media, mine_address or "0.0.0.0")  # noqa: S104 - a family
    return Negotiated(
        remote_address=address,
        remote_port=media.port,
        payload_type=pt,
        codec=name.upper(),
        clock_rate=rate,
        dtmf_payload_type=dtmf,
        ptime=media.ptime or mine.ptime or 20,
        direction=_ANSWER_DIRECTION[media.direction],
        local_crypto=local_crypto,
        remote_crypto=remote_crypto,
    )
