"""Which source address a call's RTP is taken from (strict RTP), sans-IO.

Plain RTP has no authentication, so the source address is all there is to tell the
peer's packets from anyone else's. The rule (after Asterisk's ``strictrtp``):

* Only the host the SDP signalled may send the call's audio. Before any packet arrived
  the first valid packet from that host (any port: a NAT may rewrite it) latches the
  stream there, and our packets go back to that address (symmetric RTP, RFC 4961).
* Once latched, another port of the signalled host takes over only after a run of
  ``PROBATION`` valid packets (one SSRC, consecutive sequence numbers); the packets of
  the run are not played.
* A packet from any other host is refused, before latching, during silence, always.
* A new SDP address (re-INVITE) starts the rule again from that address.
* An unspecified address (c=0.0.0.0 or ::, RFC 3264 8.4) is no target: nothing is sent
  to it (the kernel would deliver it to this host), and no host may latch meanwhile.

With no signalled address (a session built without one) the first valid source is
taken as if it had been signalled.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

Address = tuple[str, int]

PROBATION = 4  # consecutive packets from a new port of the signalled host before a switch


@dataclass(slots=True)
class _Candidate:
    addr: Address
    ssrc: int
    seq: int
    count: int


class SourceLatch:
    def __init__(self, signalled: Address | None) -> None:
        self.signalled: Address | None = None
        self.target: Address | None = None
        """Where our RTP goes: the signalled address until a source latched, then it."""
        self.latched = False
        self._candidate: _Candidate | None = None
        self.signal(signalled)

    def signal(self, addr: Address | None) -> None:
        """A (new) address from the SDP; latching starts again from it."""
        self.signalled = addr
        self.target = None if addr is None or unspecified(addr[0]) else addr
        self.latched = False
        self._candidate = None

    def allows_host(self, addr: Address) -> bool:
        """Cheap first check, before a packet is parsed or decrypted."""
        return self.signalled is None or addr[0] == self.signalled[0]

    def accept(self, addr: Address, ssrc: int, seq: int) -> bool:
        """A valid packet (parsed, authenticated, a negotiated payload type) from
        ``addr``: True when it belongs to the call's stream (play it)."""
        if not self.allows_host(addr):
            return False
        if not self.latched:
            self._latch(addr)
            return True
        if addr == self.target:
            self._candidate = None
            return True
        cand = self._candidate
        if cand is not None and cand.addr == addr and cand.ssrc == ssrc and (
            seq == (cand.seq + 1) & 0xFFFF
        ):
            cand.seq = seq
            cand.count += 1
        else:
            cand = self._candidate = _Candidate(addr, ssrc, seq, 1)
        if cand.count >= PROBATION:
            self._latch(addr)
            return True
        return False

    def _latch(self, addr: Address) -> None:
        if self.signalled is None:
            self.signalled = addr
        self.target = addr
        self.latched = True
        self._candidate = None


def unspecified(host: str) -> bool:
    """0.0.0.0 or :: : "send nothing" in SDP (RFC 3264 8.4), never a destination."""
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def rtcp_of(addr: Address | None) -> Address | None:
    """Where the RTCP of an RTP address goes (RFC 3550: the next port), or None: no
    address, an unspecified one, or RTP on port 65535 (no next port)."""
    if addr is None or unspecified(addr[0]) or addr[1] >= 0xFFFF:
        return None
    return addr[0], addr[1] + 1
