"""``carrier speech transcribe FILE.wav`` and ``carrier speech say TEXT -o FILE.wav``."""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

import numpy as np

from agent.speech.audio import RATE, WavError, read_wav, resample, to_int16, write_wav
from agent.speech.careful import FILE_BEAM_SIZE
from agent.speech.models import ModelError, default_whisper_dir, whisper_model_dir
from agent.speech.whisper import Hints, SttConfig, WhisperEngine
from carrier.errors import OperatorError

DEFAULT_DATA_DIR = Path(os.environ.get("CARRIER_DATA_DIR", "var"))
# A file is decoded as the model decodes one on its own (``WhisperEngine.transcribe_file``:
# 30 s windows, beam 5, temperature fallback). It used the call path's short windows and
# greedy search before, which lost to the raw model on the human-speech bench (held-out
# 16 kHz WER 4.7% against 3.3%); beam 5 in those short windows looped (14.2%).
__all__ = ["FILE_BEAM_SIZE", "transcribe_recording"]


def _operator_error(message: str) -> OperatorError:
    return OperatorError(message)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("speech", help="local speech recognition and synthesis")
    sub = parser.add_subparsers(dest="speech_command", required=True)

    tr = sub.add_parser("transcribe", help="print the transcript of a WAV file")
    tr.add_argument("file", type=Path, help="16-bit PCM or mu-law WAV, any rate, mono/stereo")
    tr.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                    help="the data folder whose models are used")
    tr.add_argument("--model-dir", type=Path, help="Whisper folder (default: DATA/models/...)")
    tr.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                    help="where the model runs (auto: a GPU when there is one)")
    tr.add_argument("--compute-type", default="int8",
                    help="CTranslate2 compute type (int8, int8_float32, float32, ...)")
    tr.add_argument("--beam-size", type=int, default=FILE_BEAM_SIZE,
                    help="beam search width (1: greedy, as calls decode)")
    tr.add_argument("--hint", action="append", default=[], help="an expected answer")
    tr.add_argument("--language", choices=("en", "es", "auto"), default="en",
                    help="the recording's language (auto: Whisper detects it)")
    tr.add_argument("--stock", action="store_true",
                    help="the older one-pass 30 s decoding (no fallback; comparison)")
    tr.add_argument("--call-decoding", action="store_true",
                    help="decode as a call does (short windows, greedy; comparison)")
    tr.set_defaults(func=run_transcribe)

    say = sub.add_parser("say", help="write the agent's voice saying TEXT")
    say.add_argument("text", help="what the voice says")
    say.add_argument("-o", "--output", type=Path, required=True, help="the WAV file to write")
    say.add_argument("--rate", type=int, default=RATE, help="output sample rate")
    say.set_defaults(func=run_say)


def run_transcribe(args: argparse.Namespace) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    pcm16k = load_recording(args.file)
    engine = WhisperEngine(engine_config(args))
    print(transcribe_recording(engine, pcm16k, Hints(expected=tuple(args.hint)).prompt(),
                               mode=decoding_mode(args)))
    return 0


def load_recording(path: Path) -> np.ndarray:
    """A WAV file as 16 kHz int16, as ``carrier speech transcribe`` reads it."""
    try:
        pcm, rate = read_wav(path)
    except (OSError, WavError) as exc:
        raise _operator_error(f"cannot read {path}: {exc}") from exc
    return to_int16(resample(pcm, rate, RATE))


def engine_config(args: argparse.Namespace) -> SttConfig:
    """The engine ``carrier speech transcribe`` loads for these arguments."""
    folder = args.model_dir or default_whisper_dir(args.data_dir)
    try:
        folder = whisper_model_dir(folder)
    except (OSError, ModelError) as exc:
        raise _operator_error(f"speech model unavailable: {exc}") from exc
    return SttConfig(model_dir=folder, device=args.device, compute_type=args.compute_type,
                     beam_size=args.beam_size, language=args.language)


def decoding_mode(args: argparse.Namespace) -> str:
    return "stock" if args.stock else "call" if args.call_decoding else "file"


def transcribe_recording(engine: WhisperEngine, pcm16k: np.ndarray, prompt: str | None = None,
                         *, mode: str = "file") -> str:
    """A whole recording's text. ``file`` (the default): the model's own long-form decoding
    (``WhisperEngine.transcribe_file``, beam ``engine.config.beam_size``). ``call`` and
    ``stock`` (comparisons): pieces of at most 25 s (Whisper's window is 30 s), each cut
    at the quietest 20 ms of its last 5 s so no word is cut in two, decoded as a call's
    utterances are, or in one greedy 30 s pass."""
    if mode == "file":
        return engine.transcribe_file(pcm16k, prompt, beam_size=engine.config.beam_size)
    if mode not in ("call", "stock"):
        raise ValueError(f"mode must be file, call or stock, not {mode!r}")
    texts = []
    for piece in _pieces(pcm16k):
        result = (engine.transcribe_stock if mode == "stock" else engine.transcribe)(piece, prompt)
        if result.text:
            texts.append(result.text)
    return " ".join(texts)


def _pieces(pcm: np.ndarray, longest_s: int = 25, search_s: int = 5) -> list[np.ndarray]:
    frame = RATE // 50
    out = []
    while len(pcm) > longest_s * RATE:
        lo, hi = (longest_s - search_s) * RATE // frame, longest_s * RATE // frame
        energy = [int(np.abs(pcm[i * frame:(i + 1) * frame].astype(np.int32)).sum())
                  for i in range(lo, hi)]
        cut = (lo + int(np.argmin(energy))) * frame + frame // 2
        out.append(pcm[:cut])
        pcm = pcm[cut:]
    out.append(pcm)
    return out


def run_say(args: argparse.Namespace) -> int:
    from agent.speech.tts import TextToSpeech  # noqa: PLC0415 - heavy import

    async def synth() -> np.ndarray:
        tts = TextToSpeech()
        await tts.start()
        try:
            return await tts.synthesize(args.text)
        finally:
            await tts.close()

    if not args.text.strip():
        raise _operator_error("nothing to say")
    try:
        pcm = asyncio.run(synth())
    except ModelError as exc:
        raise _operator_error(str(exc)) from exc
    if args.rate != RATE:
        pcm = to_int16(resample(pcm, RATE, args.rate))
    try:
        write_wav(args.output, pcm, args.rate)
    except OSError as exc:
        raise _operator_error(f"cannot write {args.output}: {exc}") from exc
    return 0
