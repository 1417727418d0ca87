"""Host names a datagram is addressed to, resolved off the event loop (asyncio edge).

`socket.sendto((name, port))` resolves the name inside the call, blocking the event loop
for the whole lookup, for every datagram: a peer whose Contact names a slow or dead DNS
name (a misconfigured trunk, or one chosen to) stalled every call of the process on each
BYE, ACK and refresh sent to it. `NameCache.send_to` resolves through `loop.getaddrinfo`
(the default executor) once per `TTL_S`, holds the datagrams for a name while its lookup
runs and sends them in order; a name that does not resolve drops them (the transaction
timers report the loss as for any lost datagram) and is not asked again for `FAIL_TTL_S`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

TTL_S = 300.0
FAIL_TTL_S = 30.0
MAX_HELD = 64  # datagrams held per name while its lookup runs
Resolve = Callable[[str, int], Awaitable[str]]
Send = Callable[[bytes, tuple[str, int]], None]


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def system_resolve(host: str, family: int) -> str:
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, family=family,
                                                         type=socket.SOCK_DGRAM)  # fmt: skip
    if not infos:
        raise OSError("no address")
    return str(infos[0][4][0])


class NameCache:
    def __init__(self, family: int = socket.AF_INET, resolve: Resolve | None = None) -> None:
        self.family = family
        self._resolve = resolve or system_resolve
        self._known: dict[str, tuple[str | None, float]] = {}  # name -> (address, until)
        self._held: dict[str, list[tuple[bytes, int, Send]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def send_to(self, data: bytes, host: str, port: int, send: Send) -> None:
        """`send(data, (address, port))` now for an IP literal or a name known, else
        once the name is resolved."""
        if is_ip(host):
            send(data, (host, port))
            return
        loop = asyncio.get_running_loop()
        known = self._known.get(host)
        if known is not None and known[1] > loop.time():
            if known[0] is not None:
                send(data, (known[0], port))
            return
        held = self._held.get(host)
        if held is not None:
            if len(held) < MAX_HELD:
                held.append((data, port, send))
            return
        self._held[host] = [(data, port, send)]
        task = loop.create_task(self._lookup(host))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _lookup(self, host: str) -> None:
        loop = asyncio.get_running_loop()
        try:
            address: str | None = await self._resolve(host, self.family)
        except OSError as err:
            log.info("sip destination name did not resolve: %s", type(err).__name__)
            address = None
        self._known[host] = (address, loop.time() + (TTL_S if address else FAIL_TTL_S))
        for data, port, send in self._held.pop(host, []):
            if address is not None:
                send(data, (address, port))

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
