"""One call's media leg: the SDP offer/answer, the RTP session and its SRTP keys.

Everything that places or answers a call builds its audio through this class, so the
SDP, the negotiated codec/direction/SRTP keys and the remote address reach the
``media.MediaSession`` the same way everywhere::

    leg = await MediaLeg.open("127.0.0.1", srtp="optional", port_range=(20000, 30000))
    # UAC (we call):                       # UAS (we answer):
    body = leg.offer()                     body = leg.answer(invite_sdp)   # SdpError: refuse
    ...INVITE with body...                 ...200 OK with body...
    leg.accept(answer_sdp)  # SdpError
    # in the call: a re-INVITE/UPDATE with an offer
    body, negotiated = leg.reoffer(offer_sdp)   # answer it with body (hold/resume inside)
    leg.media                              # the MediaSession: inbound(), play(), ...
    await leg.close()                      # playback stopped, RTCP BYE, sockets closed

SRTP (SDES, RFC 4568) is offered or accepted as the ``srtp`` mode says (``off``,
``optional``, ``required``); our key is fresh for every SDP we send.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import secrets
from dataclasses import dataclass

from carrier import metrics
from carrier.health import ComponentHealth
from carrier.media_address import media_target
from carrier.sip.sdp import (
    LocalMedia,
    Negotiated,
    SdpError,
    SessionDescription,
    accept_answer,
    build_answer,
    build_offer,
    parse_sdp,
)
from media.session import MediaSession
from media.srtp import SrtpKey
from media.transport import PORT_RANGE

__all__ = ["MediaLeg", "Negotiated", "PortWatch", "SdpError"]


@dataclass
class PortWatch:
    """The RTP port pairs of a port range as its legs see them, for health: a leg that
    could not get a pair (every call then fails ``no_media_port`` or 503) fails
    ``sip.rtp_ports`` until a pair is opened or freed again."""

    capacity: int  # pairs in the range
    in_use: int = 0
    refused: int = 0  # opens refused since a pair was last opened or freed

    @classmethod
    def of_range(cls, port_range: tuple[int, int]) -> PortWatch:
        return cls(max(0, (port_range[1] - port_range[0]) // 2))

    def health(self) -> ComponentHealth:
        detail = f"{self.in_use} of {self.capacity} RTP port pairs in use by calls"
        if self.refused:
            detail += (f"; {self.refused} refused for want of a free pair since one was"
                       " last opened or freed")
        return ComponentHealth("sip.rtp_ports", not self.refused
                               and self.in_use < self.capacity, detail)


class MediaLeg:
    def __init__(self, media: MediaSession, host: str, *, srtp: str = "off",
                 peer: str | None = None, watch: PortWatch | None = None) -> None:
        """Prefer :meth:`open`; ``media`` must be started."""
        if srtp not in ("off", "optional", "required"):
            raise ValueError("srtp must be off, optional or required")
        self.media = media
        self.host = host
        self.peer = peer
        """The signalling peer's address (the INVITE's source, the trunk's host): an SDP
        address of this host from a peer elsewhere is replaced by it
        (``carrier.media_address``)."""
        self.srtp = srtp
        self.negotiated: Negotiated | None = None
        self.local_sdp: bytes | None = None
        """The last SDP body this leg produced (offer or answer)."""
        self._session_id = secrets.randbelow(1 << 31)
        self._version = 0
        self._offer: SessionDescription | None = None
        self._keys: tuple[SrtpKey, SrtpKey] | None = None  # what the media session has
        self._closed = False
        self._watch = watch
        if watch is not None:
            watch.in_use, watch.refused = watch.in_use + 1, 0

    @classmethod
    async def open(cls, host: str, *, srtp: str = "off",
                   port_range: tuple[int, int] = PORT_RANGE, peer: str | None = None,
                   watch: PortWatch | None = None) -> MediaLeg:
        """Bind an RTP/RTCP port pair on ``host`` within ``port_range`` (start inclusive,
        end exclusive); ``OSError`` when there is no free pair (counted by ``watch``)."""
        media = MediaSession(local_addr=(host, 0), port_range=port_range)
        try:
            await media.start()
        except OSError:
            if watch is not None:
                watch.refused += 1
            raise
        return cls(media, host, srtp=srtp, peer=peer, watch=watch)

    @property
    def closed(self) -> bool:
        return self._closed

    def _local(self) -> LocalMedia:
        return LocalMedia(self.host, self.media.local_addr[1], srtp=self.srtp)

    def _next_version(self) -> int:
        self._version += 1
        return self._version

    def _key(self) -> bytes | None:
        return SrtpKey.generate().master if self.srtp != "off" else None

    # ---- we offer (UAC) ---------------------------------------------------------------

    def offer(self, *, direction: str = "sendrecv") -> bytes:
        """Our offer (an INVITE's body, or a re-INVITE's with ``sendonly`` for hold)."""
        self._offer = build_offer(self._local(), session_id=self._session_id,
                                  version=self._next_version(), direction=direction,
                                  srtp_key=self._key())
        self.local_sdp = self._offer.serialize()
        return self.local_sdp

    def accept(self, answer: bytes | None) -> Negotiated:
        """The peer's answer to our last offer: applied to the media session."""
        if self._offer is None:
            raise RuntimeError("accept() answers an offer() made before")
        return self.apply(accept_answer(self._offer, parse_sdp(answer or b"")))

    # ---- we answer (UAS) --------------------------------------------------------------

    def answer(self, offer: bytes | None) -> bytes:
        """Our answer to the peer's offer (an INVITE's body): applied, and returned to
        send. Raises ``SdpError`` (with the status to refuse with) when it cannot be."""
        return self.reoffer(offer)[0]

    def reoffer(self, offer: bytes | None) -> tuple[bytes, Negotiated]:
        """Answer a (re-)offer; the new codec, direction, keys and address apply at once.
        Our SRTP key stays what it was (RFC 4568 7.1.4), so a re-offer with the peer's key
        unchanged (a session refresh, hold) keeps both SRTP sessions and their counters."""
        ours = self.negotiated.local_crypto if self.negotiated else None
        answer, neg = build_answer(parse_sdp(offer or b""), self._local(),
                                   session_id=self._session_id, version=self._next_version(),
                                   srtp_key=ours.key if ours else SrtpKey.generate().master)
        neg = self.apply(neg)
        self.local_sdp = answer.serialize()
        return self.local_sdp, neg

    # ---- both -------------------------------------------------------------------------

    def apply(self, neg: Negotiated) -> Negotiated:
        """Negotiated codec, direction, SRTP keys and remote address to the session; the
        negotiation as applied is returned (an address of this host from a peer elsewhere
        replaced by the peer's). An address our socket cannot send to (a host name, the
        other IP family) is refused with ``SdpError`` 488 before anything changes."""
        target = media_target(neg.remote_address, self.peer, self.host)
        if target != neg.remote_address:
            neg = dataclasses.replace(neg, remote_address=target)
        self._check_address(neg.remote_address)
        media = self.media
        media.update_remote((neg.remote_address, neg.remote_port))
        media.set_codec(neg.payload_type, neg.dtmf_payload_type)
        media.set_direction(neg.direction)
        keys = None
        if neg.local_crypto is not None and neg.remote_crypto is not None:
            keys = (SrtpKey(neg.local_crypto.suite, neg.local_crypto.key),
                    SrtpKey(neg.remote_crypto.suite, neg.remote_crypto.key))
        if keys != self._keys:  # same keys: same sessions (a new one restarts the ROC at 0)
            media.set_srtp(*(keys or (None, None)))
            self._keys = keys
        self.negotiated = neg
        return neg

    def _check_address(self, address: str) -> None:
        try:
            remote = ipaddress.ip_address(address)
        except ValueError:
            raise SdpError("connection address is not an IP address") from None
        local = ipaddress.ip_address(self.media.local_addr[0])
        if remote.version != local.version:
            raise SdpError(f"connection address is not IPv{local.version}")

    async def close(self) -> None:
        """Stop playback now and free the ports (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._watch is not None:
            self._watch.in_use, self._watch.refused = self._watch.in_use - 1, 0
        stats = self.media.stats()
        if stats.packets_received:  # a call's RTP figures, once, at its end
            metrics.media_stats(stats.packets_received, stats.packets_lost, stats.jitter_ms)
        await self.media.close()  # cancels playback first: nothing queued is sent
