"""The careful second pass keeps the surer of a turn's two framings.

Whisper's text of a short or narrowband turn moves with the silence around it, and only
the model's own sureness (mean log-probability per token) can say which framing suits a
turn (``agent.speech.careful``). These tests script the model's answers (a pure core: no
model needed); tests/speech/test_careful_pool.py runs the pass in the real speech workers.
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
    decode_file,
    file_options,
    reframed,
    surer,
    unsure,
)
from agent.speech.whisper import Request, SttConfig, Transcript, WhisperEngine


def _segment(text: str, logprob: float, tokens: int) -> SimpleNamespace:
    return SimpleNamespace(text=text, avg_logprob=logprob, tokens=list(range(tokens)))


class _Scripted:
    def __init__(self, segments: list[SimpleNamespace]) -> None:
        self.segments = segments
        self.calls: list[dict[str, Any]] = []

    def transcribe(self, audio: np.ndarray, **options: Any) -> tuple[Any, Any]:
        assert audio.dtype == np.float32
        self.calls.append(options)
        return iter(self.segments), SimpleNamespace(language="en")


def _heard(text: str, sure: float) -> Transcript:
    return Transcript(text, 1.0, 0.5, avg_logprob=sure)


def test_the_second_framing_is_the_turn_with_silence_before_it() -> None:
    pcm = (np.sin(np.arange(RATE) / 7) * 8000).astype(np.int16)
    lead = round(RATE * REFRAME_LEAD_S)
    again = reframed(pcm)
    assert again.dtype == pcm.dtype
    assert len(again) == len(pcm) + lead
    assert not again[:lead].any()
    np.testing.assert_array_equal(again[lead:], pcm)


@pytest.mark.parametrize(("text", "sure", "wanted"), [
    ("Sigma", UNSURE_LOGPROB - 0.01, True),
    ("Yes, this is she.", UNSURE_LOGPROB, False),  # at the bar: sure enough
    ("Yes, this is she.", -0.1, False),
    ("", -5.0, False),  # no words: a second framing would invent them, not hear them
])
def test_only_words_the_model_is_unsure_of_want_the_second_framing(
        text: str, sure: float, wanted: bool) -> None:
    assert unsure(_heard(text, sure)) is wanted


def test_the_surer_text_is_kept_and_the_first_on_a_tie() -> None:
    first = _heard("Sigma", -0.7)
    assert surer(first, _heard("Cigna.", -0.3)).text == "Cigna."
    assert surer(first, _heard("Stigma", -0.9)) is first
    assert surer(first, _heard("Stigma", -0.7)) is first  # a tie
    assert surer(first, _heard("", 0.0)) is first  # found nothing
    assert surer(first, None) is first  # not decoded (a busy pool, shed)


def test_sureness_is_the_mean_over_the_texts_tokens() -> None:
    """Ten tokens at -0.1 and one at -2.0: -0.27 a token (sure), not -1.05 a segment."""
    model = _Scripted([_segment(" My knee has been swelling since Tuesday.", -0.1, 10),
                       _segment(" Um.", -2.0, 1)])
    heard = decode_file(model, np.zeros(RATE, np.int16), file_options("en", "Aetna."))
    assert heard.text == "My knee has been swelling since Tuesday. Um."
    assert heard.sure == pytest.approx(-3.0 / 11)
    assert model.calls == [file_options("en", "Aetna.")]
    assert decode_file(_Scripted([]), np.zeros(RATE, np.int16), file_options("en")).sure \
        == -np.inf


def test_the_engines_careful_pass_reports_how_sure_it_is(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    engine = WhisperEngine.__new__(WhisperEngine)  # no model loaded: the script stands in
    engine.config = SttConfig(model_dir=Path("unused"))
    engine.model = _Scripted([_segment(" Sigma", -0.7, 3)])
    got = engine.transcribe_careful(Request(np.zeros(RATE, np.int16), "Cigna."))
    assert (got.text, got.language, got.reframed) == ("Sigma", "en", False)
    assert got.avg_logprob == pytest.approx(-0.7)
    assert unsure(got)
    assert engine.model.calls[0]["initial_prompt"] == "Cigna."
    engine.model = _Scripted([])  # silence: no words, and "not known" sureness
    assert engine.transcribe_careful(Request(np.zeros(RATE, np.int16))).avg_logprob == 0.0
    monkeypatch.setattr(careful, "UNSURE_LOGPROB", -1.0)  # the bar is read when judged
    assert not unsure(_heard("Sigma", -0.7))
