"""Datagrams addressed to a host name (a trunk configured by name, a peer's Contact naming
a host) are sent after a lookup off the event loop, cached (carrier.sip.names).

Before: `UdpProtocol.send` handed the name to `sendto`, which resolves it inside the call:
every BYE, ACK, retransmission and refresh to such a peer blocked the event loop (every
call of the process) for the whole DNS lookup; a peer could pick a slow name on purpose."""

from __future__ import annotations

import asyncio
import socket

from carrier.sip.names import NameCache
from carrier.sip.transport import UdpProtocol


class Receiver(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.got: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.got.put_nowait(data)


async def sockets(names: NameCache | None):  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    rx_t, rx = await loop.create_datagram_endpoint(Receiver, local_addr=("127.0.0.1", 0),
                                                   family=socket.AF_INET)  # fmt: skip
    tx_t, tx = await loop.create_datagram_endpoint(lambda: UdpProtocol(lambda d, s: None, names),
                                                   local_addr=("127.0.0.1", 0),
                                                   family=socket.AF_INET)  # fmt: skip
    return rx_t, rx, tx_t, tx


async def test_a_name_is_looked_up_once_off_the_loop_and_held_datagrams_go_in_order() -> None:
    asked: list[str] = []
    release = asyncio.Event()

    async def resolve(host: str, family: int) -> str:
        asked.append(host)
        await release.wait()  # a slow DNS server: the loop runs on meanwhile
        return "127.0.0.1"

    rx_t, rx, tx_t, tx = await sockets(NameCache(resolve=resolve))
    port = rx_t.get_extra_info("sockname")[1]
    try:
        for i in range(3):
            tx.send(f"m{i}".encode(), "sbc.trunk.test", port)
        await asyncio.sleep(0)
        assert rx.got.empty()  # held while the lookup runs, and send() returned at once
        release.set()
        got = [await asyncio.wait_for(rx.got.get(), 5) for _ in range(3)]
        assert got == [b"m0", b"m1", b"m2"]
        tx.send(b"m3", "sbc.trunk.test", port)  # known now: sent at once
        assert await asyncio.wait_for(rx.got.get(), 5) == b"m3"
        assert asked == ["sbc.trunk.test"]
    finally:
        tx_t.close()
        rx_t.close()


async def test_a_name_that_does_not_resolve_drops_its_datagrams_and_is_not_asked_again() -> None:
    asked: list[str] = []

    async def resolve(host: str, family: int) -> str:
        asked.append(host)
        raise socket.gaierror("no such name")

    rx_t, rx, tx_t, tx = await sockets(NameCache(resolve=resolve))
    port = rx_t.get_extra_info("sockname")[1]
    try:
        tx.send(b"lost", "nowhere.invalid", port)
        for _ in range(3):
            await asyncio.sleep(0)
        tx.send(b"lost again", "nowhere.invalid", port)
        tx.send(b"ip", "127.0.0.1", port)  # other destinations are served
        assert await asyncio.wait_for(rx.got.get(), 5) == b"ip"
        assert asked == ["nowhere.invalid"]
    finally:
        tx_t.close()
        rx_t.close()


async def test_the_system_resolver_is_used_by_default() -> None:
    rx_t, rx, tx_t, tx = await sockets(None)
    port = rx_t.get_extra_info("sockname")[1]
    try:
        tx.send(b"by name", "localhost", port)
        assert await asyncio.wait_for(rx.got.get(), 5) == b"by name"
    finally:
        tx_t.close()
        rx_t.close()
