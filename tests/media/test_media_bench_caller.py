"""bench/media_caller's schedule on a controlled clock and a recording socket (no network)."""

from __future__ import annotations

import struct

import pytest

from bench.media_caller import PERIOD, Caller

SLOTS = 10

START = 1000.0
SLOT = PERIOD / SLOTS


class Recorder:
    """Stands in for the UDP socket: keeps (packet, address); refuses ``refused`` ports."""

    def __init__(self, refused: frozenset[int] = frozenset()) -> None:
        self.sent: list[tuple[bytes, tuple[str, int]]] = []
        self.refused = refused

    def sendto(self, data: bytes, addr: tuple[str, int]) -> int:
        if addr[1] in self.refused:
            raise ConnectionRefusedError
        self.sent.append((data, addr))
        return len(data)


def caller(sock: Recorder, ports: range) -> Caller:
    c = Caller(sock, [bytes([i]) * 160 for i in range(50)], START, SLOTS)  # type: ignore[arg-type]
    c.add(list(ports))
    return c


def header(packet: bytes) -> tuple[int, int, int, int, int]:
    return struct.unpack("!BBHII", packet[:12])


def test_streams_are_spread_over_the_slots_and_each_sends_once_a_period() -> None:
    sock = Recorder()
    c = caller(sock, range(40000, 40025))
    sizes = sorted(len(s) for s in c.slots)
    assert sizes[-1] - sizes[0] <= 1
    assert sum(sizes) == 25
    c.fire(START)  # the first slot only
    assert len(sock.sent) == len(c.slots[0])
    for k in range(1, 2 * SLOTS):  # each slot woken on time, for two periods
        c.fire(START + k * SLOT)
        if k == SLOTS - 1:
            assert sorted(addr[1] for _, addr in sock.sent) == list(range(40000, 40025))
    assert c.late_max == pytest.approx(0.0)
    by_port: dict[int, list[bytes]] = {}
    for packet, (_, port) in sock.sent:
        by_port.setdefault(port, []).append(packet)
    for packets in by_port.values():  # RTP v2 PCMU, seq +1 and timestamp +160 a packet
        (v0, pt0, seq0, ts0, ssrc0), (v1, pt1, seq1, ts1, ssrc1) = map(header, packets)
        assert (v0, pt0, v1, pt1) == (0x80, 0, 0x80, 0)
        assert (seq1 - seq0, ts1 - ts0, ssrc1) == (1, 160, ssrc0)
        assert len(packets[0]) == 12 + 160
    assert len({header(p[0])[4] for p in by_port.values()}) == 25  # one SSRC per call


def test_deadlines_are_absolute_and_a_late_fire_catches_up_and_reports_it() -> None:
    sock = Recorder()
    c = caller(sock, range(40000, 40010))  # one stream per slot
    c.fire(START + 2 * PERIOD + 0.001)  # woke 1 ms after the third period began
    assert len(sock.sent) == 2 * SLOTS + 1  # every slot due so far, nothing twice
    assert c.late_max == pytest.approx(2 * PERIOD + 0.001)  # the first slot waited longest
    assert c.due() == pytest.approx(START + 2 * PERIOD + SLOT)  # the cadence did not move


def test_clear_stops_every_stream_and_a_refused_send_is_counted() -> None:
    sock = Recorder(refused=frozenset({40003}))
    c = caller(sock, range(40000, 40010))
    c.fire(START + PERIOD - SLOT / 2)
    assert (c.sent, c.send_errors, len(sock.sent)) == (10, 1, 9)
    c.clear()
    c.fire(START + 3 * PERIOD)
    assert len(sock.sent) == 9
