"""The human-speech WER bench (bench/speech_wer_human.py): its scoring (pure functions),
and that its call column ends turns as a call does."""

from __future__ import annotations

import numpy as np
import pytest

from agent.speech.whisper import Request, Transcript
from bench.speech_wer_human import call, edits, normalise, normalise_es, sign_test, silence
from tests.speech.conftest import load_vector
from tests.speech.conftest import silence as quiet


def test_sign_test_tells_a_word_or_two_from_a_real_gap() -> None:
    # The full run's 16 kHz held-out split: call better than raw on 16 clips, worse on 20.
    assert sign_test(16, 20) == pytest.approx(0.618, abs=1e-3)
    assert sign_test(0, 8) == pytest.approx(2 / 256)  # every differing clip one way
    assert sign_test(3, 3) == 1.0
    assert sign_test(0, 0) == 1.0


def test_errors_are_counted_in_normalised_words() -> None:
    assert normalise("Press 2, then #.") == ["press", "two", "then", "pound"]
    assert edits(normalise("I have a caller waiting"), normalise("I have a collar waiting")) == 1


def test_an_ordinal_in_digits_is_the_word_said() -> None:
    # The raw model writes "3rd" where a call writes "Third": two wrong words before.
    assert normalise("3rd") == normalise("third") == ["third"]
    assert normalise("the 12th, 40th and 21st") == ["the", "twelfth", "fortieth", "and",
                                                   "twenty", "first"]
    assert normalise("1,000th") == ["one", "thousandth"]


def test_spanish_is_scored_without_accents_and_with_numbers_as_words() -> None:
    # The Spanish transcript leaves most accents out ("numero", "contrasena"); Whisper
    # writes them, and numbers as digits or words.
    assert normalise_es("Ingrese su número, seguido de #.") == normalise_es(
        "ingrese su numero seguido de numeral")
    assert normalise_es("Contraseña") == ["contrasena"]
    assert normalise_es("marque 1, 16 o 21") == ["marque", "uno", "dieciseis", "o",
                                                 "veintiuno"]
    assert normalise_es("45 y 100, 1234") == ["cuarenta", "y", "cinco", "y", "cien", "mil",
                                              "doscientos", "treinta", "y", "cuatro"]
    assert normalise_es("2.000") == ["dos", "mil"]


class _Trailing:
    """A stand-in for the engine: every pass writes words that trail off ("... and"),
    so only the turn logic decides where turns end."""

    suspects = 0

    def transcribe_batch(self, requests: list[Request]) -> list[Transcript]:
        return [Transcript("I was calling about my and", len(r.pcm) / 16000, 0.0)
                for r in requests]

    def transcribe_careful(self, request: Request) -> Transcript:
        return self.transcribe_batch([request])[0]


def test_the_call_column_ends_turns_as_a_call_does() -> None:
    """Two phrases 0.8 s apart, the first trailing off: a call with the default settings
    (``speech.turn_end = grammar``) waits ``incomplete_hangover_ms`` (1.3 s) and hears one
    turn; the silence rule (600 ms) cuts two. Before, the call column fed the endpointer
    alone: the silence rule, not what a call does."""
    person = load_vector("caller_person.wav")
    pcm = np.concatenate([person, quiet(0.8), person])
    engine = _Trailing()
    assert call(engine, pcm) == "I was calling about my and"  # type: ignore[arg-type]
    assert silence(engine, pcm) == " ".join(["I was calling about my and"] * 2)  # type: ignore[arg-type]
