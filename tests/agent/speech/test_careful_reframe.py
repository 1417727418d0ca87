"""The careful second pass decodes an unsure turn again with more silence before it.

Whisper's text of a short or narrowband turn moves with the silence around it, and only
the model's own sureness (mean log-probability per token) can say which framing suits a
turn (``agent.speech.careful``). These tests script the model's answers (a pure core: no
model needed); tests/speech/test_pipeline.py runs the same pass on the real model.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from agent.speech import careful
from agent.speech.audio import RATE
from agent.speech.careful import (
    REFRAME_LEAD_S,
    UNSURE_LOGPROB,
    decode_careful,
    decode_file,
    file_options,
)
from agent.speech.whisper import Request, SttConfig, WhisperEngine

_LEAD = round(RATE * REFRAME_LEAD_S)


def _segment(text: str, logprob: float, tokens: int) -> SimpleNamespace:
    return SimpleNamespace(text=text, avg_logprob=logprob, tokens=list(range(tokens)))


class _Scripted:
    """Answers by framing: the turn as given, or with the reframe's silence before it."""

    def __init__(self, first: list[SimpleNamespace], again: list[SimpleNamespace]) -> None:
        self.answers = {"first": first, "again": again}
        self.calls: list[tuple[np.ndarray, dict[str, Any]]] = []

    def transcribe(self, audio: np.ndarray, **options: Any) -> tuple[Any, Any]:
        assert audio.dtype == np.float32
        self.calls.append((audio, options))
        framing = "again" if len(self.calls) > 1 else "first"
        return iter(self.answers[framing]), SimpleNamespace(language="en")


def _turn() -> np.ndarray:
    return (np.sin(np.arange(RATE) / 7) * 8000).astype(np.int16)  # 1 s, voiced throughout


def test_a_turn_the_model_is_sure_of_is_decoded_once() -> None:
    model = _Scripted([_segment(" Yes, this is she.", -0.2, 6)], [])
    best, twice = decode_careful(model, _turn(), file_options("en"))
    assert (best.text, twice, len(model.calls)) == ("Yes, this is she.", False, 1)
    assert best.sure == pytest.approx(-0.2)


def test_an_unsure_turn_is_decoded_again_with_silence_before_it_and_the_surer_kept() -> None:
    pcm = _turn()
    options = file_options("en", "Aetna, Cigna.")
    model = _Scripted([_segment(" Sigma", -0.7, 3)], [_segment(" Cigna.", -0.3, 3)])
    best, twice = decode_careful(model, pcm, options)
    assert (best.text, twice) == ("Cigna.", True)
    (first, first_options), (again, again_options) = model.calls
    # The same turn, the same options (language, hint prompt, beam); only the silence
    # before it differs.
    assert first_options == again_options == options
    assert len(again) == len(first) + _LEAD
    assert not again[:_LEAD].any()
    np.testing.assert_array_equal(again[_LEAD:], first)


@pytest.mark.parametrize("again_sure", [-0.9, -0.7])  # less sure, and a tie
def test_the_first_text_stays_unless_the_second_framing_is_surer(again_sure: float) -> None:
    model = _Scripted([_segment(" Sigma", -0.7, 3)], [_segment(" Stigma", again_sure, 3)])
    best, twice = decode_careful(model, _turn(), file_options("en"))
    assert (best.text, twice) == ("Sigma", True)


def test_a_turn_with_no_words_is_not_decoded_again() -> None:
    model = _Scripted([], [_segment(" Thank you.", -0.1, 4)])
    best, twice = decode_careful(model, _turn(), file_options("en"))
    assert (best.text, twice, len(model.calls)) == ("", False, 1)


def test_sureness_is_the_mean_over_the_texts_tokens() -> None:
    """Ten tokens at -0.1 and one at -2.0: -0.27 a token (sure), not -1.05 a segment."""
    model = _Scripted([_segment(" My knee has been swelling since Tuesday.", -0.1, 10),
                       _segment(" Um.", -2.0, 1)], [])
    first = decode_file(model, _turn(), file_options("en"))
    assert first.sure == pytest.approx(-3.0 / 11)
    assert first.sure > UNSURE_LOGPROB
    assert decode_careful(_Scripted(model.answers["first"], []), _turn(),
                          file_options("en"))[1] is False


def test_the_engines_careful_pass_says_it_decoded_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = WhisperEngine.__new__(WhisperEngine)  # no model loaded: the script stands in
    engine.config = SttConfig(model_dir=Path("unused"))
    engine.model = _Scripted([_segment(" Sigma", -0.7, 3)], [_segment(" Cigna.", -0.3, 3)])
    got = engine.transcribe_careful(Request(_turn()))
    assert (got.text, got.reframed, got.language) == ("Cigna.", True, "en")
    assert got.avg_logprob == pytest.approx(-0.3)
    monkeypatch.setattr(careful, "UNSURE_LOGPROB", -1.0)  # the first text is now sure
    engine.model = _Scripted([_segment(" Sigma", -0.7, 3)], [_segment(" Cigna.", -0.3, 3)])
    got = engine.transcribe_careful(Request(_turn()))
    assert (got.text, got.reframed) == ("Sigma", False)
