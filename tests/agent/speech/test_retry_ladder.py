"""A first pass that looks wrong is decoded again in the 10 s window first, and only what
still looks wrong there goes on to Whisper's own 30 s window.

Every suspect went straight to the 30 s window: on the concurrent-calls bench a phone's
"Yes." came out of the 6 s window as "Yes. Yes." in 11 of 54 utterances, and each cost a
30 s encoder pass (about 5x a 10 s one), some 60% of the speech workers' CPU. The 10 s
window settles those; a real "No, no." or an invented copy of the last sentence repeats
there too, so it still reaches the 30 s pass. The model is a spy: no model loaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from agent.speech.whisper import Request, SttConfig, WhisperEngine, _Decoded


def _engine(script: dict[float | None, list[tuple[str, bool]]]) -> tuple[WhisperEngine, list]:
    """An engine whose passes answer from ``script`` (window -> (text, suspect) per item)."""
    engine = WhisperEngine.__new__(WhisperEngine)
    engine.config = SttConfig(model_dir=Path("unused"))
    engine.suspects = engine.long_passes = 0
    windows: list[tuple[float | None, int, bool]] = []

    def decode(audio: list[np.ndarray], requests: list[Request], window_s: float | None,
               *, final: bool = True) -> list[_Decoded]:
        windows.append((window_s, len(audio), final))
        answers = script[window_s]
        return [_Decoded(text, 0.0, "en", suspect)
                for text, suspect in (answers.pop(0) for _ in audio)]

    engine._decode = decode  # type: ignore[method-assign]
    return engine, windows


def _pcm(seconds: float) -> np.ndarray:
    return np.full(int(16000 * seconds), 1000, dtype=np.int16)


def test_the_10s_window_settles_a_short_windows_invented_copy() -> None:
    engine, windows = _engine({None: [("Yes.", True), ("Seven.", False)],
                               10.0: [("Yes.", False)]})
    out = engine.transcribe_batch([Request(_pcm(0.6)), Request(_pcm(0.5))])
    assert [t.text for t in out] == ["Yes.", "Seven."]
    assert windows == [(None, 2, False), (10.0, 1, False)]  # before: (30.0, 1, True)
    assert (engine.suspects, engine.long_passes) == (1, 0)


def test_what_still_looks_wrong_at_10s_goes_on_to_30s() -> None:
    engine, windows = _engine({None: [("No,", True), ("Yes.", True)],
                               10.0: [("No,", True), ("Yes.", False)],
                               30.0: [("No, no.", False)]})
    out = engine.transcribe_batch([Request(_pcm(0.8)), Request(_pcm(0.6))])
    assert [t.text for t in out] == ["No, no.", "Yes."]
    assert windows == [(None, 2, False), (10.0, 2, False), (30.0, 1, True)]
    assert (engine.suspects, engine.long_passes) == (2, 1)


def test_a_first_pass_as_wide_as_10s_goes_straight_to_30s() -> None:
    engine, windows = _engine({None: [("Press 8. Press 8.", True)], 30.0: [("Press 8.", False)]})
    out = engine.transcribe_batch([Request(_pcm(9.5))])  # a 10.5 s first window
    assert out[0].text == "Press 8."
    assert windows == [(None, 1, False), (30.0, 1, True)]


def test_a_short_answer_gets_an_8s_first_window() -> None:
    # Was 6 s: phone audio looped there in 15-60% of the bench's utterances (a second
    # pass each), 6-7% at 8 s (bench/concurrent_calls.py).
    config = SttConfig(model_dir=Path("unused"))
    assert config.window_for(0.6) == 8.0
    assert config.window_for(7.5) == 8.5
