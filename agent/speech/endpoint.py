"""Endpointing: where a caller's utterance starts and ends, from 20 ms frames. Sans-IO.

webrtcvad classifies each 20 ms frame (16 kHz PCM16) as voiced or not. Speech starts when
``start_voiced_ms`` of the last ``start_window_ms`` are voiced (a few voiced frames, so a
click does not start a turn); it ends after ``hangover_ms`` without a voiced frame. An
utterance shorter than ``min_speech_ms`` is dropped (a cough, a line click); one longer than
``max_utterance_ms`` is cut at the quietest 20 ms of its last ``max_cut_search_ms`` (a gap
between words, not the middle of one) and the speech after the cut goes straight on as the
next utterance, with no words lost or heard twice. Time comes from the caller: each frame
carries ``now`` (the time at its end), or frames are counted from zero, so tests are
deterministic.
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
    max_utterance_ms: int = 15_000
    preroll_ms: int = 200
    tail_ms: int = 100
    # The turn as recorded (``Utterance.recorded``, what a careful second pass decodes)
    # starts this long before the onset, not only the pre-roll, and runs to the end of
    # turn: no word edge the VAD called silence is cut off.
    lead_ms: int = 500
    # Frames quieter than this RMS (about -50 dBFS) are silence whatever webrtcvad says:
    # its noise model needs time to adapt and fires on line hiss at the start of a call.
    min_rms: float = 100.0
    # An utterance at max_utterance_ms is cut where its last this-many ms are quietest.
    # Cut at the frame that hit the limit, a word was split in two and each half decoded
    # alone: 7 of the 270 held-out human recordings on bench/speech_wer_human.py run past
    # 15 s, and each lost words at the cut.
    max_cut_search_ms: int = 1000

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
        if self.max_cut_search_ms < 0 or self.max_cut_search_ms % 20:
            raise ValueError("max_cut_search_ms must be a multiple of 20 ms")


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
    # lead_ms before the onset + speech + all the silence up to the end of turn (None:
    # as ``audio``)
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
        self._preroll: deque[np.ndarray] = deque(
            maxlen=max(self._preroll_frames, self.config.lead_ms // 20))
        self._speech: list[np.ndarray] | None = None
        self._lead: list[np.ndarray] = []  # recorded before the pre-roll (lead_ms)
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
        self._lead, self._speech = before[:cut], before[cut:]
        self._voiced_ms = sum(self._window) * 20
        self._silence_frames = 0
        self._window.clear()
        self._preroll.clear()
        return [SpeechStart(onset=round(self._onset, 6), now=now)]

    def _feed_speech(self, frame: np.ndarray, voiced: bool, now: float) -> list[EndpointEvent]:
        assert self._speech is not None
        self._speech.append(frame)
        if voiced:
            self._silence_frames = 0
            self._last_voiced_end = now
            self._voiced_ms += 20
        else:
            self._silence_frames += 1
        if (now - self._onset) * 1000 >= self.config.max_utterance_ms - 1e-6:
            return self._cut_at_max_length(now)
        if self._silence_frames * 20 >= self._hangover_ms:
            return self._finish(now, EndReason.HANGOVER)
        return []

    def _cut_at_max_length(self, now: float) -> list[EndpointEvent]:
        """End the utterance at the quietest frame of its last ``max_cut_search_ms`` (never
        the frame just fed); the frames after that one start the next utterance at once.
        The search never reaches back so far that what is cut off is too short to keep."""
        speech = self._speech
        assert speech is not None
        cfg = self.config
        search = min(cfg.max_cut_search_ms, cfg.max_utterance_ms - cfg.min_speech_ms) // 20
        search = max(0, min(search, len(speech) - 1))
        if search == 0:
            return self._finish(now, EndReason.MAX_LENGTH)
        first = len(speech) - 1 - search
        energies = [float(np.square(f.astype(np.float32)).mean()) for f in speech[first:-1]]
        cut = first + int(np.argmin(energies))  # the last frame of this utterance
        rest = speech[cut + 1:]
        cut_end = round(now - len(rest) * FRAME_S, 6)
        voiced_end, silence = self._last_voiced_end, self._silence_frames
        self._speech = speech[:cut + 1]
        # this utterance's voiced speech ends at the cut at the latest
        self._last_voiced_end = min(voiced_end, cut_end)
        self._silence_frames = max(0, silence - len(rest))
        events = self._finish(cut_end, EndReason.MAX_LENGTH)
        events = [dataclasses.replace(e, now=now) for e in events]
        self._speech, self._lead = rest, []
        self._onset = cut_end
        self._last_voiced_end = max(voiced_end, cut_end)
        self._silence_frames = min(silence, len(rest))
        return [*events, SpeechStart(onset=cut_end, now=now)]

    def _finish(self, now: float, reason: EndReason) -> list[EndpointEvent]:
        audio = self.audio_so_far()
        assert self._speech is not None
        recorded = np.concatenate(self._lead + self._speech)
        onset, end = round(self._onset, 6), round(self._last_voiced_end, 6)
        kept = (end - onset) * 1000 >= self.config.min_speech_ms - 1e-6
        self._speech = None
        self._lead = []
        self._silence_frames = 0
        self._hangover_ms = self.config.hangover_ms
        events: list[EndpointEvent] = [SpeechEnd(onset, end, now, reason, kept)]
        if kept:
            events.append(Utterance(audio, onset, end, now, reason, recorded))
        return events
