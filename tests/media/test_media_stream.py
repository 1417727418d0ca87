"""The sans-IO RtpStream: two legs wired back to back under a hand-driven clock."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media.dtmf import DtmfEvent
from media.rtcp import Bye, ReceiverReport, ReportBlock, SenderReport, parse_compound
from media.rtp import RtpPacket
from media.srtp import SrtpContext, SrtpKey
from media.stream import FRAME_SAMPLES, Direction, RtpStream

A = ("10.0.0.1", 40000)
B = ("10.0.0.2", 50000)


def tone_frames(freq: float, count: int, amp: float = 8000.0) -> list[np.ndarray]:
    t = np.arange(count * FRAME_SAMPLES) / 16000
    sig = np.round(amp * np.sin(2 * np.pi * freq * t)).astype(np.int16)
    return list(sig.reshape(count, FRAME_SAMPLES))


def peak_hz(signal: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    return float(np.fft.rfftfreq(len(signal), 1 / 16000)[np.argmax(spectrum)])


class Wire:
    """Carries each tick's packet from ``src`` to ``dst`` with an optional fixed delay."""

    def __init__(self, src: RtpStream, dst: RtpStream, src_addr: tuple[str, int]) -> None:
        self.src, self.dst, self.src_addr = src, dst, src_addr
        self.sent: list[bytes] = []

    def tick(self, now: float) -> None:
        packet = self.src.tick_send()
        if packet is not None:
            self.sent.append(packet)
            self.dst.receive_rtp(packet, self.src_addr, now + 0.001)


def run(
    a: RtpStream, b: RtpStream, ticks: int, t0: float = 0.0
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    ab, ba = Wire(a, b, A), Wire(b, a, B)
    got_a: list[np.ndarray] = []
    got_b: list[np.ndarray] = []
    for n in range(ticks):
        now = t0 + n * 0.02
        ab.tick(now)
        ba.tick(now)
        fa = a.tick_receive(now + 0.002)
        fb = b.tick_receive(now + 0.002)
        if fa is not None:
            got_a.append(fa)
        if fb is not None:
            got_b.append(fb)
    return got_a, got_b


def pair(**kwargs) -> tuple[RtpStream, RtpStream]:  # type: ignore[no-untyped-def]
    return RtpStream(remote_addr=B, **kwargs), RtpStream(remote_addr=A, **kwargs)


@pytest.mark.parametrize("pt", [0, 8, 9])
def test_tone_both_directions(pt: int) -> None:
    a, b = pair(payload_type=pt)
    a.audio.extend(tone_frames(1000, 50))
    b.audio.extend(tone_frames(440, 50))
    got_a, got_b = run(a, b, 60)
    assert abs(peak_hz(np.concatenate(got_b)[1600:]) - 1000) < 5
    assert abs(peak_hz(np.concatenate(got_a)[1600:]) - 440) < 5
    assert all(f.shape == (FRAME_SAMPLES,) and f.dtype == np.int16 for f in got_a + got_b)
    sa = a.stats()
    assert sa.packets_sent == 60
    assert sa.packets_received == 60
    assert sa.packets_lost == 0


def test_silence_is_sent_when_idle_and_marker_starts_talkspurt() -> None:
    a, b = pair()
    wire = Wire(a, b, A)
    for n in range(3):
        wire.tick(n * 0.02)
    a.audio.extend(tone_frames(1000, 2))
    for n in range(3, 6):
        wire.tick(n * 0.02)
    packets = [RtpPacket.parse(p) for p in wire.sent]
    assert [p.payload == b"\xff" * 160 for p in packets] == [True, True, True, False, False, True]
    assert [p.marker for p in packets] == [False, False, False, True, False, False]
    seqs = [p.sequence_number for p in packets]
    assert [(s - seqs[0]) & 0xFFFF for s in seqs] == list(range(6))
    tss = [p.timestamp for p in packets]
    assert [(t - tss[0]) & 0xFFFFFFFF for t in tss] == [160 * i for i in range(6)]


def test_no_silence_when_disabled() -> None:
    a, _ = pair(send_silence=False)
    assert a.tick_send() is None
    a.audio.extend(tone_frames(1000, 1))
    assert a.tick_send() is not None


def test_dtmf_both_ways_pauses_audio() -> None:
    a, b = pair(dtmf_payload_type=101)
    a.audio.extend(tone_frames(1000, 30))
    a.queue_dtmf("19")
    b.queue_dtmf("#")
    run(a, b, 40)
    assert list(b.events) == [DtmfEvent("1", 100), DtmfEvent("9", 100)]
    assert list(a.events) == [DtmfEvent("#", 100)]
    assert len(a.audio) > 0  # the tone waited while the digits went out


def test_inband_dtmf_when_telephone_event_was_not_negotiated() -> None:
    a, b = pair(dtmf_payload_type=None, inband_dtmf=True)
    with pytest.raises(ValueError, match="DTMF digit"):
        a.queue_dtmf("1x")
    a.queue_dtmf("3*")
    assert a.dtmf_pending
    run(a, b, 25)
    assert not a.dtmf_pending
    assert [e.digit for e in b.events] == ["3", "*"]
    assert all(e.source == "inband" for e in b.events)
    assert a.stats().dtmf_sent == 2


def test_symmetric_latching_follows_the_signalled_host_and_ignores_others() -> None:
    a = RtpStream(remote_addr=("192.0.2.1", 4000))  # what the SDP said
    b = RtpStream(remote_addr=A)
    packet = b.tick_send()
    assert packet is not None
    natted = ("192.0.2.1", 61000)  # the signalled host; a NAT rewrote the port
    assert a.receive_rtp(packet, natted, 0.0)
    assert a.remote_addr == natted
    assert a.remote_rtcp_addr == ("192.0.2.1", 61001)
    intruder = RtpStream(remote_addr=A).tick_send()
    assert intruder is not None
    assert not a.receive_rtp(intruder, ("203.0.113.9", 9), 0.1)
    assert a.remote_addr == natted
    # issue 11 item 3: no longer taken over after a second of silence (it was before)
    assert not a.receive_rtp(intruder, ("203.0.113.9", 9), 1.5)
    assert a.remote_addr == natted
    a.set_remote(("192.0.2.1", 4000))  # re-INVITE
    assert a.remote_addr == ("192.0.2.1", 4000)


def _packets(count: int, ssrc: int, first_seq: int = 100) -> list[bytes]:
    silence = bytes([0xFF]) * 160
    return [RtpPacket(0, (first_seq + i) & 0xFFFF, 160 * i, ssrc, silence).serialize()
            for i in range(count)]


def test_an_unrelated_host_never_latches_first_or_during_silence() -> None:
    """Issue 11 item 3: before the fix the first packet from anywhere took the call, and
    any address took over after 1 s of silence."""
    signalled = ("192.0.2.1", 4000)
    attacker = ("203.0.113.9", 4000)
    a = RtpStream(remote_addr=signalled)
    for n, packet in enumerate(_packets(20, ssrc=666)):  # the attacker is first
        assert not a.receive_rtp(packet, attacker, n * 0.02)
    assert a.remote_addr == signalled
    assert a.stats().packets_received == 0
    for n, packet in enumerate(_packets(5, ssrc=1)):  # the peer, then silence
        assert a.receive_rtp(packet, signalled, 1.0 + n * 0.02)
    for n, packet in enumerate(_packets(100, ssrc=666, first_seq=5000)):
        assert not a.receive_rtp(packet, attacker, 5.0 + n * 0.02)
    assert a.remote_addr == signalled
    assert a.stats().rejected_packets == 120


def test_the_signalled_host_switches_port_only_after_a_run_of_valid_packets() -> None:
    signalled = ("192.0.2.1", 4000)
    moved = ("192.0.2.1", 4100)
    a = RtpStream(remote_addr=signalled)
    for packet in _packets(3, ssrc=1):
        assert a.receive_rtp(packet, signalled, 0.0)
    # scattered packets (a new SSRC each, or a broken sequence) never add up to a run
    for i, packet in enumerate(_packets(8, ssrc=2)):
        again = _packets(1, ssrc=50 + i, first_seq=900 + 7 * i)[0]
        assert not a.receive_rtp(packet if i % 2 else again, moved, 0.1)
    assert a.remote_addr == signalled
    run = _packets(4, ssrc=3, first_seq=0xFFFE)  # the run may wrap the sequence number
    assert [a.receive_rtp(p, moved, 0.2) for p in run] == [False, False, False, True]
    assert a.remote_addr == moved
    assert a.remote_rtcp_addr == ("192.0.2.1", 4101)
    assert not a.receive_rtp(_packets(1, ssrc=1, first_seq=3)[0], signalled, 0.3)


def test_hold_directions() -> None:
    a, b = pair()
    a.direction = Direction.INACTIVE
    assert a.tick_send() is None
    a.direction = Direction.RECVONLY
    assert a.tick_send() is None
    a.direction = Direction.SENDONLY
    assert a.tick_send() is not None
    packet = b.tick_send()
    assert packet is not None
    a.receive_rtp(packet, B, 0.0)
    assert a.stats().packets_received == 1
    for n in range(10):
        assert a.tick_receive(0.1 + n * 0.02) is None  # nothing reaches the buffer on hold


def test_srtp_between_streams_and_rejects_plain() -> None:
    ka, kb = SrtpKey.generate(), SrtpKey.generate("AES_CM_128_HMAC_SHA1_32")
    a = RtpStream(remote_addr=B, srtp=SrtpContext(ka, kb))
    b = RtpStream(remote_addr=A, srtp=SrtpContext(kb, ka))
    a.audio.extend(tone_frames(1000, 40))
    _, got_b = run(a, b, 45)
    assert abs(peak_hz(np.concatenate(got_b)[1600:]) - 1000) < 5
    plain = RtpStream(remote_addr=A).tick_send()
    assert plain is not None
    before = b.stats().rejected_packets
    assert not b.receive_rtp(plain, A, 1.0)
    assert b.stats().rejected_packets == before + 1


def test_ssrc_change_is_counted_and_audio_continues() -> None:
    a, b = pair()
    a.audio.extend(tone_frames(1000, 20))
    run(a, b, 20)
    a.ssrc ^= 0xFFFF  # the peer restarted its stream
    a.audio.extend(tone_frames(1000, 20))
    _, got_b = run(a, b, 25, t0=0.4)
    assert b.stats().ssrc_changes == 1
    assert abs(peak_hz(np.concatenate(got_b)[-4800:]) - 1000) < 5


def test_loss_and_garbage_are_accounted() -> None:
    a, b = pair()
    a.audio.extend(tone_frames(1000, 40))
    for n in range(40):
        packet = a.tick_send()
        assert packet is not None
        if n % 10 != 5:
            b.receive_rtp(packet, A, n * 0.02)
        b.tick_receive(n * 0.02 + 0.002)
    assert not b.receive_rtp(b"\x80\x00", A, 1.0)  # truncated
    assert not b.receive_rtp(RtpPacket(96, 1, 1, 1).serialize(), A, 1.0)  # unknown PT
    stats = b.stats()
    assert stats.packets_lost == 4
    assert stats.rejected_packets == 2
    assert stats.concealed_frames >= 3


def test_rtcp_sender_and_receiver_reports_give_rtt_and_remote_loss() -> None:
    a, b = pair()
    a.audio.extend(tone_frames(1000, 10))
    run(a, b, 10)
    assert not a.rtcp_due(0.2)  # first call schedules 2.5-7.5 s ahead
    assert a.rtcp_due(10.0)
    sr_bytes = a.build_rtcp(10.0, wallclock=1_000_000.0)
    sr, _sdes = parse_compound(sr_bytes)
    assert isinstance(sr, SenderReport)
    assert sr.ssrc == a.ssrc
    assert sr.packet_count == 10
    assert sr.reports[0].ssrc == b.ssrc
    assert b.receive_rtcp(sr_bytes, 10.05, wallclock=1_000_000.05)
    # b answers 0.25 s later; its report carries LSR/DLSR for a's SR
    rr_bytes = b.build_rtcp(10.30, wallclock=1_000_000.30)
    report = parse_compound(rr_bytes)[0]
    assert isinstance(report, SenderReport | ReceiverReport)
    assert a.receive_rtcp(rr_bytes, 10.35, wallclock=1_000_000.35)
    stats = a.stats()
    assert stats.rtt_ms is not None
    assert abs(stats.rtt_ms - 100.0) < 2.0  # 0.35 s total minus 0.25 s held at b
    assert stats.remote_fraction_lost == 0.0
    assert not a.receive_rtcp(b"\x80", 11.0, 1_000_001.0)


def test_codec_switch_on_reinvite() -> None:
    a, b = pair()
    a.set_codec(8, 101)
    b.set_codec(8, 101)
    a.audio.extend(tone_frames(1000, 30))
    _, got_b = run(a, b, 30)
    assert abs(peak_hz(np.concatenate(got_b)[1600:]) - 1000) < 5
    assert RtpPacket.parse(a.tick_send() or b"").payload_type == 8


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    loss=st.floats(0, 0.1),
    dup=st.floats(0, 0.1),
    jitter=st.floats(0, 0.04),
)
def test_seeded_bad_network_tone_survives(
    seed: int, loss: float, dup: float, jitter: float
) -> None:
    """A fast-forward fake network that drops, duplicates, delays and reorders packets."""
    rng = random.Random(seed)
    a, b = pair()
    a.audio.extend(tone_frames(1000, 100))
    in_flight: list[tuple[float, int, bytes]] = []
    heard: list[np.ndarray] = []
    order = 0
    for n in range(110):
        now = n * 0.02
        packet = a.tick_send()
        assert packet is not None
        copies = 0 if rng.random() < loss else (2 if rng.random() < dup else 1)
        for _ in range(copies):
            order += 1
            in_flight.append((now + rng.uniform(0, jitter), order, packet))
        in_flight.sort()
        while in_flight and in_flight[0][0] <= now + 0.01:
            at, _, data = in_flight.pop(0)
            b.receive_rtp(data, A, at)
        frame = b.tick_receive(now + 0.01)
        if frame is not None:
            heard.append(frame)
    audio = np.concatenate(heard[10:])
    assert abs(peak_hz(audio) - 1000) < 10
    stats = b.stats()
    assert stats.packets_received >= 1
    assert stats.packets_lost <= 110 * loss + 15
    assert stats.concealed_frames <= len(heard)


def test_rtcp_bye_is_sent_and_noticed() -> None:
    a, b = pair()
    run(a, b, 5)
    data = a.build_rtcp(1.0, 1_000_000.0, bye=True)
    assert isinstance(parse_compound(data)[-1], Bye)
    assert not b.remote_bye
    assert b.receive_rtcp(data, 1.0, 1_000_000.0)
    assert b.remote_bye


def test_g722_is_wideband_and_uses_the_8khz_rtp_clock() -> None:
    a, b = pair(payload_type=9)
    a.audio.extend(tone_frames(6000, 40))  # above the G.711 band: only wideband carries it
    packets = []
    heard = []
    for n in range(45):
        packet = a.tick_send()
        assert packet is not None
        packets.append(RtpPacket.parse(packet))
        b.receive_rtp(packet, A, n * 0.02)
        frame = b.tick_receive(n * 0.02 + 0.002)
        if frame is not None:
            heard.append(frame)
    assert all(p.payload_type == 9 and len(p.payload) == 160 for p in packets)
    assert (packets[1].timestamp - packets[0].timestamp) & 0xFFFFFFFF == 160
    assert abs(peak_hz(np.concatenate(heard)[3200:]) - 6000) < 10


def test_rtcp_latches_to_the_peers_rtcp_source_after_rtp_latching() -> None:
    a, b = pair()
    natted = (B[0], 61000)  # the signalled host behind a NAT that rewrote the port
    packet = b.tick_send()
    assert packet is not None
    a.receive_rtp(packet, natted, 0.0)
    rtcp = b.build_rtcp(0.1, 1_000_000.0)
    assert a.receive_rtcp(rtcp, 0.1, 1_000_000.0, (B[0], 62017))
    assert a.remote_rtcp_addr == (B[0], 62017)
    # RTCP from another host does not move it (nor is it read: see the next test)
    assert not a.receive_rtcp(rtcp, 0.2, 1_000_000.1, ("203.0.113.9", 9))
    assert a.remote_rtcp_addr == (B[0], 62017)


def test_rtcp_from_a_host_other_than_the_signalled_one_is_not_read() -> None:
    """Strict RTP for RTCP too: a report or BYE from elsewhere names the call's SSRCs but
    changes nothing. Before: it was parsed and believed, so anyone who could reach the
    RTCP port wrote the call's remote loss / jitter (the CDR's, the console's) and
    flagged the peer's BYE."""
    a, b = pair()
    run(a, b, 5)
    forged = ReceiverReport(b.ssrc, (ReportBlock(a.ssrc, 255, 999, 0, 80000, 0, 0),))
    data = forged.serialize() + Bye((b.ssrc,)).serialize()
    before = a.stats()
    assert not a.receive_rtcp(data, 1.0, 1_000_000.0, ("203.0.113.9", B[1] + 1))
    after = a.stats()
    assert (after.remote_fraction_lost, after.remote_jitter_ms) == (
        before.remote_fraction_lost, before.remote_jitter_ms)
    assert not a.remote_bye
    # the same from the signalled host is read
    assert a.receive_rtcp(data, 1.1, 1_000_000.1, (B[0], B[1] + 1))
    assert a.stats().remote_fraction_lost == 255 / 256
    assert a.remote_bye


@pytest.mark.parametrize("ptime_ms", [10, 30, 40])
def test_other_packet_times_are_reframed_to_20ms(ptime_ms: int) -> None:
    """A peer ignoring a=ptime:20 still gets heard: its packets are cut and rejoined."""
    _, b = pair()
    t = np.arange(8000) / 8000
    pcm8 = np.round(8000 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
    encoded = b.codec.encode(pcm8)
    size = 8 * ptime_ms
    start_ts = 0xFFFFFF00  # wraps on the way
    heard = []
    arrival = 0.0
    for k, i in enumerate(range(0, len(encoded), size)):
        packet = RtpPacket(0, k & 0xFFFF, (start_ts + i) & 0xFFFFFFFF, 7, encoded[i : i + size])
        arrival = i / 8000
        assert b.receive_rtp(packet.serialize(), A, arrival)
        while len(heard) * 0.02 <= arrival:
            frame = b.tick_receive(len(heard) * 0.02 + 0.001)
            heard.append(frame if frame is not None else np.zeros(320, dtype=np.int16))
    audio = np.concatenate(heard[10:])
    assert abs(peak_hz(audio) - 1000) < 5
    assert b.stats().rejected_packets == 0
    # steady state plays without concealment once the buffer settled
    assert b.stats().concealed_frames <= 8


def test_payloads_off_the_10ms_grid_are_dropped() -> None:
    _, b = pair()
    odd = RtpPacket(0, 1, 0, 5, b"\xff" * 170).serialize()  # e.g. SRTP before its keys
    assert not b.receive_rtp(odd, A, 0.0)
    assert b.stats().rejected_packets == 1
    assert b.stats().packets_received == 1  # still counted for RTCP


@settings(deadline=None)
@given(
    halves=st.integers(2, 60),
    size=st.sampled_from([80, 160, 240, 320, 480]),
    start=st.integers(0, 0xFFFFFFFF),
    seed=st.integers(0, 1000),
)
def test_reframer_rebuilds_exact_20ms_slices(halves: int, size: int, start: int, seed: int) -> None:
    rng = random.Random(seed)
    data = bytes(rng.randrange(256) for _ in range(halves * 80))
    packets = [(start + i, data[i : i + size]) for i in range(0, len(data), size)]
    # neighbours may swap places on the way
    for i in range(0, len(packets) - 1, 2):
        if rng.random() < 0.3:
            packets[i], packets[i + 1] = packets[i + 1], packets[i]
    from media.reframe import Reframer  # noqa: PLC0415

    reframer = Reframer(keep=64)
    out = []
    for ts, payload in packets:
        out += reframer.push(1, ts & 0xFFFFFFFF, payload)
    for slot_ts, whole in out:
        source = (slot_ts - start) & 0xFFFFFFFF
        assert len(whole) == 160
        assert whole == data[source : source + 160]
    # every 20 ms slot on the first packet's grid comes out once; at most 10 ms is left
    # over at each end when that grid is not aligned with the data's start
    assert len({ts for ts, _ in out}) == len(out)
    assert len(out) >= (len(data) - 160) // 160


def test_rtp_latched_from_source_port_65535_has_no_rtcp_port() -> None:
    """A NAT may map the peer's RTP to source port 65535; before, RTCP then went to port
    65536 and the first report raised OverflowError (the call's media stopped)."""
    a, b = pair()
    packet = b.tick_send()
    assert packet is not None
    assert a.receive_rtp(packet, (B[0], 65535), 0.0)
    assert a.remote_addr == (B[0], 65535)
    assert a.remote_rtcp_addr is None
