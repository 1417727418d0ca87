"""The speech-to-text engine's settings (:class:`SttConfig`, wired to ``carrier.settings``
by ``agent.runtime``) and the device they resolve to. Apart from the engine
(``agent.speech.whisper``, which re-exports them) so a worker's settings read alone."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

__all__ = ["SttConfig", "resolve_device"]


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
    # Base's window for a judged answer it decodes first (``Request.base_first``), a
    # collapsed loop kept when sure as tiny's is: a 3 s date of birth took 350 ms of a
    # core here, against 500 in the 8 s window (which base needs to loop less).
    base_first_window_s: float = 4.0
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
        for name in ("quick_min_window_s", "base_first_window_s"):
            if not 1.0 <= getattr(self, name) <= self.window_s:
                raise ValueError(f"{name} must be between 1 s and window_s")

    def quick_config(self) -> SttConfig:
        """The quick model's engine settings (English, its own shortest window)."""
        if self.quick_model_dir is None:
            raise ValueError("no quick model configured")
        return replace(self, model_dir=self.quick_model_dir, language="en",
                       quick_model_dir=None, min_window_s=self.quick_min_window_s)

    def base_first_config(self) -> SttConfig:
        """Base's settings for the answers it decodes first (its short window)."""
        return replace(self, min_window_s=min(self.min_window_s, self.base_first_window_s))

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
