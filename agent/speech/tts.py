"""Text-to-speech: Piper with the packaged voice, streamed as 20 ms 16 kHz frames.

Piper synthesises one sentence at a time; each sentence is resampled from the voice's rate
(22.05 kHz) to 16 kHz and cut into 320-sample frames as soon as it is ready, so a long reply
starts playing after its first sentence. Synthesis runs in a thread: onnxruntime releases
the GIL while it computes, so the event loop stays on time (``intra_op_threads`` bounds the
cores it takes). Prompts go through the :class:`PromptCache`: a cached prompt streams at
once, and :meth:`TextToSpeech.prepare` fills the cache ahead of need (a workflow's fixed
prompts at start-up, a scheduled call's filled prompts before it is dialled).

A prompt may be said at a slower pace than the voice's own (``pace`` 1.3: 30% longer; a
caller asked for it): Piper's length scale is multiplied by it for that synthesis only,
and the cache keeps that recording apart from the one at the voice's own pace.

Piper starts every utterance with 40-60 ms of near silence; a prompt's leading silence is
cut to ``lead_in_ms`` before it is framed (and cached), so the first frame sent carries the
start of the voice: that silence was reply latency the caller heard as a pause.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from agent.speech.audio import RATE, to_int16
from agent.speech.cache import PromptCache
from agent.speech.models import VoicePaths, piper_voice_paths
from media.framing import FrameCutter, frame_stream
from media.resample import resample

__all__ = ["TextToSpeech", "TtsConfig", "frame_stream", "load_voice", "split_first_clause",
           "trim_leading_silence"]


@dataclass(frozen=True, slots=True)
class TtsConfig:
    intra_op_threads: int = 2
    synth_threads: int = 1  # concurrent syntheses (one voice session is shared)
    sentence_gap_ms: int = 120
    # A long first sentence is synthesised in two pieces, split at its first comma, so
    # its first words play sooner (Piper's cost grows with the sentence). 0 disables.
    first_clause_words: int = 8
    # Silence kept before the first voiced sample of a prompt (the rest of Piper's lead-in
    # silence is dropped); a negative value keeps the lead-in as synthesised.
    lead_in_ms: int = 10
    use_cuda: bool = False
    # Spinning onnxruntime threads cut ~15 ms off a short sentence here but burn the cores
    # the STT workers need between syntheses; off by default.
    allow_spinning: bool = False

    def __post_init__(self) -> None:
        if self.intra_op_threads < 1 or self.synth_threads < 1 or self.sentence_gap_ms < 0:
            raise ValueError("thread counts must be >= 1 and the gap >= 0")


def load_voice(paths: VoicePaths, config: TtsConfig) -> Any:
    import onnxruntime  # noqa: PLC0415 - heavy import, only where speech is made
    from piper import PiperVoice  # noqa: PLC0415
    from piper.config import PiperConfig  # noqa: PLC0415

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = config.intra_op_threads
    options.inter_op_num_threads = 1
    spin = "1" if config.allow_spinning else "0"
    options.add_session_config_entry("session.intra_op.allow_spinning", spin)
    providers = ["CUDAExecutionProvider"] if config.use_cuda else ["CPUExecutionProvider"]
    session = onnxruntime.InferenceSession(
        str(paths.model), sess_options=options, providers=providers
    )
    with paths.config.open(encoding="utf-8") as f:
        piper_config = PiperConfig.from_dict(json.load(f))
    return PiperVoice(session=session, config=piper_config)


_VOICED = 200  # int16 amplitude: above Piper's lead-in noise, below a soft onset


def trim_leading_silence(pcm: np.ndarray, keep_ms: int) -> np.ndarray:
    """``pcm`` from ``keep_ms`` before its first voiced sample (all of it if none is)."""
    if keep_ms < 0:
        return pcm
    voiced = np.flatnonzero(np.abs(pcm.astype(np.int32)) > _VOICED)
    if not len(voiced):
        return pcm
    return pcm[max(0, int(voiced[0]) - RATE * keep_ms // 1000):]


_CLAUSE = re.compile(r"^(\S+(?:\s+\S+){0,5}?[,;:])\s+(.+)$", re.S)
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")


def split_first_clause(text: str, min_words: int) -> list[str]:
    """Split a long first sentence at its first comma (1-6 words in): ``[clause, rest]``."""
    text = text.strip()
    if min_words <= 0:
        return [text]
    end = _SENTENCE_END.search(text)
    first = text[: end.end()] if end else text
    if len(first.split()) < min_words:
        return [text]
    match = _CLAUSE.match(text)
    if match is None or (end is not None and len(match.group(1)) > end.start()):
        return [text]
    return [match.group(1), match.group(2)]


class TextToSpeech:
    def __init__(
        self,
        cache: PromptCache | None = None,
        *,
        config: TtsConfig | None = None,
        voice: VoicePaths | None = None,
    ) -> None:
        self.config = config or TtsConfig()
        self.paths = voice or piper_voice_paths()
        self.cache = cache if cache is not None else PromptCache(None, self.paths.voice_id)
        self.synth_calls = 0  # sentences synthesised (the cache test counts these)
        self._voice: Any = None
        self._executor: ThreadPoolExecutor | None = None

    @property
    def voice_id(self) -> str:
        return self.paths.voice_id

    async def start(self) -> None:
        if self._voice is not None:
            return
        self._executor = ThreadPoolExecutor(self.config.synth_threads, "tts")
        loop = asyncio.get_running_loop()
        self._voice = await loop.run_in_executor(
            self._executor, load_voice, self.paths, self.config
        )
        await loop.run_in_executor(self._executor, lambda: list(self._sentences("Hello.")))
        self.synth_calls = 0

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        self._voice = None

    def _sentences(self, text: str, pace: float = 1.0) -> Iterator[np.ndarray]:
        """Blocking: int16 16 kHz audio per sentence, with a short gap after each;
        ``pace`` above 1 is slower (Piper's length scale times ``pace``)."""
        if self._voice is None:
            raise RuntimeError("text-to-speech is not started")
        rate = self._voice.config.sample_rate
        paced = None
        if pace != 1.0:
            from piper.config import SynthesisConfig  # noqa: PLC0415 - where speech is made

            paced = SynthesisConfig(length_scale=self._voice.config.length_scale * pace)
        gap = np.zeros(RATE * self.config.sentence_gap_ms // 1000, dtype=np.int16)
        first = True
        for part in split_first_clause(text, self.config.first_clause_words):
            for chunk in self._voice.synthesize(part, syn_config=paced):
                self.synth_calls += 1
                pcm = to_int16(resample(chunk.audio_float_array * 32767.0, rate, RATE))
                if first:
                    pcm = trim_leading_silence(pcm, self.config.lead_in_ms)
                    first = False
                yield np.concatenate([pcm, gap])

    async def stream(self, text: str, *, persist: bool = True, pace: float = 1.0
                     ) -> AsyncIterator[np.ndarray]:
        """20 ms frames of ``text`` as they are synthesised (or at once from the cache).
        ``persist=False``: cache in memory only (the text carries PHI)."""
        cached = self.cache.get(text, pace=pace)
        if cached is not None:
            for frame in frame_stream([cached]):
                yield frame
            return
        loop = asyncio.get_running_loop()
        sentences = self._sentences(text, pace)
        produced: list[np.ndarray] = []

        def next_sentence() -> np.ndarray | None:
            return next(sentences, None)

        cutter = FrameCutter()
        while True:
            pcm = await loop.run_in_executor(self._executor, next_sentence)
            if pcm is None:
                break
            produced.append(pcm)
            for frame in cutter.push(pcm):
                yield frame
        for frame in cutter.flush():
            yield frame
        if produced:
            self.cache.put(text, np.concatenate(produced), persist=persist, pace=pace)

    async def synthesize(self, text: str, *, persist: bool = True, pace: float = 1.0
                         ) -> np.ndarray:
        """The whole prompt as int16 16 kHz (cached)."""
        cached = self.cache.get(text, pace=pace)
        if cached is not None:
            return cached
        loop = asyncio.get_running_loop()
        pcm = await loop.run_in_executor(self._executor, self._synthesize_all, text, pace)
        self.cache.put(text, pcm, persist=persist, pace=pace)
        return pcm

    def _synthesize_all(self, text: str, pace: float = 1.0) -> np.ndarray:
        parts = list(self._sentences(text, pace))
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)

    async def prepare(self, texts: Iterable[str], *, persist: bool = True, pace: float = 1.0
                      ) -> int:
        """Synthesise every text not yet cached at ``pace``; returns how many were made."""
        made = 0
        for text in dict.fromkeys(texts):
            if self.cache.has(text, pace=pace):
                continue
            await self.synthesize(text, persist=persist, pace=pace)
            made += 1
        return made
