"""Where a call's RTP goes: the SDP's connection address, checked against the address
the signalling came from (sans-IO, no sockets).

A trunk on another host whose SDP names an address of *this* host (127.0.0.0/8, ::1,
0.0.0.0/8 "this network" other than 0.0.0.0 itself, or our own media address) is
misconfigured - an SBC advertising its inside loopback, a NAT rewriting nothing - or
hostile: it would aim our RTP at a UDP port of our own (another call's port, a local
resolver), and strict latching (``media.latch``) would then refuse the trunk's real
packets, so the call is silent. The address cannot be right, so it is replaced by the
signalling source, as NAT-aware SIP servers do with an SDP address they cannot reach
(Kamailio ``fix_nated_sdp``, FreeSWITCH's NAT handling, Asterisk's ``rtp_symmetric``
sending to where media comes from); RFC 3264 5/6 only asks that media go to the
address the peer meant, which for such a peer is its own host. Media then still
latches to that host only. When the peer has no IP address to stand in (a name, the
other family) the SDP is refused with 488.

Not replaced: 0.0.0.0 / :: (RFC 3264 8.4 hold: nothing is sent), any address from a
peer that is itself on this host, and other addresses (a media server apart from the
SBC is common; private ones may be right on a private trunk)."""

from __future__ import annotations

import ipaddress

from carrier.sip.sdp import SdpError
from carrier.sip.uri import on_this_host

IP = ipaddress.IPv4Address | ipaddress.IPv6Address


def _ip(text: str | None) -> IP | None:
    if not text:
        return None
    try:
        addr = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def _this_host(addr: IP, local: IP | None) -> bool:
    ours = local is not None and not local.is_unspecified and addr == local
    return on_this_host(str(addr)) or ours


def media_target(address: str, peer: str | None, local: str | None = None) -> str:
    """The address to send RTP to for an SDP naming ``address``, whose signalling came
    from ``peer`` (None: unknown, taken as signalled), our media bound on ``local``."""
    addr, ours = _ip(address), _ip(local)
    if peer is None or addr is None or not _this_host(addr, ours):
        return address
    source = _ip("127.0.0.1" if peer == "localhost" else peer)
    if source is not None and (source.is_loopback or source == ours):
        return address  # the peer is on this host too: as signalled
    if source is None or source.version != addr.version:
        raise SdpError("connection address names this host")
    return str(source)
