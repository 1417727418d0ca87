"""``media.transport.UdpPort``: the media sockets read straight from the selector, on real
UDP sockets on 127.0.0.1 (no waits: datagrams sent on loopback are queued before the
send call returns, so the test reads them synchronously)."""

from __future__ import annotations

import asyncio
import gc
import socket

from media.transport import GC_YOUNG_THRESHOLD, Pacer, UdpPort, open_endpoint


async def test_each_readiness_reads_one_datagram_in_order() -> None:
    got: list[tuple[bytes, tuple[str, int]]] = []
    port = await open_endpoint("127.0.0.1", 0, lambda data, addr: got.append((data, addr)))
    host, number = port.get_extra_info("sockname")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(("127.0.0.1", 0))
        for i in range(3):
            peer.sendto(i.to_bytes(2, "big"), (host, number))
        port._read()  # what the loop calls when the socket is readable
        assert [int.from_bytes(d, "big") for d, _ in got] == [0]
        assert got[0][1] == peer.getsockname()  # (str host, int port), as the stream expects
        port._read()
        port._read()
        port._read()  # an empty socket just returns
    assert [int.from_bytes(d, "big") for d, _ in got] == [0, 1, 2]
    port.close()
    port.close()  # idempotent
    assert port.is_closing()


async def test_a_refused_send_is_counted_and_dropped_not_raised() -> None:
    port = await open_endpoint("127.0.0.1", 0, lambda data, addr: None)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(("127.0.0.1", 0))
        port.sendto(b"x" * 70_000, peer.getsockname())  # EMSGSIZE: larger than any datagram
        assert port.send_dropped == 1
        port.sendto(b"ok", peer.getsockname())
        assert peer.recv(10) == b"ok"
    port.close()
    port.sendto(b"late", ("127.0.0.1", 9))  # after close: silently nothing
    assert isinstance(port, UdpPort)


async def test_the_first_pacer_freezes_the_start_up_heap() -> None:
    """Full collections during calls must not scan the start-up heap (a 15-20 ms pause at
    300 calls made every session's tick late): it is frozen once media starts."""
    Pacer(asyncio.get_running_loop())
    assert gc.get_freeze_count() > 0
    # and young collections are spaced out (media.transport.tune_gc, tests/media/
    # test_media_gc_tuning.py): the older generations are then rarely collected
    assert gc.get_threshold()[0] >= GC_YOUNG_THRESHOLD


async def test_an_icmp_refusal_on_one_call_s_socket_ends_neither_it_nor_another() -> None:
    """ICMP port unreachable arrives on a UDP socket as ConnectionRefusedError (on the next
    recv or send; here a connected socket, where Linux reports it). The media socket of that
    call keeps reading and sending; another call's socket is untouched."""
    loop = asyncio.get_running_loop()
    got: list[bytes] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as gone:
        gone.bind(("127.0.0.1", 0))
        dead = gone.getsockname()  # a port nobody listens on once closed
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    sock.connect(dead)
    hit = UdpPort(loop, sock, lambda data, addr: got.append(data))
    other_got: list[bytes] = []
    other = await open_endpoint("127.0.0.1", 0, lambda data, addr: other_got.append(data))
    hit.sendto(b"rtp", dead)  # answered by ICMP port unreachable, queued on the socket
    hit._read()  # recv reports ECONNREFUSED: swallowed, the call goes on
    hit.sendto(b"rtp", dead)
    hit.sendto(b"rtp", dead)  # a queued refusal on send: counted and dropped at most
    assert not hit.is_closing()
    assert hit.send_dropped <= 1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.sendto(b"b", other.get_extra_info("sockname"))
        other._read()
        assert other_got == [b"b"]
        other.sendto(b"to-peer", peer.getsockname())
        assert peer.recv(16) == b"to-peer"
    hit.close()
    other.close()
