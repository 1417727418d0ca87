"""Decoding as a file is, and the careful second pass built on it.

A file (``carrier speech transcribe``) is decoded as the raw model decodes it
(:func:`decode_file`: faster-whisper's ``transcribe`` with its own defaults). A call's
careful second pass (:func:`decode_careful`) is that decode of the turn as recorded, and
once more with more silence before it when the model is unsure of its text.

Why a second framing: Whisper's text of a short or narrowband turn moves with the silence
around it. On the human recordings of ``bench/speech_wer_human.py``, putting 0.5 s of
silence before each clip and 1 s after it moved the raw model's own errors by up to 11
words a split, better on some splits and worse on others (its ``padded`` column). A call
cannot know which framing suits a turn, but the model can say how sure it is of each text:
its mean log-probability per token. So a turn whose text the model is unsure of (under
``UNSURE_LOGPROB``) is decoded again with ``REFRAME_LEAD_S`` more silence before it, and
the surer of the two texts is kept. Both values were chosen on the bench's dev split only
(words wrong in the call column, 8 kHz 88 -> 83, 16 kHz 67 -> 65). A turn the model is
sure of costs nothing more; an unsure one costs a second decode of the same length.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from agent.speech.audio import RATE, int16_to_float

# faster-whisper's own beam width for a file (``WhisperModel.transcribe``'s default).
FILE_BEAM_SIZE = 5
# A text whose mean log-probability per token is under this is decoded again. On the dev
# split 37% of the turns scored above it, texts right and wrong alike: the score does not
# tell a wrong text on its own (faster-whisper's own fallback is under -1.0); what it
# does is compare two texts of one turn. The bar saves those turns their second decode
# and, on the dev split, loses no word against decoding every turn twice.
UNSURE_LOGPROB = -0.4
# The silence put before an unsure turn for its second decode (with the recording's own
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


def decode_careful(model: Any, pcm16k: np.ndarray, options: dict[str, Any]
                   ) -> tuple[FilePass, bool]:
    """The turn decoded as a file is; if the model is unsure of a text it found, decoded
    again with ``REFRAME_LEAD_S`` more silence before it. The surer text (the first on a
    tie) and whether it was decoded twice. A turn the model found no words in is not
    decoded again: words a second framing found there would more likely be the model's
    invention than the caller's."""
    first = decode_file(model, pcm16k, options)
    if not first.text or first.sure >= UNSURE_LOGPROB:
        return first, False
    lead = np.zeros(round(RATE * REFRAME_LEAD_S), dtype=pcm16k.dtype)
    again = decode_file(model, np.concatenate([lead, pcm16k]), options)
    return (again if again.sure > first.sure else first), True
