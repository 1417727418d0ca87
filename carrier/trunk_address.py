"""Trunk host names to IP addresses, resolved off the event loop and cached.

A trunk configured by name (``host: sbc.carrier.example``) is resolved here, once at
start and again when the cached answer is older than ``ttl_s``, never per packet: the
INVITE then goes to that address (the name stays in the Request-URI), and the call's
media leg takes it as the signalling peer, so a loopback SDP address from a trunk
elsewhere is replaced by it exactly as for a trunk configured by IP
(``carrier.media_address``). Before, the name went down to ``socket.sendto`` (a
blocking lookup in the event loop for every datagram) and the media leg could not
stand the name in for a loopback SDP address: 488 on every answered call.
A lookup that fails keeps the last address known; with none, the dial fails.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Awaitable, Callable, Iterable

Resolve = Callable[[str], Awaitable[str]]
TTL_S = 300.0


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def uri_host(address: str) -> str:
    """``address`` as the host part of a SIP URI (IPv6 in brackets)."""
    return f"[{address}]" if ":" in address and not address.startswith("[") else address


def system_resolver(family: int = socket.AF_INET) -> Resolve:
    """The system's resolver (``/etc/hosts``, DNS) through ``loop.getaddrinfo``, which
    runs in the default executor: the event loop goes on meanwhile."""

    async def resolve(host: str) -> str:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, None, family=family, type=socket.SOCK_DGRAM)
        if not infos:
            raise OSError(f"no address of family {family}")
        return str(infos[0][4][0])

    return resolve


class TrunkAddresses:
    def __init__(self, resolve: Resolve | None = None, *, ttl_s: float = TTL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._resolve = resolve or system_resolver()
        self.ttl_s = ttl_s
        self._clock = clock
        self._cache: dict[str, tuple[str, float]] = {}

    async def address(self, host: str) -> str | None:
        """The IP address to reach ``host`` at (an IP literal is its own), or None when
        the name has never resolved."""
        if is_ip(host):
            return host.strip("[]")
        now = self._clock()
        known = self._cache.get(host)
        if known is not None and known[1] > now:
            return known[0]
        try:
            found = await self._resolve(host)
        except OSError:  # socket.gaierror included: keep serving the last answer
            return None if known is None else known[0]
        self._cache[host] = (found, now + self.ttl_s)
        return found

    async def warm(self, hosts: Iterable[str]) -> dict[str, str | None]:
        """Resolve every trunk's host at start; what each gave (None: not resolved)."""
        return {host: await self.address(host) for host in dict.fromkeys(hosts)}
