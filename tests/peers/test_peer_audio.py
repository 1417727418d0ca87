"""Pure tests of the peer's audio helpers and audio waits (no pjsua2 needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .peer_audio import FRAME_BYTES, frame_rms, measure, read_wav, resample, tone, write_wav
from .peer_waits import Pending, WaitFailed, collect, index_at, run_of


@settings(max_examples=40, deadline=None)
@given(freq=st.floats(min_value=150.0, max_value=3800.0), amplitude=st.floats(0.05, 0.9))
def test_measure_finds_the_tone(freq: float, amplitude: float) -> None:
    m = measure(tone(freq, 0.5, amplitude=amplitude))
    assert abs(m.freq - freq) < 1.0
    assert m.rms == pytest.approx(amplitude * 32767 / np.sqrt(2), rel=0.02)


def test_measure_of_silence_and_short_input() -> None:
    assert measure(np.zeros(8000, dtype=np.int16)).rms == 0.0
    assert measure(b"\x00\x01").samples == 1


def test_wav_round_trip_and_resampling(tmp_path: Path) -> None:
    write_wav(tmp_path / "t.wav", tone(1000.0, 1.0, rate=8000), rate=8000)
    samples = read_wav(tmp_path / "t.wav")
    assert samples.size == 16000
    assert abs(measure(samples).freq - 1000.0) < 1.0
    assert resample(samples, 16000, 16000) is samples
    assert resample(np.zeros(0, dtype=np.int16), 8000).size == 0


def test_tone_rejects_bad_amplitude() -> None:
    with pytest.raises(ValueError, match="amplitude"):
        tone(440.0, 1.0, amplitude=1.5)


class FakePort:
    """Stands in for AudioPort: frames appended as the audio thread would."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.times: list[float] = []
        self.dropped = 0

    @property
    def received(self) -> int:
        return self.dropped + len(self.frames)

    def frames_since(self, index: int) -> list[bytes]:
        return self.frames[max(0, index - self.dropped) :]

    def push(self, level: int, count: int, t0: float) -> None:
        for i in range(count):
            self.frames.append(np.full(320, level, dtype="<i2").tobytes())
            self.times.append(t0 + i * 0.02)


def test_run_of_finds_onset_and_end() -> None:
    port = FakePort()
    onset = run_of(port, start=port.received, want=3, min_rms=300.0, loud=True)
    port.push(0, 10, t0=0.0)
    assert onset(False) is None
    port.push(1000, 2, t0=0.2)
    port.push(0, 1, t0=0.24)  # a gap resets the run
    port.push(1000, 5, t0=0.26)
    assert onset(False) == {"t": 0.26}
    start = index_at(port, 0.26)
    end = run_of(port, start=start, want=4, min_rms=300.0, loud=False)
    port.push(0, 4, t0=0.36)
    assert end(False) == {"t": 0.36}


def test_a_poll_between_a_stamp_and_its_frame_keeps_each_frame_its_own_stamp() -> None:
    """The audio thread appends a frame's stamp, then the frame (AudioPort.onFrameReceived);
    a poll in between sees one stamp more than frames and must not shift them."""
    port = FakePort()
    onset = run_of(port, start=port.received, want=3, min_rms=300.0, loud=True)
    port.push(0, 2, t0=0.0)
    port.push(1000, 1, t0=0.04)
    port.times.append(0.06)  # the next loud frame's stamp, its frame not yet appended
    assert onset(False) is None
    port.frames.append(np.full(320, 1000, dtype="<i2").tobytes())
    port.push(1000, 1, t0=0.08)
    assert onset(False) == {"t": 0.04}


def test_collect_skips_quiet_frames_and_reports_expiry() -> None:
    port = FakePort()
    poll = collect(
        port, start=0, want=2, min_rms=100.0,
        finish=lambda frames, stamps: {"t": stamps[0], "n": len(frames)},
    )  # fmt: skip
    port.push(0, 5, t0=0.0)
    port.push(500, 1, t0=0.1)
    assert poll(False) is None
    with pytest.raises(WaitFailed, match="1/2 frames"):
        poll(True)
    port.push(500, 1, t0=0.12)
    assert poll(False) == {"t": 0.1, "n": 2}
    assert len(port.frames[0]) == FRAME_BYTES


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-32768, 32767), min_size=320, max_size=320))
def test_frame_rms_is_the_mean_square_root_to_the_last_bit(samples: list[int]) -> None:
    frame = np.asarray(samples, dtype="<i2").tobytes()
    x = np.asarray(samples, dtype=np.float64)
    assert frame_rms(frame) == float(np.sqrt(np.mean(x * x)))
    assert frame_rms(np.full(320, -32768, dtype="<i2").tobytes()) == 32768.0
    assert frame_rms(b"") == 0.0


def test_a_pending_wait_is_due_on_new_frames_or_at_its_deadline() -> None:
    port = FakePort()
    pending = Pending(1, deadline=10.0, poll=lambda expired: None, port=port)
    assert pending.due(0.0)  # the first poll
    assert not pending.due(0.005)  # nothing arrived since
    port.push(0, 1, t0=0.02)
    assert pending.due(0.02)
    assert not pending.due(0.025)
    assert pending.due(10.0)  # expired: polled to raise its timeout
