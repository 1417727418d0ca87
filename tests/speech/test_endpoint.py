"""Endpointing on frames with a controlled clock: every frame carries its own time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.speech.audio import FRAME_SAMPLES, frames, telephone
from agent.speech.endpoint import (
    EndpointConfig,
    Endpointer,
    EndReason,
    SpeechEnd,
    SpeechStart,
    Utterance,
)
from tests.speech.conftest import first_sound, load_vector, silence

LOUD = np.full(FRAME_SAMPLES, 1000, dtype=np.int16)
QUIET = np.zeros(FRAME_SAMPLES, dtype=np.int16)


def energy(frame: np.ndarray) -> bool:
    return bool(np.abs(frame).max() > 0)


def run(pattern: str, config: EndpointConfig | None = None) -> list:
    ep = Endpointer(config, classifier=energy)
    out = []
    for ch in pattern:
        out.extend(ep.feed(LOUD if ch == "#" else QUIET))
    return out


def test_start_needs_voiced_frames_in_window() -> None:
    assert run("#.#....#.....") == []  # never 3 voiced of 5
    events = run("....###")
    assert events == [SpeechStart(onset=0.08, now=0.14)]


def test_end_after_hangover_and_utterance_audio() -> None:
    cfg = EndpointConfig(hangover_ms=200, preroll_ms=40, tail_ms=40)
    events = run("..##########" + "." * 10, cfg)
    start, end, utt = events
    assert isinstance(start, SpeechStart)
    assert end == SpeechEnd(onset=0.04, end=0.24, now=0.44, reason=EndReason.HANGOVER, kept=True)
    assert isinstance(utt, Utterance)
    assert utt.now == end.now
    # pre-roll: the 5-frame trigger window ("..###"), then 7 voiced frames, then 40 ms tail
    assert len(utt.audio) == FRAME_SAMPLES * (5 + 7 + 2)
    assert utt.audio[: 2 * FRAME_SAMPLES].max() == 0
    assert utt.audio[-2 * FRAME_SAMPLES :].max() == 0


def test_short_noise_is_dropped() -> None:
    cfg = EndpointConfig(min_speech_ms=200, hangover_ms=100)
    events = run("...####" + "." * 6, cfg)
    assert [type(e) for e in events] == [SpeechStart, SpeechEnd]
    assert events[1].kept is False


def test_max_utterance_cuts() -> None:
    cfg = EndpointConfig(max_utterance_ms=400, max_cut_search_ms=200, max_cut_wait_ms=200)
    events = run("#" * 40, cfg)  # no pause at all: cut 200 ms past the limit
    ends = [e for e in events if isinstance(e, SpeechEnd)]
    assert ends[0].reason is EndReason.MAX_LENGTH
    assert ends[0].now - ends[0].onset == pytest.approx(0.6)


def test_force_end_and_hangover_override() -> None:
    ep = Endpointer(EndpointConfig(hangover_ms=600), classifier=energy)
    for _ in range(20):
        ep.feed(LOUD)
    ep.set_hangover(100)
    events = [e for _ in range(5) for e in ep.feed(QUIET)]
    assert isinstance(events[0], SpeechEnd)
    assert events[0].now - events[0].end == pytest.approx(0.1)
    for _ in range(20):
        ep.feed(LOUD)
    forced = ep.force_end(ep.now)
    assert forced[0].reason is EndReason.FORCED
    # The override lasted one utterance only.
    for _ in range(20):
        ep.feed(LOUD)
    assert all(not ep.feed(QUIET) for _ in range(29))
    assert ep.feed(QUIET)


def test_frames_must_be_20ms_int16() -> None:
    ep = Endpointer(classifier=energy)
    with pytest.raises(ValueError, match="320"):
        ep.feed(np.zeros(160, dtype=np.int16))
    with pytest.raises(ValueError, match="320"):
        ep.feed(np.zeros(320, dtype=np.float32))


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="multiple of 20"):
        EndpointConfig(hangover_ms=250)
    with pytest.raises(ValueError, match="aggressiveness"):
        EndpointConfig(aggressiveness=4)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="#.", max_size=400), st.sampled_from([100, 200, 600]))
def test_events_alternate_and_respect_limits(pattern: str, hangover: int) -> None:
    cfg = EndpointConfig(hangover_ms=hangover, max_utterance_ms=3000)
    events = run(pattern, cfg)
    open_ = False
    for e in events:
        if isinstance(e, SpeechStart):
            assert not open_
            open_ = True
        elif isinstance(e, SpeechEnd):
            assert open_
            open_ = False
            assert e.now - e.onset <= 3.0 + 3.0 + 1e-9  # the limit, then a pause or 3 s
            if e.reason is EndReason.HANGOVER:
                assert e.now - e.end == pytest.approx(hangover / 1000)
        else:
            assert isinstance(e, Utterance)
            assert e.end - e.onset >= cfg.min_speech_ms / 1000 - 1e-9


@pytest.mark.parametrize("line", ["wideband", "telephone"])
def test_real_speech_onset_and_end(line: str) -> None:
    speech = load_vector("caller_dob.wav")
    if line == "telephone":
        speech = telephone(speech)  # a second pass through G.711, as over two hops
    audio = np.concatenate([silence(1.0), speech, silence(1.5)])
    onset = 1.0 + first_sound(speech)
    last = 1.0 + len(speech) / 16000 - first_sound(speech[::-1])
    ep = Endpointer(EndpointConfig(hangover_ms=600))
    events = [e for f in frames(audio) for e in ep.feed(f)]
    starts = [e for e in events if isinstance(e, SpeechStart)]
    utts = [e for e in events if isinstance(e, Utterance)]
    assert len(starts) == 1
    assert len(utts) == 1
    assert abs(starts[0].onset - onset) <= 0.04
    assert starts[0].now - onset <= 0.1
    # webrtcvad keeps the decaying end of the last word a little past the energy threshold.
    assert -0.05 <= utts[0].end - last <= 0.15
    assert utts[0].now - utts[0].end == pytest.approx(0.6)


def numbered_turn(ep: Endpointer) -> tuple[list[int], list[int]]:
    """One turn of 100 frames, frame i carrying its number and frames 40-59 speech: the
    frame numbers of the turn's quick audio and of the turn as recorded."""
    utterances = []
    for i in range(100):
        frame = np.full(FRAME_SAMPLES, 1000 + i if 40 <= i < 60 else i, dtype=np.int16)
        utterances += [e for e in ep.feed(frame) if isinstance(e, Utterance)]
    [utt] = utterances
    assert utt.recorded is not None
    return ([int(f[0]) % 1000 for f in frames(utt.audio, pad=False)],
            [int(f[0]) % 1000 for f in frames(utt.recorded, pad=False)])


def test_the_turn_as_recorded_keeps_the_lead_and_the_silence_the_quick_audio_cuts() -> None:
    """``recorded`` (what a careful second pass decodes) runs from lead_ms before the
    onset to the end of turn; ``audio`` from the pre-roll to the tail."""
    ep = Endpointer(EndpointConfig(hangover_ms=600, preroll_ms=200, tail_ms=100,
                                   lead_ms=500), classifier=lambda f: bool(f.max() >= 1000))
    numbers, recorded = numbered_turn(ep)
    # speech starts at 42 (3 voiced of 5): a 10-frame pre-roll, then up to the tail
    assert numbers == list(range(33, 65))
    # 25 frames (500 ms) before the onset (frame 40) instead of 10 before the trigger
    # frame, and the whole 600 ms hangover
    assert recorded == list(range(15, 90))


def test_the_turn_as_recorded_starts_100_ms_before_the_onset() -> None:
    """By default the second pass gets 100 ms before the first voiced frame, as a file
    trimmed for a recording starts, not 500 ms before the trigger frame: with that much
    silence first, Whisper's text of the same words moved with the silence alone
    (bench/speech_wer_human.py dev: the raw model's text of the file in 66 of 114 clips
    at 8 kHz, against 90 with 100 ms). Here that is less than the pre-roll."""
    ep = Endpointer(EndpointConfig(), classifier=lambda f: bool(f.max() >= 1000))
    numbers, recorded = numbered_turn(ep)
    assert numbers == list(range(33, 65))  # the quick pass's pre-roll is unchanged
    assert recorded == list(range(35, 90))


def test_lead_ms_is_checked() -> None:
    with pytest.raises(ValueError, match="lead_ms"):
        EndpointConfig(lead_ms=30)


def _numbered(i: int, kind: str = "#") -> np.ndarray:
    """Frame ``i``: voiced and carrying its own number ("#"), voiced but quiet ("q": a stop
    consonant's closure) or silent (".")."""
    value = {"#": 1000 + i, "q": 3, ".": 0}[kind]
    return np.full(FRAME_SAMPLES, value, dtype=np.int16)


def _numbers(audio: np.ndarray) -> list[int]:
    return [int(f[0]) - 1000 if f[0] >= 1000 else -int(f[0]) - 1
            for f in frames(audio, pad=False)]


def _feed(ep: Endpointer, pattern: str) -> list:
    events = [e for i, ch in enumerate(pattern) for e in ep.feed(_numbered(i, ch))]
    return events + ep.force_end(ep.now)


def test_max_length_cuts_in_a_pause_and_goes_straight_on() -> None:
    """Past max_utterance_ms the utterance ends in the longest pause (>= max_cut_pause_ms)
    of the last max_cut_search_ms, not at the frame that hit the limit (a word cut in two,
    each half decoded alone), and the speech after the cut is the next utterance: every
    frame is in exactly one utterance, none lost, none twice."""
    cfg = EndpointConfig(max_utterance_ms=2000, max_cut_search_ms=600, hangover_ms=200)
    # a 100 ms pause at 1.70-1.80 s and a 20 ms one at 1.84 s, then speech
    pattern = "#" * 85 + "....." + "##" + "." + "#" * 57
    events = _feed(Endpointer(cfg, classifier=energy), pattern)
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["SpeechStart", "SpeechEnd", "Utterance", "SpeechStart", "SpeechEnd",
                     "Utterance"]
    first, second = (e for e in events if isinstance(e, Utterance))
    assert first.reason is EndReason.MAX_LENGTH
    assert first.now == pytest.approx(2.0)  # when the limit was hit
    assert first.end == pytest.approx(1.70)  # its last voiced frame, before the pause
    assert isinstance(events[3], SpeechStart)
    assert events[3].now == first.now
    assert events[3].onset == pytest.approx(1.72)  # after the pause's quietest frame
    assert _numbers(first.audio) == [*range(85), -1]
    assert _numbers(second.audio) == [-1, -1, -1, -1, 90, 91, -1, *range(93, 150)]
    # the turn as recorded has no lead reaching back into the utterance before it
    assert _numbers(second.recorded) == _numbers(second.audio)


def test_max_length_waits_for_a_pause_then_cuts_at_the_quietest_60_ms() -> None:
    """No pause yet: the turn goes on until one comes; without one by max_cut_wait_ms, it
    takes the longest shorter pause, or with none at all the quietest 60 ms: not a single
    quiet frame (a stop consonant inside a word), but the middle of three."""
    cfg = EndpointConfig(max_utterance_ms=2000, max_cut_search_ms=600, max_cut_wait_ms=600)

    def first_turn(pattern: str) -> Utterance:
        events = _feed(Endpointer(cfg, classifier=energy), pattern)
        return next(e for e in events if isinstance(e, Utterance))

    turn = first_turn("#" * 104 + "q" + "#" * 10 + "qqq" + "#" * 30)
    assert turn.now == pytest.approx(2.6)  # waited the whole 600 ms
    assert _numbers(turn.audio)[-3:] == [114, -4, -4]  # cut after the run's middle
    turn = first_turn("#" * 110 + "....." + "#" * 30)  # a pause comes while waiting
    assert turn.now == pytest.approx(2.32)  # the frame after it reached 100 ms
    assert _numbers(turn.audio)[-2:] == [109, -1]
    turn = first_turn("#" * 110 + ".." + "#" * 30)  # only a 40 ms one
    assert turn.now == pytest.approx(2.6)
    assert _numbers(turn.audio)[-2:] == [109, -1]


def test_max_length_cut_keeps_the_first_part_long_enough_to_keep() -> None:
    """The search never reaches back past min_speech_ms after the onset: the part cut off
    is never too short to keep (its words would be dropped)."""
    cfg = EndpointConfig(max_utterance_ms=400, min_speech_ms=200, max_cut_search_ms=1000,
                         max_cut_wait_ms=200)
    events = _feed(Endpointer(cfg, classifier=energy), "####." + "#" * 60)
    end = next(e for e in events if isinstance(e, SpeechEnd))
    assert end.reason is EndReason.MAX_LENGTH
    assert end.kept
    assert end.end - end.onset >= 0.2 - 1e-9


def test_max_length_cut_lands_in_a_pause_of_real_speech() -> None:
    """Real speech whose limit falls in the middle of a loud word: the cut moves back to
    a quiet frame, and the utterances together hold the speech once."""
    speech = load_vector("caller_count_fast.wav")
    audio = np.concatenate([silence(0.5), speech, silence(1.0)])
    loudness = [float(np.sqrt(np.mean(f.astype(np.float64) ** 2))) for f in frames(audio)]
    plain = Endpointer()
    [start] = [e for f in frames(audio) for e in plain.feed(f) if isinstance(e, SpeechStart)]
    # the loudest frame past 1.5 s of speech: the limit is hit there, mid-word
    first = round(start.onset / 0.02) + 75
    loud = first + int(np.argmax(loudness[first:first + 50]))
    limit_ms = round((loud + 1) * 20 - start.onset * 1000)
    ep = Endpointer(EndpointConfig(max_utterance_ms=limit_ms))
    events = [e for f in frames(audio) for e in ep.feed(f)]
    utts = [e for e in events if isinstance(e, Utterance)]
    assert utts[0].reason is EndReason.MAX_LENGTH
    assert (loud + 1) * 0.02 <= utts[0].now <= (loud + 1) * 0.02 + 3.0 + 1e-9
    cut = round(utts[1].onset / 0.02) - 1  # the first utterance's last frame
    assert cut < loud
    assert loudness[cut] < 0.25 * loudness[loud]
    # the first turn as recorded ends at the cut, and the next one starts there
    at = (cut + 1) * FRAME_SAMPLES
    first_turn, next_turn = utts[0].recorded, utts[1].recorded
    assert np.array_equal(first_turn, audio[at - len(first_turn): at])
    assert np.array_equal(next_turn, audio[at: at + len(next_turn)])


@pytest.mark.parametrize("value", ["100", "60000", "15010"])
def test_a_turn_limit_the_recogniser_cannot_hear_is_refused_at_start(value: str) -> None:
    """speech.max_utterance_ms: at most 25 s (a turn runs up to 3 s past it to end in a
    pause; Whisper hears 30 s at once, and a 60 s limit lost the rest of the turn
    unheard), above min_speech_ms (100 stopped the runtime with a bare ValueError), in
    20 ms frames. Refused at load, with the file and the key."""
    from carrier.errors import ConfigError  # noqa: PLC0415
    from carrier.settings import load_settings  # noqa: PLC0415

    config = Path(__file__).resolve().parents[2] / "config"
    with pytest.raises(ConfigError) as err:
        load_settings(config, env={"CARRIER_SPEECH__MAX_UTTERANCE_MS": value})
    assert err.value.key == "speech.max_utterance_ms"
    assert "25000" in err.value.reason
    settings = load_settings(config, env={"CARRIER_SPEECH__MAX_UTTERANCE_MS": "25000"})
    assert settings.speech.max_utterance_ms == 25000


def test_a_negative_min_speech_is_refused_at_start() -> None:
    from carrier.errors import ConfigError  # noqa: PLC0415
    from carrier.settings import load_settings  # noqa: PLC0415

    config = Path(__file__).resolve().parents[2] / "config"
    with pytest.raises(ConfigError) as err:
        load_settings(config, env={"CARRIER_SPEECH__MIN_SPEECH_MS": "-20"})
    assert err.value.key == "speech.min_speech_ms"


def test_a_long_answer_is_one_turn_with_the_default_limit() -> None:
    """speech.max_utterance_ms as shipped (25 s): a caller's 20 s answer (what the visit
    is for, their symptoms) is one turn, ended by the silence after it. Cut at the old
    15 s, the agent answered its first half while the caller was still on the second.
    Talk that goes on past the limit is still cut, within max_cut_wait_ms of it."""
    from agent.runtime import endpoint_config  # noqa: PLC0415
    from carrier.settings import load_settings  # noqa: PLC0415

    settings = load_settings(Path(__file__).resolve().parents[2] / "config")
    cfg = endpoint_config(settings.speech)
    answer = [e for e in run("#" * 1000 + "." * 100, cfg) if isinstance(e, Utterance)]
    assert [u.reason for u in answer] == [EndReason.HANGOVER]
    assert answer[0].now - answer[0].onset == pytest.approx(20.0 + cfg.hangover_ms / 1000)
    ramble = [e for e in run("#" * 1500, cfg) if isinstance(e, Utterance)]
    assert [u.reason for u in ramble] == [EndReason.MAX_LENGTH]
    assert 25.0 <= ramble[0].now - ramble[0].onset <= 25.0 + cfg.max_cut_wait_ms / 1000
