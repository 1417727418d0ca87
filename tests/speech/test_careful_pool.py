"""A call's careful pass in the real speech workers (``SpeechToText.transcribe_carefully``).

A turn's second framing (``agent.speech.careful``: the turn with more silence before it)
is decoded beside the first on a second, idle worker, and its text kept when the model is
unsure of the first text and surer of the second. A pool with no idle second worker, or a
pass that does not ask for it (a judged answer's), gives the turn one framing. Decoding
the two one after the other doubled the pass, and on a loaded box a free-text answer then
ran past the call's wait (the opt-out test in tests/agent/test_voice_media.py lost the
caller's first answer that way).

The bar (``UNSURE_LOGPROB``) is judged in this process, so moving it here makes each
branch run whatever the model's score of the vector is on this CPU.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import numpy as np
import pytest

from agent.speech import careful
from agent.speech.careful import reframed, surer
from agent.speech.stt import BatchStats, SpeechToText
from agent.speech.whisper import Request, SttConfig, Transcript, WhisperEngine
from tests.speech.conftest import load_vector, silence


def _turn() -> np.ndarray:
    return np.concatenate([silence(0.1), load_vector("caller_person.wav"), silence(0.6)])


def _careful(whisper_dir: Path, workers: int, busy: bool = False, reframe: bool = True
             ) -> tuple[Transcript, BatchStats]:
    async def run() -> tuple[Transcript, BatchStats]:
        async with SpeechToText(SttConfig(model_dir=whisper_dir, workers=workers)) as stt:
            async def careful_pass() -> Transcript:
                # gather starts its tasks in order: another caller's answer, if any, has
                # been handed to a worker (its submit runs up to its first wait) by now
                assert stt.idle_workers == workers - busy
                return await stt.transcribe_carefully(_turn(), reframe=reframe)

            other = [stt.transcribe(load_vector("caller_dob.wav"))] if busy else []
            *_, got = await asyncio.gather(*other, careful_pass())
            return got, stt.stats

    return asyncio.run(run())


def test_an_unsure_turn_on_an_idle_pool_keeps_the_surer_of_two_framings(
        whisper_dir: Path, engine: WhisperEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(careful, "UNSURE_LOGPROB", 0.0)  # every text is unsure
    got, stats = _careful(whisper_dir, workers=2)
    assert got.reframed
    assert (stats.careful, stats.reframed) == (2, 1)  # both framings decoded, one waited
    first = engine.transcribe_careful(Request(_turn()))
    again = engine.transcribe_careful(Request(reframed(_turn())))
    kept = surer(first, again)
    assert got.text
    assert got.text == kept.text
    assert got.avg_logprob == pytest.approx(kept.avg_logprob, abs=1e-3)


def test_a_sure_turn_keeps_its_first_text(whisper_dir: Path, engine: WhisperEngine,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(careful, "UNSURE_LOGPROB", -math.inf)  # every text is sure
    got, stats = _careful(whisper_dir, workers=2)
    assert not got.reframed
    assert stats.reframed == 0
    assert got.text == engine.transcribe_careful(Request(_turn())).text


@pytest.mark.parametrize(("workers", "busy", "reframe"), [
    (1, False, True),  # no second worker
    (2, True, True),  # the second worker busy with another caller's answer
    (2, False, False),  # not asked for (a judged answer's pass: StreamingTranscriber)
])
def test_one_framing_without_an_idle_second_worker_or_unasked(
        whisper_dir: Path, engine: WhisperEngine, monkeypatch: pytest.MonkeyPatch,
        workers: int, busy: bool, reframe: bool) -> None:
    monkeypatch.setattr(careful, "UNSURE_LOGPROB", 0.0)  # unsure: it would want a second
    got, stats = _careful(whisper_dir, workers=workers, busy=busy, reframe=reframe)
    assert not got.reframed
    assert (stats.careful, stats.reframed) == (1, 0)
    assert got.text == engine.transcribe_careful(Request(_turn())).text
