"""The in-process Whisper engine (runs inside an STT worker process, or directly in tools).

Why not just ``WhisperModel.transcribe``: it always pads the audio to Whisper's 30 s window,
so every utterance costs a full 30 s encoder pass (about 0.8 s of the 1.1 s it takes here),
however short it is. CTranslate2 accepts a shorter encoder input, so this engine encodes a
``window_s`` window instead (10 s by default; the utterance plus a little silence if longer).
On its own a short window makes Whisper loop ("No. No. No. ..."), so the decode length is
bounded by the audio's duration, a loop is collapsed to one copy, and a first pass that
looks wrong (a loop, a repeated last phrase) is decoded again in Whisper's own 30 s window
(``settle_repeats``). ``window_s=30`` behaves like the stock model, and
:meth:`transcribe_stock` is the stock path itself. A file (``carrier speech transcribe``)
has no caller waiting: :meth:`transcribe_file` decodes it as the raw model does.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from agent.grammar.completion import trails_off
from agent.speech.audio import RATE, int16_to_float
from agent.speech.careful import FILE_BEAM_SIZE, decode_file, file_options
from agent.speech.repeats import settle_repeats, unloop
from agent.speech.staged import Generated, generate_staged, generation_limit

_HOP = 160  # samples per mel frame
_MAX_FRAMES = 3000
_TOKENS_PER_SECOND = 10  # generous: speech runs at 2-4 words (~3-6 tokens) a second
_TOKENS_AT_LEAST = 8
_PROMPT_TOKENS = 100
# The encoder window a file is decoded in (faster-whisper's: the model's 30 s).
FILE_WINDOW_S = 30.0
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
    avg_logprob: float = 0.0  # the decoder's mean log-probability per token (0: not known)
    quick: bool = False  # the quick model's text (its first pass was sure), not base's
    reframed: bool = False  # a careful pass that waited for its second framing (careful.py)

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
    # The long window: a short-window result that looks wrong (a loop, no end) is decoded
    # again in it, and ``adaptive=False`` always uses it.
    window_s: float = 10.0
    # A suspect first pass (see ``settle_repeats``) still suspect in the long window is
    # decoded again in this one: Whisper's own 30 s. The 10 s window still invented a
    # repeated sentence at the end of a 6 s human recording over G.711 that 30 s (and the
    # raw model) did not. The 10 s pass settles most suspects (a phone's "Yes." heard as
    # "Yes. Yes." at 6 s: 1 utterance in 5 on bench/concurrent_calls.py), at a fifth of the cost.
    retry_window_s: float = 30.0
    # Adaptive windows: the encoder sees the utterance plus ``pad_s`` of silence, at least
    # ``min_window_s`` (the encoder's cost grows with the window). Shorter windows loop
    # more often, above all with a hint prompt (36 short answers with "yes, no." as the
    # prompt: 15 loops at 3 s, 5 at 4 s, 1 at 6 s, 0 at 8 s; CPU 101/101/126/149 ms
    # against about 170 ms at 10 s, measured here); a loop is decoded again (10 s, then
    # retry_window_s). 8 s, not 6: phone audio on bench/concurrent_calls.py looped at 6 s
    # in 15-60% of utterances ("Yes. Yes.", "March 5, March 5, ...") and 6-7% at 8 s, so
    # 8 s cost less CPU per utterance there (152-155 ms against 162-224 ms, loaded box),
    # and the speech corpus (tests/vectors/speech, Piper) scored 139/144 against 135/144.
    adaptive: bool = True
    min_window_s: float = 8.0
    pad_s: float = 1.0
    # Utterances of several calls decoded together in one model call (the scheduler's
    # batches; see ``agent.speech.schedule``).
    max_batch: int = 8
    no_speech_threshold: float = 0.6
    # The quick first pass (Whisper tiny.en, ``agent.speech.models.quick_model_dir``): an
    # English answer the workflow judges (``Request.quick``) is decoded by it first, and
    # base decodes it only when tiny's text is empty, cut short, or below
    # ``quick_min_logprob`` (mean log-probability per token). -0.7: the best bar on the
    # labelled corpus (bench/speech_quick.py dev; -0.5 kept fewer right texts), and a bare
    # "Yes." or "No." with no hint prompt scores about -0.5 (its "." and end token weigh
    # as much as the word), so -0.5 sent the commonest answer to base. None: base only.
    quick_model_dir: Path | None = None
    quick_min_logprob: float = -0.7
    # The quick model's shortest encoder window. Its encoder and cross-attention cost
    # grow with the window (tiny.en here: about 50 ms of a core at 3 s, 140 at 8 s) and a
    # short window makes it loop, which the staged decoding (``agent.speech.staged``)
    # stops within 8 tokens: bench/concurrent_calls.py at 24 calls, 159 ms of CPU an
    # utterance against 207 at 8 s (188 at 3 s without stages, the loops running on).
    quick_min_window_s: float = 3.0
    stock: bool = False  # True: faster-whisper's own 30 s window path (slower; comparison)

    def __post_init__(self) -> None:
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, not {self.device!r}")
        if self.workers < 1 or self.beam_size < 1 or self.cpu_threads < 0:
            raise ValueError("workers and beam_size must be >= 1, cpu_threads >= 0")
        if not 1.0 <= self.window_s <= 30.0:
            raise ValueError("window_s must be between 1 and 30 seconds")
        if not self.window_s <= self.retry_window_s <= 30.0:
            raise ValueError("retry_window_s must be between window_s and 30 seconds")
        if not 1.0 <= self.min_window_s <= self.window_s:
            raise ValueError("min_window_s must be between 1 s and window_s")
        if not 0.0 <= self.pad_s <= 5.0:
            raise ValueError("pad_s must be between 0 and 5 seconds")
        if self.max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        if not -5.0 <= self.quick_min_logprob <= 0.0:
            raise ValueError("quick_min_logprob must be between -5 and 0")
        if not 1.0 <= self.quick_min_window_s <= self.window_s:
            raise ValueError("quick_min_window_s must be between 1 s and window_s")

    def quick_config(self) -> SttConfig:
        """The quick model's engine settings (English, its own shortest window)."""
        if self.quick_model_dir is None:
            raise ValueError("no quick model configured")
        return replace(self, model_dir=self.quick_model_dir, language="en",
                       quick_model_dir=None, min_window_s=self.quick_min_window_s)

    def threads(self) -> int:
        return self.cpu_threads or max(1, (os.cpu_count() or 1) // self.workers)

    def window_for(self, audio_s: float) -> float:
        """The encoder window (seconds) a first pass over ``audio_s`` of speech uses."""
        if not self.adaptive:
            return max(self.window_s, audio_s + 0.5)
        return min(30.0, max(self.min_window_s, audio_s + self.pad_s))


def resolve_device(config: SttConfig) -> tuple[str, str]:
    import ctranslate2  # noqa: PLC0415 - heavy; only in processes that transcribe

    device = config.device
    if device == "auto":
        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    compute = config.compute_type
    if device == "cuda" and compute == "int8":
        compute = "int8_float16"
    return device, compute


@dataclass(frozen=True, slots=True)
class Request:
    """One utterance to transcribe: int16 16 kHz, the decoder's prompt, its language."""

    pcm: np.ndarray
    prompt: str | None = None
    language: str | None = None  # None: the engine's; "auto": detected (DETECTABLE)
    # Decoded as the model decodes a file (``transcribe_file``: 30 s window, beam search,
    # temperature fallback), not the call path's short greedy pass: the second pass of a
    # turn that no grammar understood (``StreamingTranscriber``).
    careful: bool = False
    # May be decoded by the quick model first (``SttConfig.quick_model_dir``): an answer
    # the workflow's grammar judges; kept only when that model is sure of it.
    quick: bool = False


@dataclass(frozen=True, slots=True)
class _Decoded:
    text: str
    no_speech: float
    language: str
    suspect: bool  # ran to its token budget or repeated itself: worth a long-window pass
    avg_logprob: float = 0.0  # the decoder's mean log-probability per token
    collapsed: bool = False  # a loop ("Yes. Yes. Yes. ...") cut to its first copy


def _likeliest(scores: dict[str, float]) -> str:
    """The likelier of the languages a call may be in (Whisper's language token)."""
    return max(DETECTABLE, key=lambda lang: scores.get(f"<|{lang}|>", 0.0))


def _aligned(prompts: list[list[int]], sot_prev: int, filler: int) -> list[list[int]]:
    """CTranslate2 wants <|startoftranscript|> at one position in a batch: give the shorter
    prompts a previous-text part (or a longer one) left-padded with spaces, which carry no
    words into the transcript."""
    width = max(len(p) for p in prompts)
    out = []
    for p in prompts:
        body = p[1:] if p[0] == sot_prev else p
        out.append(p if len(p) == width else [sot_prev, *[filler] * (width - 1 - len(body)), *body])
    return out


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
        # An English-only model (tiny.en, the quick pass) was trained without language and
        # task tokens: its prompts must not carry them, and it detects no language.
        self.multilingual = bool(self.model.model.is_multilingual)
        if not self.multilingual and config.language != "en":
            raise ValueError(f"{config.model_dir.name}: an English-only model cannot "
                             f"transcribe language {config.language!r}")
        # "auto" (each utterance's language detected) shares the special tokens of any
        # language's tokenizer; a language-bound one is built per utterance (_tokenizer)
        self.tokenizer = self._tokenizer(
            DETECTABLE[0] if config.language == "auto" else config.language)
        self._filler = self.tokenizer.encode(" ")[0]
        self.suspects = 0  # first-pass results that looked wrong (decoded again)
        self.long_passes = 0  # of those, decoded in the retry window (30 s) too

    def _tokenizer(self, language: str) -> Any:
        if language not in self._tokenizers:
            self._tokenizers[language] = self._tokenizer_class(
                self.model.hf_tokenizer, self.multilingual, task="transcribe",
                language=language)
        return self._tokenizers[language]

    def transcribe(
        self, pcm16k: np.ndarray, prompt: str | None = None, *, window_s: float | None = None,
        language: str | None = None,
    ) -> Transcript:
        """One utterance (a batch of one). ``window_s`` fixes the encoder window."""
        return self.transcribe_batch([Request(pcm16k, prompt, language)], window_s=window_s)[0]

    def transcribe_batch(
        self, requests: list[Request], *, window_s: float | None = None
    ) -> list[Transcript]:
        """Several utterances (from different calls) in one encoder and one decoder pass.

        The batch shares one window: the longest item's (see ``SttConfig.window_for``), or
        ``window_s`` when given. An item whose short-window result looks wrong (it ran to
        its token budget, or repeats itself) is decoded again in the long window
        (``window_s``, 10 s), and if that still looks wrong, in ``retry_window_s`` (30 s):
        a 6 s window's "Yes. Yes." for "Yes." is settled by the 10 s pass, at a fifth of
        the 30 s pass's cost, while a real "No, no." or an invented copy that the 10 s
        window repeats goes on to the 30 s pass, as before.
        """
        started, cpu = time.perf_counter(), time.process_time()
        audio = [int16_to_float(r.pcm) for r in requests]
        out: list[_Decoded | None] = [None] * len(requests)
        live = [i for i, a in enumerate(audio) if len(a) >= RATE // 10]
        if live:
            # A first pass in a short window may be redone in the long one (a retry).
            retry_later = window_s is None and self.config.adaptive
            first = self._decode([audio[i] for i in live], [requests[i] for i in live], window_s,
                                 final=not retry_later)
            for i, d in zip(live, first, strict=True):
                out[i] = d
            retry = [i for i, d in zip(live, first, strict=True) if d.suspect]
            self.suspects += len(retry)
            if retry and retry_later:
                width = max(self.config.window_for(len(audio[i]) / RATE) for i in live)
                self._decode_again(audio, requests, retry, out, width)
        wall, cpu_s = time.perf_counter() - started, time.process_time() - cpu
        return [
            Transcript(d.text if d else "", len(a) / RATE, wall, d.no_speech if d else 1.0,
                       cpu_s / len(requests), d.language if d else "",
                       d.avg_logprob if d else 0.0)
            for a, d in zip(audio, out, strict=True)
        ]

    def transcribe_quick_first(self, requests: list[Request], quick: WhisperEngine
                               ) -> list[Transcript]:
        """A batch decoded by ``quick`` (tiny.en) first; base (this engine) decodes the
        items ``quick`` is not sure of: an empty text, one cut short or ending in a phrase
        said twice, a mean log-probability below ``quick_min_logprob``, or a language
        other than English.

        Quick's first pass is its short window only, never its long ones. In that window
        tiny loops on one answer in five ("Yes, that's right. Yes, that's right. ..."); the
        loop cut to its first copy is kept when tiny is sure of it: on the labelled
        corpus (bench/speech_corpus.py, 430 answers at 8 kHz) those copies were right as
        often as base's text of the same audio (85/90 each). Each transcript says which
        model's text it is.
        """
        started, cpu = time.perf_counter(), time.process_time()
        english = [i for i, r in enumerate(requests)
                   if (r.language or self.config.language) == "en"
                   and len(r.pcm) >= RATE // 10]
        sure: dict[int, _Decoded] = {}
        if english:
            first = quick._decode([int16_to_float(requests[i].pcm) for i in english],
                                  [requests[i] for i in english], None, final=False)
            # A text trailing off ("Yes,") is not sure either: it makes the turn wait the
            # long hangover, and tiny wrote it for 2 in 40 renditions of a plain "Yes."
            # where base wrote "Yes." for all (base's comma still counts).
            sure = {i: d for i, d in zip(english, first, strict=True)
                    if d.text and (d.collapsed or not d.suspect)
                    and d.avg_logprob >= self.config.quick_min_logprob
                    and not trails_off(d.text)}
        quick_wall, quick_cpu = time.perf_counter() - started, time.process_time() - cpu
        rest = [i for i in range(len(requests)) if i not in sure]
        full = iter(self.transcribe_batch([requests[i] for i in rest]) if rest else [])
        out = []
        share = quick_cpu / max(1, len(requests))
        for i, r in enumerate(requests):
            if i in sure:
                d = sure[i]
                out.append(Transcript(d.text, len(r.pcm) / RATE, quick_wall, d.no_speech,
                                      share, d.language, d.avg_logprob, quick=True))
            else:
                t = next(full)
                out.append(replace(
                    t, compute_s=time.perf_counter() - started, cpu_s=t.cpu_s + share))
        return out

    def _decode_again(self, audio: list[np.ndarray], requests: list[Request],
                      retry: list[int], out: list[_Decoded | None], first_s: float) -> None:
        """Suspect first passes, in the long window, then what still looks wrong in the
        retry window (only windows wider than the first pass's ``first_s``)."""
        ladder = [w for w in (self.config.window_s, self.config.retry_window_s) if w > first_s]
        for step, window in enumerate(ladder or [self.config.retry_window_s]):
            final = step >= len(ladder) - 1
            again = self._decode([audio[i] for i in retry], [requests[i] for i in retry],
                                 window, final=final)
            for i, d in zip(retry, again, strict=True):
                out[i] = d
            self.long_passes += len(retry) if window == self.config.retry_window_s else 0
            retry = [i for i, d in zip(retry, again, strict=True) if d.suspect]
            if final or not retry:
                return

    def _features(self, audio: list[np.ndarray], window_s: float | None) -> Any:
        import ctranslate2  # noqa: PLC0415

        if window_s is None:
            seconds = max(self.config.window_for(len(a) / RATE) for a in audio)
        else:
            seconds = max([window_s] + [len(a) / RATE + 0.5 for a in audio])
        n = min(int(seconds * RATE), _MAX_FRAMES * _HOP)
        n -= n % (2 * _HOP)
        feats = []
        for a in audio:
            padded = np.zeros(n, dtype=np.float32)
            padded[: min(len(a), n)] = a[:n]
            feats.append(self.model.feature_extractor(padded)[:, : n // _HOP])
        return ctranslate2.StorageView.from_array(np.ascontiguousarray(np.stack(feats)))

    def _decode(self, audio: list[np.ndarray], requests: list[Request],
                window_s: float | None, *, final: bool = True) -> list[_Decoded]:
        model = self.model.model
        encoded = model.encode(self._features(audio, window_s), to_cpu=False)
        languages = [r.language or self.config.language if self.multilingual else "en"
                     for r in requests]
        if "auto" in languages:
            scores = model.detect_language(encoded)
            languages = [_likeliest(dict(scores[i])) if lang == "auto" else lang
                         for i, lang in enumerate(languages)]
        tokenizers = [self._tokenizer(lang) for lang in languages]
        prompts = _aligned([self._prompt_tokens(r.prompt, t)
                            for r, t in zip(requests, tokenizers, strict=True)],
                           self.tokenizer.sot_prev, self._filler)
        budgets = [int(len(a) / RATE * _TOKENS_PER_SECOND) + _TOKENS_AT_LEAST for a in audio]
        decoded = []
        for g, tok, lang in zip(self._generate(encoded, prompts, budgets), tokenizers,
                                languages, strict=True):
            # ran out: no end of text (a decoding loop, or cut short)
            kept = unloop(g.ids) if g.ran_out else g.ids
            said = tok.decode(kept).strip()
            text, suspect = settle_repeats(said, ran_out=g.ran_out, final=final)
            collapsed = text != said or len(kept) < len(g.ids)
            if g.no_speech_prob > self.config.no_speech_threshold and g.avg_logprob < -1.0:
                text = ""
            decoded.append(_Decoded(text, g.no_speech_prob, lang, suspect, g.avg_logprob,
                                    collapsed))
        return decoded

    def _generate(self, encoded: Any, prompts: list[list[int]], budgets: list[int]
                  ) -> list[Generated]:
        """Greedy search in stages on a CPU (``agent.speech.staged``: a loop stops as soon
        as it shows); one pass for a beam search or on a GPU, where tokens are cheap."""
        eot = self.tokenizer.eot
        if self.config.beam_size == 1 and self.model.model.device == "cpu":
            return generate_staged(self.model.model, encoded, prompts, budgets, eot=eot)
        results = self.model.model.generate(
            encoded, prompts, beam_size=self.config.beam_size,
            max_length=generation_limit(len(prompts[0]), max(budgets)), suppress_blank=True,
            suppress_tokens=[-1], return_scores=True, return_no_speech_prob=True)
        out = []
        for r, budget in zip(results, budgets, strict=True):
            ids = [t for t in r.sequences_ids[0] if t < eot]
            out.append(Generated(ids[:budget], r.scores[0] if r.scores else 0.0,
                                 r.no_speech_prob, len(ids) >= budget))
        return out

    def transcribe_file(self, pcm16k: np.ndarray, prompt: str | None = None, *,
                        beam_size: int = FILE_BEAM_SIZE, language: str | None = None) -> str:
        """A recording's text, decoded as the model decodes a file on its own.

        faster-whisper's long-form decoding with its defaults: 30 s windows with
        timestamps, beam search, temperature fallback when a window loops or is unsure,
        each window conditioned on the last one's text. A file has no caller waiting,
        so none of the call path's shortcuts (short windows, greedy search) apply; only
        the language, the hint prompt and the beam width are ours (``file_options``).
        """
        return decode_file(self.model, pcm16k, file_options(
            language or self.config.language, prompt, beam_size)).text

    def transcribe_careful(self, request: Request) -> Transcript:
        """One utterance decoded as a file is (:meth:`transcribe_file`), timed, with how
        sure the model is of its text (``avg_logprob``; 0 when it found none). A call's
        careful pass may decode the turn twice, framed differently, and keep the surer
        text (``agent.speech.careful``, ``SpeechToText.transcribe_carefully``)."""
        started, cpu = time.perf_counter(), time.process_time()
        heard = decode_file(self.model, request.pcm, file_options(
            request.language or self.config.language, request.prompt))
        return Transcript(heard.text, len(request.pcm) / RATE, time.perf_counter() - started,
                          0.0, time.process_time() - cpu, heard.language,
                          avg_logprob=heard.sure if heard.text else 0.0)

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
