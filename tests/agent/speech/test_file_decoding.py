"""``carrier speech transcribe`` decodes a file with the raw model's own options.

It used the call path's latency shortcuts (short encoder windows, greedy search) and lost to
the raw model on the human-speech bench (bench/speech_wer_human.py). These tests spy on the
model call, so they need no model: fast, and they fail on the old decoding.
"""

from __future__ import annotations

import argparse
import inspect
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from faster_whisper import WhisperModel

from agent.speech import cli
from agent.speech.careful import FILE_BEAM_SIZE
from agent.speech.whisper import Hints, SttConfig, WhisperEngine


class _SpyModel:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def transcribe(self, audio: np.ndarray, **options: Any) -> tuple[Any, None]:
        assert audio.dtype == np.float32
        self.calls.append(options)
        return iter([SimpleNamespace(text=" Hello,", avg_logprob=-0.2, tokens=[1, 2]),
                     SimpleNamespace(text=" world. ", avg_logprob=-0.2, tokens=[3, 4])]), \
            SimpleNamespace(language="en")


def _engine(beam_size: int) -> tuple[WhisperEngine, _SpyModel]:
    engine = WhisperEngine.__new__(WhisperEngine)  # no model loaded: the spy stands in
    spy = _SpyModel()
    engine.model = spy
    engine.config = SttConfig(model_dir=Path("unused"), beam_size=beam_size)
    return engine, spy


def _cli_args(tmp_path: Path, *extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    return parser.parse_args(["speech", "transcribe", str(tmp_path / "x.wav"), *extra])


def test_a_file_is_decoded_with_the_raw_models_options(tmp_path: Path) -> None:
    args = _cli_args(tmp_path)
    engine, spy = _engine(args.beam_size)
    pcm = np.zeros(16000 * 40, dtype=np.int16)  # long: one long-form call, not 25 s pieces
    text = cli.transcribe_recording(engine, pcm, mode=cli.decoding_mode(args))
    assert text == "Hello, world."
    assert len(spy.calls) == 1
    defaults = inspect.signature(WhisperModel.transcribe).parameters
    options = spy.calls[0]
    assert options["language"] == "en"
    # Every other option is the model's own default: beam 5 (it was greedy), temperature
    # fallback, conditioning on previous text, timestamps, 30 s windows, no VAD filter.
    for name, value in options.items():
        if name != "language":
            assert value == defaults[name].default, name
    assert args.beam_size == FILE_BEAM_SIZE == defaults["beam_size"].default


def test_a_hint_becomes_the_initial_prompt_and_beam_size_applies(tmp_path: Path) -> None:
    args = _cli_args(tmp_path, "--hint", "yes", "--beam-size", "2")
    engine, spy = _engine(args.beam_size)
    prompt = Hints(expected=tuple(args.hint)).prompt()
    cli.transcribe_recording(engine, np.zeros(8000, dtype=np.int16), prompt)
    assert spy.calls[0]["initial_prompt"] == "yes."
    assert spy.calls[0]["beam_size"] == 2
