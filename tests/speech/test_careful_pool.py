"""A call's careful pass in the real speech workers (``SpeechToText.transcribe_carefully``).

A turn's second framing (``agent.speech.careful``: the turn with more silence before it)
is decoded beside the first by the spare worker, a process of its own at the lowest CPU
priority, and its text kept when the model is unsure of the first text and surer of the
second. A spare that is not warm yet or already decoding another turn, or a pass that
does not ask for it (a judged answer's), gives the turn one framing. Decoding the two one
after the other doubled the pass (a loaded box then ran past the call's wait: the opt-out
test in tests/agent/test_voice_media.py lost the caller's first answer that way), and
decoding the second on the second of two workers took both from the other callers
(bench/free_text_crowd.py).

The bar (``UNSURE_LOGPROB``) is judged in this process, so moving it here makes each
branch run whatever the model's score of the vector is on this CPU; so is the wait for the
spare, which is made long here so that a loaded test box (where the nice-19 spare gets
little CPU) still sees its text.
"""

from __future__ import annotations

import asyncio
import math
import os
from pathlib import Path

import numpy as np
import pytest

from agent.speech import careful
from agent.speech import stt as stt_module
from agent.speech.careful import reframed, surer
from agent.speech.stt import SPARE_NICE, BatchStats, SpeechToText
from agent.speech.whisper import Request, SttConfig, Transcript, WhisperEngine
from tests.speech.conftest import load_vector, silence


def _turn() -> np.ndarray:
    return np.concatenate([silence(0.1), load_vector("caller_person.wav"), silence(0.6)])


@pytest.fixture(autouse=True)
def _patient_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stt_module, "SPARE_WAIT_AT_LEAST_S", 100.0)


def _careful(whisper_dir: Path, *, warm: bool = True, reframe: bool = True, turns: int = 1,
             workers: int = 1) -> tuple[list[Transcript], BatchStats]:
    async def run() -> tuple[list[Transcript], BatchStats]:
        async with SpeechToText(SttConfig(model_dir=whisper_dir, workers=workers)) as stt:
            if warm:
                await stt.warm_spare()
            got = await asyncio.gather(*(stt.transcribe_carefully(_turn(), reframe=reframe)
                                         for _ in range(turns)))
            return list(got), stt.stats

    return asyncio.run(run())


def test_an_unsure_turn_keeps_the_surer_of_two_framings_with_one_worker(
        whisper_dir: Path, engine: WhisperEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(careful, "UNSURE_LOGPROB", 0.0)  # every text is unsure
    [got], stats = _careful(whisper_dir)
    assert got.reframed
    # the first framing in the one worker, the second in the spare, and it was waited for
    assert (stats.careful, stats.spare, stats.reframed) == (1, 1, 1)
    first = engine.transcribe_careful(Request(_turn()))
    again = engine.transcribe_careful(Request(reframed(_turn())))
    kept = surer(first, again)
    assert got.text
    assert got.text == kept.text
    assert got.avg_logprob == pytest.approx(kept.avg_logprob, abs=1e-3)


def test_a_sure_turn_keeps_its_first_text(whisper_dir: Path, engine: WhisperEngine,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(careful, "UNSURE_LOGPROB", -math.inf)  # every text is sure
    [got], stats = _careful(whisper_dir)
    assert not got.reframed
    assert (stats.spare, stats.reframed) == (1, 0)  # decoded beside it, not waited for
    assert got.text == engine.transcribe_careful(Request(_turn())).text


@pytest.mark.parametrize(("warm", "reframe"), [
    (False, True),  # the spare is not warm yet (a call's first free-text turn starts it)
    (True, False),  # not asked for (a judged answer's pass: StreamingTranscriber)
])
def test_one_framing_without_a_warm_spare_or_unasked(
        whisper_dir: Path, engine: WhisperEngine, monkeypatch: pytest.MonkeyPatch,
        warm: bool, reframe: bool) -> None:
    monkeypatch.setattr(careful, "UNSURE_LOGPROB", 0.0)  # unsure: it would want a second
    [got], stats = _careful(whisper_dir, warm=warm, reframe=reframe)
    assert not got.reframed
    assert (stats.careful, stats.spare, stats.reframed) == (1, 0, 0)
    assert got.text == engine.transcribe_careful(Request(_turn())).text


def test_the_spare_decodes_one_turn_at_a_time(whisper_dir: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Two callers' free text at once: the spare takes the first; the second gets one
    framing rather than a queue behind it."""
    monkeypatch.setattr(careful, "UNSURE_LOGPROB", 0.0)
    got, stats = _careful(whisper_dir, turns=2, workers=2)
    assert [t.reframed for t in got] == [True, False]
    assert (stats.careful, stats.spare, stats.reframed) == (2, 1, 1)


def _nice(pid: int) -> set[int]:
    """The niceness of every thread of a process (field 19 of /proc/PID/task/TID/stat)."""
    values = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        stat = (task / "stat").read_text()
        values.add(int(stat[stat.rindex(")") + 2:].split()[16]))
    return values


def test_the_spare_runs_every_thread_at_the_lowest_priority(whisper_dir: Path) -> None:
    """Linux nices a thread, not a process: the spare nices itself before it loads the
    model, so the model's threads inherit it; the usual workers keep the default."""
    async def run() -> tuple[set[int], list[set[int]]]:
        async with SpeechToText(SttConfig(model_dir=whisper_dir, workers=1)) as stt:
            spare = await stt.warm_spare()
            await stt.transcribe_carefully(_turn())  # the model's threads are started
            return _nice(spare), [_nice(pid) for pid in stt.worker_pids]

    spare, workers = asyncio.run(run())
    assert spare == {SPARE_NICE}
    assert workers == [{os.nice(0)}]


def test_an_unsure_turn_waits_for_the_spare_no_longer_than_its_first_framing_took(
        whisper_dir: Path, engine: WhisperEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    """A spare with no CPU (a crowded box) never answers: the turn keeps its first text
    once it has waited as long as its first framing took."""
    monkeypatch.setattr(careful, "UNSURE_LOGPROB", 0.0)
    monkeypatch.setattr(stt_module, "SPARE_WAIT_AT_LEAST_S", 0.0)

    async def run() -> tuple[Transcript, BatchStats]:
        async with SpeechToText(SttConfig(model_dir=whisper_dir, workers=1)) as stt:
            starved: asyncio.Future[Transcript] = asyncio.get_running_loop().create_future()
            monkeypatch.setattr(stt, "_on_spare", lambda pcm, hints: starved)
            # without the bound the pass waits for the starved spare for ever
            got = await asyncio.wait_for(stt.transcribe_carefully(_turn()), 100)
            return got, stt.stats

    got, stats = asyncio.run(run())
    assert not got.reframed
    assert stats.reframed == 0
    assert got.text == engine.transcribe_careful(Request(_turn())).text


@pytest.mark.parametrize("warm", [True, False])
def test_closing_ends_the_spare(whisper_dir: Path, warm: bool) -> None:
    """No spare outlives the pool: idle, or still loading its model (a call's first
    free-text turn started it just before the pool closed)."""
    async def run() -> list[int]:
        async with SpeechToText(SttConfig(model_dir=whisper_dir, workers=1)) as stt:
            if warm:
                await stt.warm_spare()
            await stt.transcribe_carefully(_turn())
            spare = stt._spare
            assert spare is not None
            return list(spare._processes)

    pids = asyncio.run(run())
    assert pids
    assert not [pid for pid in pids if Path(f"/proc/{pid}").exists()]
