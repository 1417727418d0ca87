"""Decoding as a file is, and the careful second pass built on it.

A file (``carrier speech transcribe``) is decoded as the raw model decodes it
(:func:`decode_file`: faster-whisper's ``transcribe`` with its own defaults). A call's
careful second pass is that decode of the turn as recorded, and of the turn with more
silence before it (:func:`reframed`) when the model is :func:`unsure` of its text; the
:func:`surer` text is kept. ``SpeechToText.transcribe_carefully`` decodes the second
framing beside the first, for free text only, in the spare worker: a process at the
lowest CPU priority, so it takes no CPU another caller's answer wants. A spare that is
busy or not warm gives a turn one framing, and a starved one at most doubles its wait.

Why a second framing: Whisper's text of a short or narrowband turn moves with the silence
around it. On the human recordings of ``bench/speech_wer_human.py``, putting 0.5 s of
silence before each clip and 1 s after it moved the raw model's own errors by up to 11
words a split, better on some splits and worse on others (its ``padded`` column). A call
cannot know which framing suits a turn, but the model can say how sure it is of each text:
its mean log-probability per token. So a turn whose text the model is unsure of (under
``UNSURE_LOGPROB``) is also decoded with ``REFRAME_LEAD_S`` more silence before it, and
the surer of the two texts is kept. Both values were chosen on the bench's dev split only
(words wrong in the call column, 8 kHz 88 -> 83, 16 kHz 67 -> 65). The cost is the
spare's idle CPU (the second decode, of the same length, runs beside the first and is
not waited for when the first text is sure), not the caller's.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple, Protocol, TypeVar

import numpy as np

from agent.speech.audio import RATE, int16_to_float

# faster-whisper's own beam width for a file (``WhisperModel.transcribe``'s default).
FILE_BEAM_SIZE = 5
# A text whose mean log-probability per token is under this may be replaced by its second
# framing's. On the dev split 37% of the turns scored above it, texts right and wrong
# alike: the score does not tell a wrong text on its own (faster-whisper's own fallback
# is under -1.0); what it does is compare two texts of one turn. On the dev split this
# bar loses no word against comparing every turn's two texts.
UNSURE_LOGPROB = -0.4
# The silence put before a turn for its second framing (with the recording's own
# lead, about half a second of silence before the first word).
REFRAME_LEAD_S = 0.4


class FilePass(NamedTuple):
    """One decode of a recording as a file is."""

    text: str
    sure: float  # mean log-probability per token of the text (-inf: no text)
    language: str


def file_options(language: str, prompt: str | None = None,
                 beam_size: int = FILE_BEAM_SIZE) -> dict[str, Any]:
    """The keyword arguments a file is decoded with (``WhisperModel.transcribe``): the
    model's own defaults, except no VAD filter (it trims word edges) and "auto" language
    meaning Whisper's detection."""
    options: dict[str, Any] = {"language": None if language == "auto" else language,
                               "vad_filter": False, "beam_size": beam_size}
    if prompt:
        options["initial_prompt"] = prompt
    return options


def decode_file(model: Any, pcm16k: np.ndarray, options: dict[str, Any]) -> FilePass:
    """``pcm16k`` decoded by ``model`` (a faster-whisper ``WhisperModel``) as a file is,
    with how sure the model is of the text."""
    segments, info = model.transcribe(int16_to_float(pcm16k), **options)
    segments = list(segments)
    tokens = sum(len(s.tokens) for s in segments)
    sure = (sum(s.avg_logprob * len(s.tokens) for s in segments) / tokens if tokens
            else -math.inf)
    return FilePass(" ".join(s.text.strip() for s in segments).strip(), sure, info.language)


class _Heard(Protocol):
    @property
    def text(self) -> str: ...
    @property
    def avg_logprob(self) -> float: ...


_T = TypeVar("_T", bound=_Heard)


def reframed(pcm16k: np.ndarray) -> np.ndarray:
    """The turn with ``REFRAME_LEAD_S`` more silence before it: its second framing."""
    return np.concatenate([np.zeros(round(RATE * REFRAME_LEAD_S), dtype=pcm16k.dtype), pcm16k])


def unsure(first: _Heard) -> bool:
    """Whether a careful text wants its second framing: words the model is unsure of. A
    turn the model found no words in does not: words a second framing found there would
    more likely be the model's invention than the caller's."""
    return bool(first.text) and first.avg_logprob < UNSURE_LOGPROB


def surer(first: _T, again: _T | None) -> _T:
    """The text to keep of a turn's two framings: the second only when the model is surer
    of it (the first on a tie, or when the second was not decoded or found nothing)."""
    if again is None or not again.text or again.avg_logprob <= first.avg_logprob:
        return first
    return again
