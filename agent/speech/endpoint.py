"""Endpointing: where a caller's utterance starts and ends, from 20 ms frames. Sans-IO.

webrtcvad classifies each 20 ms frame (16 kHz PCM16) as voiced or not. Speech starts when
``start_voiced_ms`` of the last ``start_window_ms`` are voiced (a few voiced frames, so a
click does not start a turn); it ends after ``hangover_ms`` without a voiced frame. An
utterance shorter than ``min_speech_ms`` is dropped (a cough, a line click); one longer than
``max_utterance_ms`` is cut in a pause (a gap between words, not the middle of one) and
the speech after the cut goes straight on as the next utterance, with no words lost or
heard twice. Time comes from the caller: each frame carries ``now`` (the time at its end),
or frames are counted from zero, so tests are deterministic.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Literal

import numpy as np

from agent.speech.audio import FRAME_SAMPLES, RATE

FRAME_S = FRAME_SAMPLES / RATE


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    vad: Literal["webrtc", "silero"] = "webrtc"  # media.vad engine (speech.vad chooses)
    aggressiveness: int = 2
    start_window_ms: int = 100
    start_voiced_ms: int = 60
    hangover_ms: int = 600
    min_speech_ms: int = 200
    # 25 s, not 15: a caller's long answer (what the visit is for, their symptoms) is one
    # turn, heard and decoded whole as the recording of it would be, and the agent does
    # not answer its first half while the caller is still on the second. The limit stays
    # below Whisper's 30 s window (a cut may wait max_cut_wait_ms for a pause).
    max_utterance_ms: int = 25_000
    preroll_ms: int = 200
    tail_ms: int = 100
    # The turn as recorded (``Utterance.recorded``, what a careful second pass decodes)
    # starts this long before the onset (the first voiced frame) and runs to the end of
    # turn, so no word edge the VAD called silence is cut off. 100 ms, as a recording
    # trimmed for a file starts: with 500 ms before the trigger frame (about 440 ms before
    # the onset) Whisper's text of the same words moved with the silence alone, and at
    # 8 kHz the second pass wrote the raw model's text of the file for 66 of 114
    # bench/speech_wer_human.py dev clips, against 90 with 100 ms (16 kHz: 31 and 41 of
    # 45). Not the bench's digital silence: padded with line noise instead, 34 vs 35 of 60.
    lead_ms: int = 100
    # Frames quieter than this RMS (about -50 dBFS) are silence whatever webrtcvad says:
    # its noise model needs time to adapt and fires on line hiss at the start of a call.
    min_rms: float = 100.0
    # An utterance at max_utterance_ms is cut in a pause (``_cut_at_max_length``): one
    # of at least max_cut_pause_ms in its last max_cut_search_ms, or the first to come
    # within max_cut_wait_ms past the limit. Cut at the frame that hit the limit, a word
    # was split in two and each half decoded alone: 7 of the 270 held-out human
    # recordings on bench/speech_wer_human.py run past 15 s. A shorter unvoiced run is
    # often a stop consonant inside a word ("the st|airs"), heard as another word.
    max_cut_search_ms: int = 1000
    max_cut_pause_ms: int = 100
    max_cut_wait_ms: int = 3000

    def __post_init__(self) -> None:
        if self.vad not in ("webrtc", "silero"):
            raise ValueError("vad must be webrtc or silero")
        if self.aggressiveness not in (0, 1, 2, 3):
            raise ValueError("aggressiveness must be 0..3")
        for name in ("start_window_ms", "start_voiced_ms", "hangover_ms", "preroll_ms"):
            value = getattr(self, name)
            if value < 20 or value % 20:
                raise ValueError(f"{name} must be a positive multiple of 20 ms")
        if self.lead_ms < 0 or self.lead_ms % 20:
            raise ValueError("lead_ms must be a multiple of 20 ms")
        if self.start_voiced_ms > self.start_window_ms:
            raise ValueError("start_voiced_ms cannot exceed start_window_ms")
        if self.max_utterance_ms <= self.min_speech_ms:
            raise ValueError("max_utterance_ms must exceed min_speech_ms")
        for name in ("max_cut_search_ms", "max_cut_pause_ms", "max_cut_wait_ms"):
            if getattr(self, name) < 0 or getattr(self, name) % 20:
                raise ValueError(f"{name} must be a multiple of 20 ms")


class EndReason(Enum):
    HANGOVER = "hangover"
    MAX_LENGTH = "max_length"
    FORCED = "forced"


@dataclass(frozen=True, slots=True)
class SpeechStart:
    onset: float  # start of the first voiced frame of the trigger window
    now: float

    def __post_init__(self) -> None:
        if self.onset > self.now:
            raise ValueError("speech cannot start after it is detected")


@dataclass(frozen=True, slots=True)
class SpeechEnd:
    onset: float
    end: float  # end of the last voiced frame
    now: float
    reason: EndReason
    kept: bool  # False: shorter than min_speech_ms, no Utterance follows

    def __post_init__(self) -> None:
        if not self.onset <= self.end <= self.now:
            raise ValueError("speech end must lie between onset and now")


@dataclass(frozen=True, slots=True, eq=False)
class Utterance:
    audio: np.ndarray  # int16 16 kHz, pre-roll + speech + tail_ms of silence
    onset: float
    end: float
    now: float
    reason: EndReason
    # from lead_ms before the onset (no further back than the audio kept) + speech + all
    # the silence up to the end of turn (None: as ``audio``)
    recorded: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.audio.dtype != np.int16 or self.audio.ndim != 1:
            raise ValueError("utterance audio must be mono int16")

    @property
    def speech_s(self) -> float:
        return self.end - self.onset


EndpointEvent = SpeechStart | SpeechEnd | Utterance
Classifier = Callable[[np.ndarray], bool]


def webrtc_classifier(aggressiveness: int, min_rms: float = 0.0) -> Classifier:
    from media.vad import VoiceActivity  # noqa: PLC0415 - the one VAD (media)

    return VoiceActivity(aggressiveness, min_rms=min_rms).is_speech


def vad_classifier(config: EndpointConfig) -> Classifier:
    from media.vad import voice_activity  # noqa: PLC0415 - the one VAD (media)

    return voice_activity(config.vad, aggressiveness=config.aggressiveness,
                          min_rms=config.min_rms).is_speech


class Endpointer:
    def __init__(
        self, config: EndpointConfig | None = None, *, classifier: Classifier | None = None
    ) -> None:
        self.config = config or EndpointConfig()
        self._classify = classifier or vad_classifier(self.config)
        self._frames_seen = 0
        window = self.config.start_window_ms // 20
        self._window: deque[bool] = deque(maxlen=window)
        self._preroll_frames = max(window, self.config.preroll_ms // 20)
        # the onset is up to a trigger window before the frame that starts the turn
        self._preroll: deque[np.ndarray] = deque(
            maxlen=max(self._preroll_frames, window + self.config.lead_ms // 20))
        self._speech: list[np.ndarray] | None = None
        self._flags: list[bool] = []  # voiced or not, frame by frame with _speech
        self._lead: list[np.ndarray] = []  # recorded before the pre-roll (lead_ms)
        self._skip = 0  # pre-roll frames before the lead, left out of the turn as recorded
        self._onset = 0.0
        self._last_voiced_end = 0.0
        self._silence_frames = 0
        self._voiced_ms = 0
        self._hangover_ms = self.config.hangover_ms
        self.last_voiced = False
        self.now = 0.0  # time at the end of the last frame fed

    @property
    def in_speech(self) -> bool:
        return self._speech is not None

    @property
    def trailing_silence_ms(self) -> int:
        return self._silence_frames * 20 if self.in_speech else 0

    @property
    def onset(self) -> float:
        return self._onset

    @property
    def last_voiced_end(self) -> float:
        return self._last_voiced_end

    def set_hangover(self, hangover_ms: int) -> None:
        """Change the hangover for the current utterance only (early end of turn)."""
        if hangover_ms < 20:
            raise ValueError("hangover must be at least one frame")
        self._hangover_ms = hangover_ms

    def audio_so_far(self) -> np.ndarray:
        """The current utterance up to its last voiced frame plus the tail."""
        if self._speech is None:
            return np.zeros(0, dtype=np.int16)
        keep = len(self._speech) - max(0, self._silence_frames - self.config.tail_ms // 20)
        return np.concatenate(self._speech[:keep]) if keep else np.zeros(0, dtype=np.int16)

    def recorded_so_far(self) -> np.ndarray:
        """The current utterance as recorded so far (``Utterance.recorded`` were it to end
        now: from ``lead_ms`` before the onset, with the silence after the last voice)."""
        if self._speech is None:
            return np.zeros(0, dtype=np.int16)
        skip = min(self._skip, len(self._speech) - 1)
        return np.concatenate(self._lead + self._speech[skip:])

    @property
    def hangover_ms(self) -> int:
        """The silence that ends the current utterance (``set_hangover`` moves it)."""
        return self._hangover_ms

    def feed(self, frame: np.ndarray, now: float | None = None) -> list[EndpointEvent]:
        if frame.shape != (FRAME_SAMPLES,) or frame.dtype != np.int16:
            raise ValueError("frames must be 320 int16 samples (20 ms at 16 kHz)")
        self._frames_seen += 1
        if now is None:
            now = self._frames_seen * FRAME_S
        self.now = now
        voiced = self._classify(frame)
        self.last_voiced = voiced
        if self._speech is None:
            return self._feed_idle(frame, voiced, now)
        return self._feed_speech(frame, voiced, now)

    def force_end(self, now: float) -> list[EndpointEvent]:
        """End the current utterance now (the workflow already has its answer)."""
        if self._speech is None:
            return []
        return self._finish(now, EndReason.FORCED)

    def _feed_idle(self, frame: np.ndarray, voiced: bool, now: float) -> list[EndpointEvent]:
        self._window.append(voiced)
        self._preroll.append(frame)
        if sum(self._window) * 20 < self.config.start_voiced_ms:
            return []
        first = list(self._window).index(True)
        frames_back = len(self._window) - first
        self._onset = now - frames_back * FRAME_S
        self._last_voiced_end = now
        before = list(self._preroll)
        cut = max(0, len(before) - self._preroll_frames)
        start = max(0, len(before) - frames_back - self.config.lead_ms // 20)
        self._lead, self._speech = before[min(start, cut):cut], before[cut:]
        self._skip = max(0, start - cut)
        known = list(self._window)[-len(self._speech):]
        self._flags = [False] * (len(self._speech) - len(known)) + known
        self._voiced_ms = sum(self._window) * 20
        self._silence_frames = 0
        self._window.clear()
        self._preroll.clear()
        return [SpeechStart(onset=round(self._onset, 6), now=now)]

    def _feed_speech(self, frame: np.ndarray, voiced: bool, now: float) -> list[EndpointEvent]:
        assert self._speech is not None
        self._speech.append(frame)
        self._flags.append(voiced)
        if voiced:
            self._silence_frames = 0
            self._last_voiced_end = now
            self._voiced_ms += 20
        else:
            self._silence_frames += 1
        if (now - self._onset) * 1000 >= self.config.max_utterance_ms - 1e-6:
            events = self._cut_at_max_length(now)
            if events:
                return events
        if self._silence_frames * 20 >= self._hangover_ms:
            return self._finish(now, EndReason.HANGOVER)
        return []

    def _cut_at_max_length(self, now: float) -> list[EndpointEvent]:
        """Past ``max_utterance_ms``: end the utterance in a pause and start the next one
        right there, so no word is cut in two or lost. The candidates run from
        ``max_cut_search_ms`` before the limit to the frame before this one (never so
        far back that what is cut off is too short to keep). The first run of unvoiced
        frames at least ``max_cut_pause_ms`` long among them (the longest, the latest of
        equals) is cut after its quietest frame; with none, the turn waits for one up
        to ``max_cut_wait_ms`` past the limit, then takes the longest shorter run, or
        with none the quietest 60 ms (a closure inside a word is quiet for a frame or
        two, not three)."""
        speech, flags = self._speech, self._flags
        assert speech is not None
        cfg = self.config
        past_ms = (now - self._onset) * 1000 - cfg.max_utterance_ms  # >= 0 here
        back = min(cfg.max_cut_search_ms + past_ms, (now - self._onset) * 1000
                   - cfg.min_speech_ms)
        first = len(speech) - 1 - max(0, min(round(back / 20), len(speech) - 1))
        if first >= len(speech) - 1 or cfg.max_cut_search_ms == 0:
            return self._finish(now, EndReason.MAX_LENGTH)
        best, run, best_len = -1, 0, 0
        for i in range(first, len(speech) - 1):
            run = 0 if flags[i] else run + 1
            if run and run >= best_len:
                best, best_len = i, run  # the run's last frame
        waited = past_ms >= cfg.max_cut_wait_ms - 1e-6
        if best_len * 20 < cfg.max_cut_pause_ms and not waited:
            return []  # no pause yet: wait for one
        energy = np.array([float(np.square(f.astype(np.float32)).mean())
                           for f in speech[first:-1]])
        if best >= 0:
            # the quietest frame of the pause, give or take two frames: the VAD's verdict
            # trails the sound by a frame or two
            lo, hi = max(first, best - best_len - 1), min(len(speech) - 2, best + 2)
            best = lo + int(np.argmin(energy[lo - first:hi - first + 1]))
        else:
            smooth = np.convolve(energy, np.ones(3), mode="same")
            best = first + int(np.argmin(smooth))
        return self._split(best, now)

    def _split(self, cut: int, now: float) -> list[EndpointEvent]:
        """End the utterance after ``speech[cut]``; the frames after it go on at once as
        the next utterance (no lead: nothing of this one is heard twice)."""
        speech, flags = self._speech, self._flags
        assert speech is not None
        rest, rest_flags = speech[cut + 1:], flags[cut + 1:]
        cut_end = round(now - len(rest) * FRAME_S, 6)

        def voiced_end(upto: int) -> tuple[float, int]:
            """End of the last voiced frame at or before ``upto``, and the unvoiced
            frames after it (``cut_end`` and 0 for none)."""
            last = next((i for i in range(upto, -1, -1) if flags[i]), None)
            if last is None:
                return cut_end, 0
            return round(now - (len(speech) - 1 - last) * FRAME_S, 6), upto - last

        self._speech = speech[:cut + 1]
        self._last_voiced_end, self._silence_frames = voiced_end(cut)
        events = self._finish(cut_end, EndReason.MAX_LENGTH)
        events = [dataclasses.replace(e, now=now) for e in events]
        self._speech, self._flags, self._lead, self._skip = rest, rest_flags, [], 0
        self._onset = cut_end
        end, silence = voiced_end(len(speech) - 1)
        self._last_voiced_end = max(end, cut_end)
        self._silence_frames = min(silence, len(rest))
        return [*events, SpeechStart(onset=cut_end, now=now)]

    def _finish(self, now: float, reason: EndReason) -> list[EndpointEvent]:
        audio = self.audio_so_far()
        assert self._speech is not None
        recorded = self.recorded_so_far()
        onset, end = round(self._onset, 6), round(self._last_voiced_end, 6)
        kept = (end - onset) * 1000 >= self.config.min_speech_ms - 1e-6
        self._speech = None
        self._flags = []
        self._lead = []
        self._skip = 0
        self._silence_frames = 0
        self._hangover_ms = self.config.hangover_ms
        events: list[EndpointEvent] = [SpeechEnd(onset, end, now, reason, kept)]
        if kept:
            events.append(Utterance(audio, onset, end, now, reason, recorded))
        return events
