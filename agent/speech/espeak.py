"""The Spanish voice: eSpeak NG (``espeakng-loader`` ships libespeak-ng and its language
data as a wheel), driven through its C API, streamed like the Piper voice.

:class:`EspeakSpeech` has :class:`agent.speech.TextToSpeech`'s interface (prompt cache,
``stream``/``synthesize``/``prepare``), so a call switches voice by switching objects.
libespeak-ng keeps one voice per process, so synthesis runs on one thread of its own.
No Piper voice for Spanish is packaged on the package index; this is the best offline
Spanish voice a declared dependency gives (see ``config/workflows/es/README.md``).
"""

from __future__ import annotations

import asyncio
import ctypes
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from agent.speech.audio import RATE, to_int16
from agent.speech.cache import PromptCache
from agent.speech.models import ModelError, VoicePaths
from agent.speech.tts import TextToSpeech, TtsConfig
from media.resample import resample

__all__ = ["SPANISH_VOICE", "EspeakSpeech", "espeak_library"]

SPANISH_VOICE = "es-419"  # Latin American Spanish
_SYNCHRONOUS = 2  # AUDIO_OUTPUT_SYNCHRONOUS: the callback receives the samples
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_RATE_PARAM = 1  # espeakRATE, words per minute
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.c_void_p)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def espeak_library() -> tuple[Path, Path]:
    """The packaged library and its data folder (``espeakng-loader``)."""
    try:
        import espeakng_loader  # noqa: PLC0415 - optional until a Spanish call is made
    except ModuleNotFoundError as exc:
        raise ModelError("Spanish voice package not installed: espeakng-loader") from exc
    library, data = Path(espeakng_loader.get_library_path()), Path(espeakng_loader.get_data_path())
    if not library.is_file() or not (data / "es_dict").is_file():
        raise ModelError("eSpeak NG files missing: reinstall espeakng-loader")
    return library, data


class _Engine:
    """libespeak-ng, initialised once for this process, synchronous output."""

    def __init__(self, voice: str, words_per_minute: int) -> None:
        library, data = espeak_library()
        self.lib = ctypes.CDLL(str(library))
        self.lib.espeak_Initialize.restype = ctypes.c_int
        self.rate = self.lib.espeak_Initialize(_SYNCHRONOUS, 0, str(data.parent).encode(), 0)
        if self.rate <= 0:
            raise ModelError("eSpeak NG did not start")
        self._chunks: list[np.ndarray] = []
        self._callback = _CALLBACK(self._collect)  # kept: the library holds the pointer
        self.lib.espeak_SetSynthCallback(self._callback)
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ModelError(f"eSpeak NG has no voice {voice!r}")
        self.lib.espeak_SetParameter(_RATE_PARAM, words_per_minute, 0)

    def _collect(self, wav: Any, count: int, _events: Any) -> int:
        if count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0

    def synthesize(self, text: str, words_per_minute: int) -> np.ndarray:
        """Blocking: ``text`` as int16 at the library's rate, spoken at that speed."""
        self.lib.espeak_SetParameter(_RATE_PARAM, words_per_minute, 0)
        self._chunks = []
        data = text.encode("utf-8") + b"\0"
        self.lib.espeak_Synth(data, ctypes.c_size_t(len(data)), 0, _POS_CHARACTER, 0,
                              _CHARS_UTF8, None, None)
        self.lib.espeak_Synchronize()
        chunks, self._chunks = self._chunks, []
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)


class EspeakSpeech(TextToSpeech):
    """A voice for one language with ``TextToSpeech``'s interface (``voice_id`` names it,
    and keys its prompt cache)."""

    def __init__(self, cache: PromptCache | None = None, *, voice: str = SPANISH_VOICE,
                 words_per_minute: int = 160, config: TtsConfig | None = None) -> None:
        voice_id = f"espeak-ng-{voice}"
        super().__init__(cache if cache is not None else PromptCache(None, voice_id),
                         config=config, voice=VoicePaths(voice_id, Path(), Path()))
        self.voice_name = voice
        self.words_per_minute = words_per_minute

    async def start(self) -> None:
        if self._voice is not None:
            return
        self._executor = ThreadPoolExecutor(1, "tts-espeak")
        loop = asyncio.get_running_loop()
        self._voice = await loop.run_in_executor(
            self._executor, _Engine, self.voice_name, self.words_per_minute)

    def _sentences(self, text: str, pace: float = 1.0) -> Iterator[np.ndarray]:
        """As Piper's, a slower ``pace`` as fewer words per minute."""
        if self._voice is None:
            raise RuntimeError("text-to-speech is not started")
        engine: _Engine = self._voice
        gap = np.zeros(RATE * self.config.sentence_gap_ms // 1000, dtype=np.int16)
        for sentence in _SENTENCE.split(text.strip()):
            if not sentence:
                continue
            pcm = engine.synthesize(sentence, round(self.words_per_minute / pace))
            self.synth_calls += 1
            yield np.concatenate([to_int16(resample(pcm.astype(np.float32), engine.rate, RATE)),
                                  gap])
