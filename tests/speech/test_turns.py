"""Barge-in on synthetic caller audio, timed by frame timestamps (no sleeping)."""

from __future__ import annotations

import numpy as np
import pytest

from agent.speech.audio import frames, telephone
from agent.speech.endpoint import EndpointConfig, Endpointer, SpeechStart
from agent.speech.turns import BargeIn, BargeInDetector
from tests.speech.conftest import first_sound, load_vector, silence


class FakePlayback:
    """Stands in for MediaSession playback: counts frames until cancelled."""

    def __init__(self) -> None:
        self.cancelled_at: float | None = None
        self.now = 0.0
        self.cancels = 0

    def cancel_playback(self) -> None:
        self.cancels += 1
        if self.cancelled_at is None:
            self.cancelled_at = self.now


def drive(audio: np.ndarray, *, interruptible: bool, start_playing_at: float = 0.0):
    playback = FakePlayback()
    detector = BargeInDetector(playback.cancel_playback)
    ep = Endpointer(EndpointConfig())
    barge: list[BargeIn] = []
    starts: list[SpeechStart] = []
    for i, frame in enumerate(frames(audio)):
        now = (i + 1) * 0.02
        playback.now = now
        if abs(now - start_playing_at) < 1e-9:
            detector.playback_started(interruptible=interruptible)
        events = ep.feed(frame, now)
        starts += [e for e in events if isinstance(e, SpeechStart)]
        barge += detector.on_events(events)
    return playback, detector, barge, starts


@pytest.mark.parametrize("vector", ["caller_yes.wav", "caller_person.wav", "caller_dob.wav"])
@pytest.mark.parametrize("twice_through_g711", [False, True])
def test_barge_in_within_100ms_and_playback_cancelled(
    vector: str, twice_through_g711: bool
) -> None:
    speech = load_vector(vector)
    if twice_through_g711:
        speech = telephone(speech)
    audio = np.concatenate([silence(0.7), speech, silence(0.3)])
    onset = 0.7 + first_sound(speech)
    playback, detector, barge, _ = drive(audio, interruptible=True, start_playing_at=0.1)
    assert len(barge) == 1
    assert barge[0].interrupted
    assert barge[0].now - onset <= 0.100
    assert barge[0].now >= onset
    # cancel_playback() was called in the very frame that raised the event.
    assert playback.cancels == 1
    assert playback.cancelled_at == barge[0].now
    assert not detector.playing


def test_uninterruptible_prompt_reports_but_keeps_playing() -> None:
    audio = np.concatenate([silence(0.5), load_vector("caller_yes.wav"), silence(0.2)])
    playback, detector, barge, _ = drive(audio, interruptible=False, start_playing_at=0.1)
    assert [b.interrupted for b in barge] == [False]
    assert playback.cancels == 0
    assert detector.playing


def test_no_barge_in_when_not_playing() -> None:
    audio = np.concatenate([silence(0.5), load_vector("caller_yes.wav"), silence(0.2)])
    playback, _, barge, starts = drive(audio, interruptible=True, start_playing_at=-1.0)
    assert len(starts) == 1
    assert barge == []
    assert playback.cancels == 0


def test_silence_and_line_noise_do_not_barge_in() -> None:
    rng = np.random.default_rng(7)
    hiss = (rng.normal(0, 30, 16000 * 3)).astype(np.int16)  # quiet line noise
    playback, _, barge, _ = drive(telephone(hiss), interruptible=True, start_playing_at=0.02)
    assert barge == []
    assert playback.cancels == 0


def test_barge_in_event_checks_itself() -> None:
    with pytest.raises(ValueError, match="before speech"):
        BargeIn(onset=1.0, now=0.9, interrupted=True)
    assert BargeIn(onset=1.0, now=1.06, interrupted=True).delay == pytest.approx(0.06)
