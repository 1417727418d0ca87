"""SDP audio offer/answer (RFC 3264) with SDES (RFC 4568); the SDP model and parser
are in `carrier.sip.sdp_parse` and re-exported here (`from carrier.sip.sdp import ...`).

Pure: no clock, no randomness. Session ids and SRTP key material are passed in.
Codecs: PCMU (0) and PCMA (8) under those static payload types only (a dynamic or
renamed one is not taken), plus telephone-event (RFC 4733). G.722 is not negotiated: no
maintained G.722 codec is available to the media layer, so G.722 alone gets 488.
Only RTP/AVP and RTP/SAVP (SDES) streams are taken: another protocol (DTLS-SRTP, AVPF,
RTP over TCP) is refused like any stream we cannot use (port 0; 488 when none is left).
Offer/answer refuse with 488 a connection address the media layer cannot use
(`SessionDescription.usable_address`); 0.0.0.0 (RFC 2543 hold, RFC 3264 8.4) is taken
as "send nothing": our answer does not send to it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace

from carrier.sip.sdp_parse import (
    DECIMAL,
    DIRECTIONS,
    MAX_MEDIA,
    MAX_SDP_BYTES,
    SRTP_KEY_LEN,
    SRTP_SUITES,
    STATIC,
    SUPPORTED,
    Crypto,
    Media,
    SdpError,
    SessionDescription,
    parse_sdp,
)

__all__ = [
    "DIRECTIONS", "MAX_MEDIA", "MAX_SDP_BYTES", "SRTP_KEY_LEN", "SRTP_SUITES", "STATIC",
    "SUPPORTED", "Crypto", "LocalMedia", "Media", "Negotiated", "SdpError",
    "SessionDescription", "accept_answer", "build_answer", "build_offer", "parse_sdp",
]

PROTOCOLS = ("RTP/AVP", "RTP/SAVP")  # what the media layer speaks (RTP over UDP, SDES)
_ANSWER_DIRECTION = {"sendrecv": "sendrecv", "sendonly": "recvonly", "recvonly": "sendonly",
                     "inactive": "inactive"}

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
        if not DECIMAL.fullmatch(fmt) or int(fmt) not in rtpmap:
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
    if media.proto.upper() not in PROTOCOLS:  # DTLS, AVPF, TCP...: refused (RFC 3264 6)
        raise SdpError("unsupported transport protocol")
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
    if media.proto.upper() not in PROTOCOLS:  # the answer's m= line is on our protocol
        raise SdpError("answer on another transport protocol")
    rtpmap = media.rtpmap()
    offered = mine.rtpmap()
    pt = next((int(f) for f in media.formats if DECIMAL.fullmatch(f) and int(f) in offered), None)
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
