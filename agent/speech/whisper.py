"""The in-process Whisper engine (runs inside an STT worker process, or directly in tools).

Why not just ``WhisperModel.transcribe``: it always pads the audio to Whisper's 30 s window,
so every utterance costs a full 30 s encoder pass (about 0.8 s of the 1.1 s it takes here),
however short it is. CTranslate2 accepts a shorter encoder input, so this engine encodes a
``window_s`` window instead (10 s by default; the utterance plus a little silence if longer).
On its own a short window makes Whisper loop ("No. No. No. ..."), so the decode length is
bounded by the audio's duration and a transcript made of one phrase repeated is collapsed
to one copy. ``window_s=30`` behaves like the stock model, and :meth:`transcribe_stock` is
the stock path itself (the bench compares the two on the labelled corpus).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent.speech.audio import RATE, int16_to_float

_HOP = 160  # samples per mel frame
_MAX_FRAMES = 3000
_TOKENS_PER_SECOND = 10  # generous: speech runs at 2-4 words (~3-6 tokens) a second
_PROMPT_TOKENS = 100
# The languages a call may be in: first-turn detection picks between these only.
DETECTABLE = ("en", "es")


@dataclass(frozen=True, slots=True)
class Hints:
    """What the workflow expects to hear in this state; steers Whisper's decoder.

    ``expected`` are answers the state understands ("yes", "no", a date), ``vocabulary``
    rare words (clinic and drug names). Both go into the decoder's previous-text context.
    """

    expected: tuple[str, ...] = ()
    vocabulary: tuple[str, ...] = ()
    # The call's language for this turn ("en", "es"); "auto": Whisper detects it (between
    # DETECTABLE); None: the engine's configured language.
    language: str | None = None

    def __post_init__(self) -> None:
        for item in (*self.expected, *self.vocabulary):
            if not isinstance(item, str):
                raise TypeError("hints must be strings")

    def prompt(self) -> str | None:
        words = [w.strip() for w in (*self.vocabulary, *self.expected) if w.strip()]
        return ", ".join(words) + "." if words else None


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    audio_s: float
    compute_s: float
    no_speech_prob: float = 0.0
    cpu_s: float = 0.0  # CPU time of the worker process (all its threads) for this request
    language: str = ""  # what it was transcribed as ("" where not known)

    def __post_init__(self) -> None:
        if self.audio_s < 0 or self.compute_s < 0:
            raise ValueError("durations must be non-negative")


@dataclass(frozen=True, slots=True)
class SttConfig:
    """Speech-to-text settings (wired to ``carrier.settings`` by the lead)."""

    model_dir: Path
    device: str = "auto"  # auto | cpu | cuda
    compute_type: str = "int8"
    workers: int = 1
    cpu_threads: int = 0  # 0: the machine's cores shared evenly between the workers
    beam_size: int = 1
    language: str = "en"
    window_s: float = 10.0
    # Under load (every worker busy when a request is sent) a shorter window: about 2x
    # cheaper, slightly less accurate. 0 keeps window_s always.
    busy_window_s: float = 4.0
    no_speech_threshold: float = 0.6
    stock: bool = False  # True: faster-whisper's own 30 s window path (slower; comparison)

    def __post_init__(self) -> None:
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, not {self.device!r}")
        if self.workers < 1 or self.beam_size < 1 or self.cpu_threads < 0:
            raise ValueError("workers and beam_size must be >= 1, cpu_threads >= 0")
        if not 1.0 <= self.window_s <= 30.0:
            raise ValueError("window_s must be between 1 and 30 seconds")
        if self.busy_window_s and not 1.0 <= self.busy_window_s <= self.window_s:
            raise ValueError("busy_window_s must be 0 or between 1 s and window_s")

    def threads(self) -> int:
        return self.cpu_threads or max(1, (os.cpu_count() or 1) // self.workers)


def resolve_device(config: SttConfig) -> tuple[str, str]:
    import ctranslate2  # noqa: PLC0415 - heavy; only in processes that transcribe

    device = config.device
    if device == "auto":
        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    compute = config.compute_type
    if device == "cuda" and compute == "int8":
        compute = "int8_float16"
    return device, compute


class WhisperEngine:
    """One loaded Whisper model. Not thread-safe; one per worker process."""

    def __init__(self, config: SttConfig) -> None:
        from faster_whisper import WhisperModel  # noqa: PLC0415
        from faster_whisper.tokenizer import Tokenizer  # noqa: PLC0415

        self.config = config
        device, compute = resolve_device(config)
        self.model = WhisperModel(
            str(config.model_dir),
            device=device,
            compute_type=compute,
            cpu_threads=config.threads(),
            num_workers=1,
        )
        self._tokenizer_class = Tokenizer
        self._tokenizers: dict[str, Any] = {}
        self.tokenizer = self._tokenizer(config.language)

    def _tokenizer(self, language: str) -> Any:
        if language not in self._tokenizers:
            self._tokenizers[language] = self._tokenizer_class(
                self.model.hf_tokenizer, True, task="transcribe", language=language)
        return self._tokenizers[language]

    def _detect(self, view: Any) -> str:
        """The likelier of the languages a call may be in (Whisper's language token)."""
        scores = dict(self.model.model.detect_language(view)[0])
        return max(DETECTABLE, key=lambda lang: scores.get(f"<|{lang}|>", 0.0))

    def transcribe(
        self, pcm16k: np.ndarray, prompt: str | None = None, *, window_s: float | None = None,
        language: str | None = None,
    ) -> Transcript:
        import ctranslate2  # noqa: PLC0415

        started, cpu = time.perf_counter(), time.process_time()
        audio = int16_to_float(pcm16k)
        audio_s = len(audio) / RATE
        if len(audio) < RATE // 10:
            return Transcript("", audio_s, time.perf_counter() - started, 1.0)
        n = max(len(audio) + RATE // 2, int((window_s or self.config.window_s) * RATE))
        n = min(n, _MAX_FRAMES * _HOP)
        padded = np.zeros(n, dtype=np.float32)
        padded[: min(len(audio), n)] = audio[:n]
        feats = self.model.feature_extractor(padded)[:, : n // _HOP]
        feats = feats[:, : feats.shape[1] - feats.shape[1] % 2]
        view = ctranslate2.StorageView.from_array(np.ascontiguousarray(feats[None]))
        language = language or self.config.language
        if language == "auto":
            language = self._detect(view)
        tokenizer = self._tokenizer(language)
        tokens = self._prompt_tokens(prompt, tokenizer)
        max_len = len(tokens) + int(audio_s * _TOKENS_PER_SECOND) + 8
        result = self.model.model.generate(
            view,
            [tokens],
            beam_size=self.config.beam_size,
            max_length=min(max_len, 440),
            suppress_blank=True,
            suppress_tokens=[-1],
            return_scores=True,
            return_no_speech_prob=True,
        )[0]
        ids = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
        text = collapse_repeats(tokenizer.decode(ids).strip())
        avg_logprob = result.scores[0] if result.scores else 0.0
        if result.no_speech_prob > self.config.no_speech_threshold and avg_logprob < -1.0:
            text = ""
        return Transcript(
            text,
            audio_s,
            time.perf_counter() - started,
            result.no_speech_prob,
            time.process_time() - cpu,
            language,
        )

    def transcribe_stock(self, pcm16k: np.ndarray, prompt: str | None = None,
                         language: str | None = None) -> Transcript:
        """The stock faster-whisper path (30 s window) for comparison."""
        started, cpu = time.perf_counter(), time.process_time()
        audio = int16_to_float(pcm16k)
        segments, _info = self.model.transcribe(
            audio,
            language=None if language == "auto" else (language or self.config.language),
            beam_size=self.config.beam_size,
            without_timestamps=True,
            vad_filter=False,
            condition_on_previous_text=False,
            temperature=0.0,
            initial_prompt=prompt,
        )
        text = " ".join(s.text.strip() for s in segments).strip()
        return Transcript(
            text, len(audio) / RATE, time.perf_counter() - started, 0.0, time.process_time() - cpu
        )

    def _prompt_tokens(self, prompt: str | None, tok: Any) -> list[int]:
        tokens: list[int] = []
        if prompt:
            tokens = [tok.sot_prev, *tok.encode(" " + prompt.strip())[-_PROMPT_TOKENS:]]
        return [*tokens, *tok.sot_sequence, tok.no_timestamps]


_WORD = re.compile(r"[\w']+")


def collapse_repeats(text: str) -> str:
    """Collapse a transcript that is one phrase said 2+ times over ("No. No. No." -> "No.").

    Compares words without punctuation; a trailing partial copy counts as a repeat.
    """
    words = text.split()
    keys = [" ".join(_WORD.findall(w.lower())) for w in words]
    n = len(keys)
    for period in range(1, n // 2 + 1):
        if all(keys[i] == keys[i % period] for i in range(n)):
            return " ".join(words[:period])
    return text
