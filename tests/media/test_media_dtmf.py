"""RFC 4733 telephone-event send/receive and the in-band detector."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media.dtmf import (
    COL_HZ,
    DIGITS,
    KEYPAD,
    MAX_DURATION,
    ROW_HZ,
    DtmfEvent,
    DtmfGap,
    DtmfPacket,
    DtmfParseError,
    DtmfReceiver,
    DtmfSender,
    InbandDtmfDetector,
    TelephoneEvent,
)


def run_sender(
    sender: DtmfSender, ticks: int, start_ts: int = 1000
) -> list[DtmfPacket | DtmfGap | None]:
    return [sender.step((start_ts + 160 * i) & 0xFFFFFFFF) for i in range(ticks)]


def test_payload_vector() -> None:
    # digit 5, end bit, volume 10, duration 800: 05 8a 03 20
    event = TelephoneEvent.parse(bytes.fromhex("058a0320"))
    assert event == TelephoneEvent(5, True, 10, 800)
    assert event.serialize() == bytes.fromhex("058a0320")
    with pytest.raises(DtmfParseError, match="shorter than 4 bytes"):
        TelephoneEvent.parse(bytes.fromhex("058a03"))


def test_sender_timestamps_durations_marker_and_three_ends() -> None:
    sender = DtmfSender(tone_ms=100, gap_ms=40)
    sender.queue("7")
    out = run_sender(sender, 10)
    packets = [p for p in out if isinstance(p, DtmfPacket)]
    assert len(packets) == 5 + 2  # 100 ms in 20 ms steps, then two end retransmissions
    events = [TelephoneEvent.parse(p.payload) for p in packets]
    assert [e.event for e in events] == [7] * 7
    assert [e.duration for e in events] == [160, 320, 480, 640, 800, 800, 800]
    assert [e.end for e in events] == [False] * 4 + [True] * 3
    assert {p.timestamp for p in packets} == {1000}  # all carry the event start
    assert [p.marker for p in packets] == [True] + [False] * 6
    assert out[7:9] == [DtmfGap.GAP, DtmfGap.GAP]  # 40 ms gap
    assert out[9] is None
    assert not sender.active


def test_sender_odd_duration_is_exact() -> None:
    sender = DtmfSender(tone_ms=90, gap_ms=0)
    sender.queue("1")
    packets = [p for p in run_sender(sender, 8) if isinstance(p, DtmfPacket)]
    assert [TelephoneEvent.parse(p.payload).duration for p in packets] == [
        160,
        320,
        480,
        640,
        720,
        720,
        720,
    ]


def test_sender_validates_before_queueing() -> None:
    sender = DtmfSender()
    with pytest.raises(ValueError, match="DTMF digit"):
        sender.queue("12x")
    assert not sender.active


def test_receiver_reports_once_despite_end_retransmissions() -> None:
    sender = DtmfSender()
    sender.queue("*#")
    receiver = DtmfReceiver()
    events: list[DtmfEvent] = []
    for i, step in enumerate(run_sender(sender, 30)):
        if isinstance(step, DtmfPacket):
            events += receiver.receive(step.payload, step.timestamp, i * 0.02)
            events += receiver.receive(step.payload, step.timestamp, i * 0.02)  # duplicate
    assert events == [DtmfEvent("*", 100), DtmfEvent("#", 100)]


def test_receiver_recovers_when_all_end_packets_are_lost() -> None:
    sender = DtmfSender()
    sender.queue("12")
    receiver = DtmfReceiver(quiet_timeout=0.3)
    events: list[DtmfEvent] = []
    for i, step in enumerate(run_sender(sender, 30)):
        if isinstance(step, DtmfPacket) and not TelephoneEvent.parse(step.payload).end:
            events += receiver.receive(step.payload, step.timestamp, i * 0.02)
    # digit 1 is closed by digit 2's first packet; digit 2 by the quiet timeout
    assert events == [DtmfEvent("1", 80)]
    assert receiver.poll(0.5) is None
    assert receiver.poll(10.0) == DtmfEvent("2", 80)
    assert receiver.poll(11.0) is None


def test_receiver_handles_timestamp_wrap() -> None:
    sender = DtmfSender()
    sender.queue("9")
    receiver = DtmfReceiver()
    events: list[DtmfEvent] = []
    for step in run_sender(sender, 10, start_ts=0xFFFFFF00):
        if isinstance(step, DtmfPacket):
            events += receiver.receive(step.payload, step.timestamp, 0.0)
    assert events == [DtmfEvent("9", 100)]


@settings(deadline=None)
@given(st.text(alphabet=DIGITS, min_size=1, max_size=6), st.randoms(use_true_random=False))
def test_any_digit_string_survives_reordering_within_an_event(digits: str, rnd) -> None:  # type: ignore[no-untyped-def]
    sender = DtmfSender(gap_ms=0)
    sender.queue(digits)
    receiver = DtmfReceiver()
    packets = [p for p in run_sender(sender, 8 * len(digits) + 2) if isinstance(p, DtmfPacket)]
    events: list[DtmfEvent] = []
    # shuffle packets within each event (a network reorders neighbours, not whole digits)
    for ts in dict.fromkeys(p.timestamp for p in packets):
        group = [p for p in packets if p.timestamp == ts]
        rnd.shuffle(group)
        for p in group:
            events += receiver.receive(p.payload, p.timestamp, 0.0)
    assert "".join(e.digit for e in events) == digits


def test_event_validation() -> None:
    with pytest.raises(ValueError, match="DTMF digit"):
        DtmfEvent("E", 100)


def dtmf_tone(digit: str, ms: int = 100, amp: float = 6000.0) -> np.ndarray:
    row = next(i for i, keys in enumerate(KEYPAD) if digit in keys)
    col = KEYPAD[row].index(digit)
    t = np.arange(8 * ms) / 8000
    sig = amp * (np.sin(2 * np.pi * ROW_HZ[row] * t) + np.sin(2 * np.pi * COL_HZ[col] * t))
    return np.round(sig / 2).astype(np.int16)


def detect(signal: np.ndarray) -> str:
    detector = InbandDtmfDetector()
    found = []
    for i in range(0, len(signal) - 159, 160):
        event = detector.process(signal[i : i + 160])
        if event is not None:
            found.append(event.digit)
    return "".join(found)


@pytest.mark.parametrize("digit", list(DIGITS))
def test_inband_detects_every_digit(digit: str) -> None:
    silence = np.zeros(480, dtype=np.int16)
    assert detect(np.concatenate([silence, dtmf_tone(digit), silence])) == digit


def test_inband_sequence_and_no_false_positives() -> None:
    gap = np.zeros(400, dtype=np.int16)
    seq = np.concatenate([dtmf_tone("4"), gap, dtmf_tone("4"), gap, dtmf_tone("#")])
    assert detect(seq) == "44#"
    t = np.arange(8000) / 8000
    speechlike = (3000 * np.sin(2 * np.pi * 1000 * t) + 2000 * np.sin(2 * np.pi * 300 * t)).astype(
        np.int16
    )
    noise = np.random.default_rng(1).normal(0, 3000, 8000).astype(np.int16)
    assert detect(speechlike) == ""
    assert detect(noise) == ""


@pytest.mark.parametrize("digit", list(DIGITS))
def test_generated_tones_are_detected(digit: str) -> None:
    from media.dtmf import tone_frames  # noqa: PLC0415

    frames = tone_frames(digit, sample_rate=8000, frame_samples=160)
    assert len(frames) == 5 + 3  # 100 ms tone + 60 ms gap in 20 ms frames
    assert detect(np.concatenate(frames)) == digit



def long_press(code: int, seconds: float, *, start_ts: int = 1000) -> list[tuple[bytes, int]]:
    """A key held ``seconds`` as RFC 4733 2.5.1.3 sends it: once the duration reaches
    0xFFFF the event goes on in a new segment whose timestamp is the old one plus that
    duration (no E bit), its duration counting again from 0; the end packet goes 3 times."""
    out: list[tuple[bytes, int]] = []
    ts, left = start_ts, int(seconds * 8000)
    while True:
        seg_len, dur = min(left, MAX_DURATION), 0
        while dur < seg_len:
            dur = min(dur + 160, seg_len)
            last = dur == seg_len == left
            out.append((TelephoneEvent(code, last, 10, dur).serialize(), ts & 0xFFFFFFFF))
        if seg_len == left:
            return [*out, out[-1], out[-1]]
        left -= seg_len
        ts += seg_len


@pytest.mark.parametrize(("seconds", "start_ts"), [(9.0, 1000), (20.0, 1000),
                                                   (9.0, 0xFFFF_0000)])
def test_a_key_held_past_8_seconds_is_reported_once_with_its_whole_length(
        seconds: float, start_ts: int) -> None:
    """Before: each new segment (a new timestamp) closed the event before it as if its
    end packets were lost, so a long press of "5" was reported two or three times."""
    receiver = DtmfReceiver()
    events: list[DtmfEvent] = []
    for i, (payload, ts) in enumerate(long_press(5, seconds, start_ts=start_ts)):
        events += receiver.receive(payload, ts, i * 0.02)
    assert events == [DtmfEvent("5", int(seconds * 1000))]
    assert receiver.poll(1e6) is None


def test_a_segment_without_its_end_after_a_long_press_is_closed_by_the_quiet_timeout() -> None:
    receiver = DtmfReceiver(quiet_timeout=0.3)
    packets = [p for p in long_press(7, 9.0) if not TelephoneEvent.parse(p[0]).end]
    events: list[DtmfEvent] = []
    for payload, ts in packets:
        events += receiver.receive(payload, ts, 0.0)
    assert events == []
    last = MAX_DURATION + (72000 - MAX_DURATION) // 160 * 160  # the last packet before the end
    assert receiver.poll(1.0) == DtmfEvent("7", last * 1000 // 8000)


def test_the_same_key_pressed_again_is_still_two_presses() -> None:
    """A new press of the same key (its own timestamp, after a gap) is not a segment."""
    receiver = DtmfReceiver()
    first = [p for p in long_press(3, 0.2, start_ts=1000) if not TelephoneEvent.parse(p[0]).end]
    second = long_press(3, 0.2, start_ts=1000 + 1600 + 480)
    events: list[DtmfEvent] = []
    for payload, ts in [*first, *second]:
        events += receiver.receive(payload, ts, 0.0)
    assert events == [DtmfEvent("3", 180), DtmfEvent("3", 200)]
