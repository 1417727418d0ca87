"""What a carrier's media does on a live call, and what the call's records then say.

Silence suppression with comfort noise (RFC 3389, payload type 13), a media switchover
(a new SSRC, a new sequence and timestamp base), and a sender that moves its timestamps
back under the same SSRC. Sans-IO: packets built by hand, a hand-moved clock.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

import numpy as np
import pytest

from media.jitter import Gap, JitterBuffer, JitterFrame
from media.reframe import Reframer
from media.rtp import RtpPacket
from media.stream import RtpStream

A = ("10.0.0.1", 40000)
B = ("10.0.0.2", 50000)
SILENCE = b"\xff" * 160  # one 20 ms PCMU payload


class Carrier:
    """The far end's sender: one SSRC, its sequence and timestamp, 20 ms a packet."""

    def __init__(self, stream: RtpStream, ssrc: int = 7, seq: int = 100, ts: int = 1000
                 ) -> None:
        self.stream, self.ssrc, self.seq, self.ts, self.now = stream, ssrc, seq, ts, 0.0

    def send(self, pt: int = 0, payload: bytes = SILENCE) -> bool:
        packet = RtpPacket(pt, self.seq & 0xFFFF, self.ts & 0xFFFFFFFF, self.ssrc, payload)
        ok = self.stream.receive_rtp(packet.serialize(), A, self.now)
        self.seq, self.ts, self.now = self.seq + 1, self.ts + 160, self.now + 0.02
        return ok

    def skip(self, packets: int) -> None:
        """Packets the network lost: their sequence numbers and times go by."""
        self.seq, self.ts, self.now = (self.seq + packets, self.ts + 160 * packets,
                                       self.now + 0.02 * packets)


def test_comfort_noise_is_not_counted_as_lost_packets() -> None:
    """Before: every CN packet was a gap in the sequence to the receiver statistics, so a
    carrier with silence suppression showed loss in the CDR, the metrics and our RTCP."""
    b = RtpStream(remote_addr=A)
    far = Carrier(b)
    for _ in range(50):
        far.send()
    for _ in range(20):
        far.send(pt=13, payload=b"\x40")  # the caller is silent: comfort noise
    for _ in range(50):
        far.send()
    stats = b.stats()
    assert stats.packets_lost == 0
    assert stats.rejected_packets == 0
    assert stats.packets_received == 120


def test_loss_before_a_media_switchover_stays_in_the_stats() -> None:
    """Before: the new SSRC's statistics replaced the old ones, and the loss before the
    switchover vanished from the call's record."""
    b = RtpStream(remote_addr=A)
    far = Carrier(b)
    for i in range(100):
        if i % 10 == 5:
            far.skip(1)
        else:
            far.send()
    assert b.stats().packets_lost == 10
    far.ssrc, far.seq, far.ts = 99, 5000, 777_000  # another media server takes over
    for _ in range(50):
        far.send()
    stats = b.stats()
    assert stats.ssrc_changes == 1
    assert stats.packets_lost == 10


def test_loss_before_a_sequence_restart_stays_in_the_stats() -> None:
    """The same SSRC, its sequence numbers restarted far away (RFC 3550 A.1 resyncs)."""
    b = RtpStream(remote_addr=A)
    far = Carrier(b)
    for i in range(60):
        if i % 10 == 5:
            far.skip(1)
        else:
            far.send()
    far.seq += 20_000
    for _ in range(40):
        far.send()
    assert b.stats().packets_lost == 6


def _played(jump_slots: int) -> tuple[list[int], JitterBuffer]:
    """200 packets at the wire pace, the timestamps moved by ``jump_slots`` at packet 100;
    the packet numbers the buffer played."""
    jb = JitterBuffer()
    ts, played = 0, []
    for n in range(200):
        now = n * 0.02
        if n == 100:
            ts += 160 * jump_slots
        jb.put(7, ts & 0xFFFFFFFF, n.to_bytes(2, "big"), now + 0.001)
        ts += 160
        got = jb.get(now + 0.002)
        if isinstance(got, JitterFrame):
            played.append(int.from_bytes(got.payload, "big"))
        else:
            assert got in (Gap.NOT_STARTED, Gap.UNDERRUN, Gap.LOST)
    return played, jb


def test_timestamps_moved_back_under_one_ssrc_lose_no_audio() -> None:
    """Before: a sender that moved its timestamps back by half a second (a media server
    switchover keeping the SSRC) had every packet for that half second dropped as late:
    what the patient said then was never heard."""
    played, jb = _played(-25)
    assert jb.stats.late <= 1
    assert set(range(101, 195)) <= set(played)


def test_timestamps_moved_forward_play_on() -> None:
    played, jb = _played(25)
    assert set(range(100, 195)) <= set(played)
    assert jb.stats.late == 0


def test_one_stray_old_packet_does_not_restart_the_buffer() -> None:
    """A single duplicate from far back (a path that delivered it twice) is late, nothing
    more: what is buffered keeps playing."""
    jb = JitterBuffer()
    played = []
    for n in range(100):
        now = n * 0.02
        jb.put(7, 160 * n, n.to_bytes(2, "big"), now + 0.001)
        if n == 60:
            jb.put(7, 160 * 20, (20).to_bytes(2, "big"), now + 0.0015)
        got = jb.get(now + 0.002)
        if isinstance(got, JitterFrame):
            played.append(int.from_bytes(got.payload, "big"))
    assert played == sorted(played)
    assert set(range(5, 95)) <= set(played)
    assert jb.stats.resets == 0


def _stalled(stall: int, loud: Callable[[int], bool], amplitude: float = 6000.0
             ) -> tuple[list[int], RtpStream]:
    """300 packets of 20 ms; the network holds ``stall`` of them from packet 100, then
    delivers them at once with the next (a burst after a pause). ``loud(n)``: packet n
    carries speech (else line silence). The packet numbers played, in order."""
    b = RtpStream(remote_addr=A)
    t = np.arange(160) / 8000
    sent: dict[bytes, int] = {}
    held: list[bytes] = []
    played: list[int] = []
    for n in range(300):
        now = n * 0.02
        noise = np.random.default_rng(n).normal(0, 8, 160)  # line hiss: -70 dBFS
        pcm = noise + (amplitude * np.sin(2 * np.pi * 440 * t + n) if loud(n) else 0)
        payload = b.codec.encode(np.round(pcm).astype(np.int16))
        sent[payload] = n
        held.append(RtpPacket(0, n, 160 * n, 7, payload).serialize())
        if not 100 <= n < 100 + stall:
            for data in held:
                b.receive_rtp(data, A, now + 0.001)
            held.clear()
        got = b.receive_plan(now + 0.002)
        if isinstance(got, bytes):
            played.append(sent[got])
    return played, b


def test_a_burst_after_a_network_stall_loses_no_speech() -> None:
    """Before: the buffer caught up after a stall by dropping every other frame of the
    burst, while the caller spoke: 400 ms of their words cut out of 800 ms."""
    played, _ = _stalled(20, loud=lambda n: 50 <= n < 200)
    assert set(range(20, 290)) - set(played) <= set(range(200, 300))  # speech all played
    assert played == sorted(played)
    # ... and the delay the stall added is given back in the silence after the speech
    assert played[-1] >= 290


def test_a_quiet_talker_in_a_burst_loses_nothing_either() -> None:
    """Speech at about -47 dBFS (RMS 150): quieter than most, above the line's hiss."""
    played, _ = _stalled(20, loud=lambda n: 50 <= n < 200, amplitude=212.0)
    assert set(range(20, 290)) - set(played) <= set(range(200, 300))


def test_a_burst_in_silence_catches_up_at_once() -> None:
    played, b = _stalled(20, loud=lambda n: False)
    assert played[-1] >= 290
    assert b.stats().late_packets == 0


def test_the_delay_a_long_stall_adds_is_bounded_even_in_speech() -> None:
    """A stall longer than the buffer may hold in speech: the oldest frames go, so the
    agent hears the caller no more than that late."""
    played, _ = _stalled(50, loud=lambda n: True)
    assert played[-1] >= 270


@pytest.mark.parametrize("ptime_ms", [10, 30, 40])
@pytest.mark.parametrize("jump", [12_345, -12_345, 40_003])
def test_other_packet_times_play_on_after_the_timestamps_jump(ptime_ms: int, jump: int
                                                             ) -> None:
    """Before: a 10/30/40 ms sender whose timestamps jumped off the 10 ms grid of the
    first packet (a switchover keeping the SSRC) was never heard again: every piece was
    "off the grid" and dropped, for the rest of the call."""
    b = RtpStream(remote_addr=A)
    size = 8 * ptime_ms
    t = np.arange(size) / 8000
    ts, seq, heard = 1000, 0, []
    packets = 4000 // ptime_ms  # four seconds, the jump at two
    for k in range(packets):
        if k == packets // 2:
            ts += jump
        pcm = np.round(6000 * np.sin(2 * np.pi * 440 * t + k)).astype(np.int16)
        arrival = k * ptime_ms / 1000
        b.receive_rtp(RtpPacket(0, seq, ts & 0xFFFFFFFF, 7, b.codec.encode(pcm)).serialize(),
                      A, arrival)
        seq, ts = seq + 1, ts + size
        while len(heard) * 0.02 < arrival + ptime_ms / 1000 - 0.001:
            frame = b.tick_receive(len(heard) * 0.02 + 0.001)
            heard.append(frame if frame is not None else np.zeros(320, dtype=np.int16))
    after = heard[len(heard) // 2 + 10:]
    assert sum(int(np.abs(f).max()) > 1000 for f in after) >= len(after) - 5


def test_the_timestamp_wrap_keeps_the_grid_of_30ms_packets() -> None:
    """2^32 is not a multiple of 80: the grid check reads the difference across the wrap."""
    reframer = Reframer()
    out = []
    ts = 0xFFFFFFFF - 240 * 11 + 1  # the wrap lands inside a 20 ms slot
    for k in range(40):
        out += reframer.push(7, (ts + 240 * k) & 0xFFFFFFFF, bytes([k]) * 240)
    assert len(out) == 60
    steps = {(b[0] - a[0]) & 0xFFFFFFFF for a, b in pairwise(out)}
    assert steps == {160}
