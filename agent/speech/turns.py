"""Barge-in: the caller starts talking while the agent is speaking. Sans-IO.

The agent tells the detector when a prompt starts and stops playing and whether it may be
interrupted (a consent disclosure may not be; a menu may). A :class:`SpeechStart` from the
endpointer during interruptible playback raises :class:`BargeIn` in the same frame and calls
``cancel_playback()`` (``MediaSession.cancel_playback``, effective within one frame). With
the default endpointer trigger (3 voiced frames in 5) that is 60-100 ms after the onset.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from agent.speech.endpoint import EndpointEvent, SpeechStart


@dataclass(frozen=True, slots=True)
class BargeIn:
    onset: float  # when the caller's speech began
    now: float  # when it was detected (the frame that completed the trigger)
    interrupted: bool  # True: playback was cancelled; False: the prompt was not interruptible

    def __post_init__(self) -> None:
        if self.onset > self.now:
            raise ValueError("barge-in cannot be detected before speech begins")

    @property
    def delay(self) -> float:
        return self.now - self.onset


class BargeInDetector:
    def __init__(self, cancel_playback: Callable[[], None]) -> None:
        self._cancel = cancel_playback
        self._playing = False
        self._interruptible = False

    @property
    def playing(self) -> bool:
        return self._playing

    @property
    def interruptible(self) -> bool:
        """The prompt playing may be cut (by speech, or by a key: ``agent.voice``)."""
        return self._playing and self._interruptible

    def playback_started(self, *, interruptible: bool) -> None:
        self._playing = True
        self._interruptible = interruptible

    def set_interruptible(self, interruptible: bool) -> None:
        self._interruptible = interruptible

    def playback_finished(self) -> None:
        self._playing = False

    def on_events(self, events: Iterable[EndpointEvent]) -> list[BargeIn]:
        out: list[BargeIn] = []
        for event in events:
            if not (self._playing and isinstance(event, SpeechStart)):
                continue
            if self._interruptible:
                self._cancel()
                self._playing = False
            out.append(BargeIn(event.onset, event.now, self._interruptible))
        return out
