"""``carrier speech transcribe FILE.wav`` and ``carrier speech say TEXT -o FILE.wav``."""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

import numpy as np

from agent.speech.audio import RATE, WavError, read_wav, resample, to_int16, write_wav
from agent.speech.models import ModelError, default_whisper_dir, whisper_model_dir
from agent.speech.whisper import Hints, SttConfig, WhisperEngine
from carrier.errors import OperatorError

DEFAULT_DATA_DIR = Path(os.environ.get("CARRIER_DATA_DIR", "var"))
# Greedy, as calls decode. Beam 5 (the raw model's) was measured on the human-speech bench:
# better on three of four rows but one recording looped (held-out 16 kHz WER 14.2%).
FILE_BEAM_SIZE = 1


def _operator_error(message: str) -> OperatorError:
    return OperatorError(message)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("speech", help="local speech recognition and synthesis")
    sub = parser.add_subparsers(dest="speech_command", required=True)

    tr = sub.add_parser("transcribe", help="print the transcript of a WAV file")
    tr.add_argument("file", type=Path, help="16-bit PCM or mu-law WAV, any rate, mono/stereo")
    tr.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    tr.add_argument("--model-dir", type=Path, help="Whisper folder (default: DATA/models/...)")
    tr.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    tr.add_argument("--compute-type", default="int8")
    tr.add_argument("--beam-size", type=int, default=FILE_BEAM_SIZE)
    tr.add_argument("--hint", action="append", default=[], help="an expected answer")
    tr.add_argument("--stock", action="store_true", help="stock 30 s window decoding")
    tr.set_defaults(func=run_transcribe)

    say = sub.add_parser("say", help="write the agent's voice saying TEXT")
    say.add_argument("text")
    say.add_argument("-o", "--output", type=Path, required=True)
    say.add_argument("--rate", type=int, default=RATE, help="output sample rate")
    say.set_defaults(func=run_say)


def run_transcribe(args: argparse.Namespace) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    try:
        pcm, rate = read_wav(args.file)
    except (OSError, WavError) as exc:
        raise _operator_error(f"cannot read {args.file}: {exc}") from exc
    pcm16k = to_int16(resample(pcm, rate, RATE))
    folder = args.model_dir or default_whisper_dir(args.data_dir)
    try:
        folder = whisper_model_dir(folder)
    except (OSError, ModelError) as exc:
        raise _operator_error(f"speech model unavailable: {exc}") from exc
    engine = WhisperEngine(
        SttConfig(
            model_dir=folder,
            device=args.device,
            compute_type=args.compute_type,
            beam_size=args.beam_size,
        )
    )
    prompt = Hints(expected=tuple(args.hint)).prompt()
    print(transcribe_recording(engine, pcm16k, prompt, stock=args.stock))
    return 0


def transcribe_recording(engine: WhisperEngine, pcm16k: np.ndarray, prompt: str | None = None,
                         *, stock: bool = False) -> str:
    """A whole recording's text: pieces of at most 25 s (Whisper's window is 30 s), each
    cut at the quietest 20 ms of its last 5 s so no word is cut in two."""
    texts = []
    for piece in _pieces(pcm16k):
        result = (engine.transcribe_stock if stock else engine.transcribe)(piece, prompt)
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
