"""Early transcription and early end of turn, with a scripted transcriber and frame clock.

The transcriber here is a stand-in that answers after one loop iteration, so what is tested
is the turn logic (which audio is transcribed when, what is reused); the real model is used
in ``test_pipeline.py``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

import numpy as np
import pytest

from agent.grammar.completion import Completion, completion
from agent.speech.audio import FRAME_SAMPLES
from agent.speech.endpoint import EndpointConfig, Endpointer, EndReason
from agent.speech.streaming import StreamingConfig, StreamingTranscriber, TurnResult
from agent.speech.stt import SttShedError, SttWorkerError
from agent.speech.turn_end import TurnEndMode
from agent.speech.turns import BargeIn, BargeInDetector
from agent.speech.whisper import Hints, Transcript

LOUD = np.full(FRAME_SAMPLES, 1000, dtype=np.int16)
QUIET = np.zeros(FRAME_SAMPLES, dtype=np.int16)


def energy(frame: np.ndarray) -> bool:
    return bool(frame.any())


class ScriptedStt:
    """Answers "yes" for any audio after one event-loop turn; records what it was asked."""

    def __init__(self, text: str = "yes", *, busy: bool = False) -> None:
        self.text = text
        self.idle_workers = 0 if busy else 1
        self.calls: list[int] = []  # audio length of each request, in frames

    async def transcribe(self, pcm16k: np.ndarray, hints: Hints | None = None) -> Transcript:
        self.calls.append(len(pcm16k) // FRAME_SAMPLES)
        await asyncio.sleep(0)
        return Transcript(self.text, len(pcm16k) / 16000, 0.0)


async def feed(st: StreamingTranscriber, pattern: str) -> None:
    for ch in pattern:
        st.feed(LOUD if ch == "#" else QUIET)
        for _ in range(3):
            await asyncio.sleep(0)  # let background transcriptions run (no wall-clock wait)


def make(stt: ScriptedStt, **kw) -> StreamingTranscriber:
    ep = Endpointer(EndpointConfig(hangover_ms=600), classifier=energy)
    return StreamingTranscriber(stt, ep, StreamingConfig(pause_ms=200), **kw)


async def test_partial_at_pause_is_reused_at_end_of_speech() -> None:
    async with asyncio.TaskGroup() as tg:
        stt = ScriptedStt()
        st = make(stt, tasks=tg)
        await feed(st, "#" * 50 + "." * 40)
        turn = await st.next_turn()
        assert turn.reused_partial
        assert turn.partials == 1
        assert len(stt.calls) == 1  # nothing left to transcribe at the end
        assert turn.endpoint_at - turn.end == pytest.approx(0.6)
        await st.aclose()


async def test_speech_after_a_pause_gets_a_new_partial() -> None:
    async with asyncio.TaskGroup() as tg:
        stt = ScriptedStt()
        st = make(stt, tasks=tg)
        await feed(st, "#" * 30 + "." * 15 + "#" * 30 + "." * 40)
        turn = await st.next_turn()
        assert turn.partials == 2
        assert turn.reused_partial
        assert stt.calls[1] > stt.calls[0]  # the second partial covers all the speech
        assert len(stt.calls) == 2
        await st.aclose()


async def test_busy_workers_mean_no_partials_and_one_final_transcription() -> None:
    async with asyncio.TaskGroup() as tg:
        stt = ScriptedStt(busy=True)
        st = make(stt, tasks=tg)
        await feed(st, "#" * 50 + "." * 40)
        turn = await st.next_turn()
        assert (turn.partials, turn.reused_partial, len(stt.calls)) == (0, False, 1)
        await st.aclose()


@pytest.mark.parametrize(("typed", "free_text", "when_busy", "partials"),
                         [(True, False, True, 1), (False, False, True, 1),
                          (False, True, True, 0), (True, False, False, 0)])
async def test_busy_workers_still_take_a_judged_answers_early_transcript(
        typed: bool, free_text: bool, when_busy: bool, partials: int) -> None:
    """A judged answer's early transcript (typed, or intents only) is queued whatever the
    load, so its verdict ends the turn (one transcription, reused) instead of the hangover
    and then a decode; free text waits for a spare worker."""
    async with asyncio.TaskGroup() as tg:
        stt = ScriptedStt(busy=True)
        ep = Endpointer(EndpointConfig(hangover_ms=600), classifier=energy)
        cfg = StreamingConfig(pause_ms=200, complete_hangover_ms=200,
                              judged_when_busy=when_busy)
        st = StreamingTranscriber(stt, ep, cfg, tasks=tg)
        st.expect(None, lambda text: text == "yes", typed=typed, free_text=free_text)
        await feed(st, "#" * 20 + "." * 40)
        turn = await st.next_turn()
        assert (turn.partials, turn.reused_partial, len(stt.calls)) == (
            partials, bool(partials), 1)
        assert turn.endpoint_at - turn.end == pytest.approx(0.2 if partials else 0.6)
        await st.aclose()


class HeldStt(ScriptedStt):
    """Holds every request until the test releases it; records the cancelled ones."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.cancelled: list[int] = []

    async def transcribe(self, pcm16k: np.ndarray, hints: Hints | None = None) -> Transcript:
        frames = len(pcm16k) // FRAME_SAMPLES
        self.calls.append(frames)
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled.append(frames)
            raise
        return Transcript(self.text, frames * 0.02, 0.0)


async def test_early_transcript_is_cancelled_as_soon_as_the_caller_goes_on() -> None:
    """Speech after the pause makes the early transcript stale: it leaves the queue at
    once (the first voiced frame), not at the next pause."""
    async with asyncio.TaskGroup() as tg:
        stt = HeldStt()
        st = make(stt, tasks=tg)
        await feed(st, "#" * 30 + "." * 12)
        assert len(stt.calls) == 1
        assert not stt.cancelled
        await feed(st, "#")
        assert stt.cancelled == stt.calls  # before any new pause
        stt.release.set()
        await feed(st, "#" * 10 + "." * 40)
        turn = await st.next_turn()
        assert turn.reused_partial
        assert turn.partials == 2
        await st.aclose()


async def test_without_early_transcription_only_the_final_one_runs() -> None:
    async with asyncio.TaskGroup() as tg:
        stt = ScriptedStt()
        ep = Endpointer(EndpointConfig(hangover_ms=600), classifier=energy)
        st = StreamingTranscriber(stt, ep, StreamingConfig(early=False), tasks=tg)
        await feed(st, "#" * 50 + "." * 40)
        turn = await st.next_turn()
        assert (turn.partials, turn.reused_partial, len(stt.calls)) == (0, False, 1)
        await st.aclose()


async def test_complete_answer_ends_the_turn_early() -> None:
    async with asyncio.TaskGroup() as tg:
        stt = ScriptedStt("yes")
        ep = Endpointer(EndpointConfig(hangover_ms=600), classifier=energy)
        cfg = StreamingConfig(pause_ms=200, complete_hangover_ms=300)
        st = StreamingTranscriber(stt, ep, cfg, tasks=tg, is_complete=lambda text: text == "yes")
        await feed(st, "#" * 20 + "." * 40)
        turn = await st.next_turn()
        assert turn.complete
        assert turn.reused_partial
        assert turn.endpoint_at - turn.end == pytest.approx(0.3)
        await st.aclose()


async def test_complete_answer_with_short_hangover_ends_at_once() -> None:
    async with asyncio.TaskGroup() as tg:
        stt = ScriptedStt("yes")
        ep = Endpointer(EndpointConfig(hangover_ms=600), classifier=energy)
        cfg = StreamingConfig(pause_ms=200, complete_hangover_ms=200)
        st = StreamingTranscriber(stt, ep, cfg, tasks=tg, is_complete=lambda text: True)
        await feed(st, "#" * 20 + "." * 40)
        turn = await st.next_turn()
        assert turn.reason is EndReason.FORCED
        assert turn.endpoint_at - turn.end == pytest.approx(0.2)
        await st.aclose()


async def test_incomplete_answer_keeps_the_normal_hangover() -> None:
    async with asyncio.TaskGroup() as tg:
        stt = ScriptedStt("my date of birth is")
        ep = Endpointer(EndpointConfig(hangover_ms=600), classifier=energy)
        st = StreamingTranscriber(
            stt, ep, StreamingConfig(complete_hangover_ms=200), tasks=tg,
                is_complete=lambda t: "19" in t
        )
        await feed(st, "#" * 20 + "." * 40)
        turn = await st.next_turn()
        assert not turn.complete
        assert turn.endpoint_at - turn.end == pytest.approx(0.6)
        await st.aclose()


async def test_turns_come_out_in_order() -> None:
    async with asyncio.TaskGroup() as tg:
        stt = ScriptedStt()
        st = make(stt, tasks=tg)
        await feed(st, ("#" * 20 + "." * 35) * 3)
        turns: list[TurnResult] = [await st.next_turn() for _ in range(3)]
        assert [t.onset for t in turns] == sorted(t.onset for t in turns)
        await st.aclose()


class FailingStt(ScriptedStt):
    async def transcribe(self, pcm16k: np.ndarray, hints: Hints | None = None) -> Transcript:
        self.calls.append(len(pcm16k) // FRAME_SAMPLES)
        raise SttWorkerError("a speech-to-text worker process died")


async def test_failed_transcription_surfaces_on_its_turn_and_the_next_turn_works() -> None:
    async with asyncio.TaskGroup() as tg:
        stt = FailingStt(busy=True)  # busy: no partials, the final transcription fails
        st = make(stt, tasks=tg)
        await feed(st, "#" * 20 + "." * 35)
        with pytest.raises(SttWorkerError):
            await st.next_turn()
        st.stt = ScriptedStt("no", busy=True)
        await feed(st, "#" * 20 + "." * 35)
        assert (await st.next_turn()).text == "no"
        await st.aclose()


async def test_barge_in_detector_is_fed_by_the_transcriber() -> None:
    async with asyncio.TaskGroup() as tg:
        cancels: list[float] = []
        stt = ScriptedStt()
        ep = Endpointer(EndpointConfig(), classifier=energy)
        detector = BargeInDetector(lambda: cancels.append(ep.now))
        st = StreamingTranscriber(stt, ep, tasks=tg, barge_in=detector)
        detector.playback_started(interruptible=True)
        events = []
        for i, ch in enumerate("....#####"):
            events += st.feed(LOUD if ch == "#" else QUIET, (i + 1) * 0.02)
        barge = [e for e in events if isinstance(e, BargeIn)]
        assert barge == [BargeIn(onset=0.08, now=0.14, interrupted=True)]
        assert cancels == [pytest.approx(0.14)]
        await st.aclose()


class FlakyStt(ScriptedStt):
    """The first request fails (a worker died), the rest answer."""

    async def transcribe(self, pcm16k: np.ndarray, hints: Hints | None = None) -> Transcript:
        if not self.calls:
            self.calls.append(len(pcm16k) // FRAME_SAMPLES)
            raise SttWorkerError("a speech-to-text worker process died")
        return await super().transcribe(pcm16k, hints)


async def test_a_failed_partial_aborts_neither_the_call_nor_the_turn() -> None:
    stt = FlakyStt()
    async with asyncio.TaskGroup() as tg:  # the call's group: a failure here would end it
        st = make(stt, tasks=tg)
        await feed(st, "#" * 50 + "." * 40)
        turn = await st.next_turn()
        assert turn.text == "yes"
        assert turn.partials == 1
        assert not turn.reused_partial  # the failed guess is not used; the turn is redone
        await st.aclose()


class StuckStt(ScriptedStt):
    async def transcribe(self, pcm16k: np.ndarray, hints: Hints | None = None) -> Transcript:
        self.calls.append(len(pcm16k) // FRAME_SAMPLES)
        await asyncio.Event().wait()  # never answers
        raise AssertionError("unreachable")


async def test_transcriptions_are_tasks_of_the_call_and_stop_with_it() -> None:
    stt = StuckStt()
    before = asyncio.all_tasks()
    async with asyncio.TaskGroup() as tg:
        st = make(stt, tasks=tg)
        await feed(st, "#" * 30 + "." * 12)  # a pause: a partial starts and hangs
        assert stt.calls
        assert len(asyncio.all_tasks() - before) == 1
        await st.aclose()
    assert asyncio.all_tasks() == before  # nothing left running after the call


@pytest.mark.parametrize("voiced", [35, 41, 57])
async def test_partial_is_reused_whatever_the_float_of_the_frame_time(voiced: int) -> None:
    # 35 x 0.02 is 0.7000000000000001: the utterance's end is rounded, so a partial keyed
    # by the raw frame time was never reused and the turn was transcribed twice
    async with asyncio.TaskGroup() as tg:
        stt = ScriptedStt()
        st = make(stt, tasks=tg)
        await feed(st, "#" * voiced + "." * 40)
        turn = await st.next_turn()
        assert turn.reused_partial
        assert len(stt.calls) == 1
        await st.aclose()


class TwoPassStt(ScriptedStt):
    """The quick pass says ``text``; the careful pass says ``careful`` (or fails)."""

    def __init__(self, text: str, careful: str | None) -> None:
        super().__init__(text)
        self.careful = careful
        self.careful_calls = 0

    async def transcribe_carefully(self, pcm16k: np.ndarray, hints: Hints | None = None, *,
                                   within_s: float | None = None, reframe: bool = True
                                   ) -> Transcript:
        self.careful_calls += 1
        self.careful_frames = len(pcm16k) // FRAME_SAMPLES
        self.within_s = within_s
        self.reframe = reframe
        await asyncio.sleep(0)
        if self.careful is None:
            raise SttWorkerError("worker died")
        if self.careful == "<shed>":
            raise SttShedError("not decoded: it could not be back in time")
        return Transcript(self.careful, len(pcm16k) / 16000, 0.0, language="en")


@pytest.mark.parametrize(("first", "careful", "enabled", "text", "passes", "complete"), [
    ("yes", "yes", True, "yes", 0, True),  # the grammar understood it: no second pass
    ("yet", "yes", True, "yes", 1, True),  # off grammar: decoded again, that text used
    ("yet", "yep", True, "yep", 1, False),  # still off grammar: the careful text stands
    ("yet", None, True, "yet", 1, False),  # the second pass failed: the first text stands
    ("yet", "<shed>", True, "yet", 1, False),  # crowded workers shed it: the first stands
    ("yet", "", True, "yet", 1, False),  # the second pass heard nothing: the first stands
    ("", "yes", True, "", 0, False),  # nothing heard: nothing to decode again
    ("yet", "yes", False, "yet", 0, False),  # second_pass off: the first pass alone
])
async def test_a_turn_the_grammar_did_not_understand_is_decoded_again_carefully(
        first: str, careful: str | None, enabled: bool, text: str, passes: int,
        complete: bool) -> None:
    async with asyncio.TaskGroup() as tg:
        stt = TwoPassStt(first, careful)
        ep = Endpointer(EndpointConfig(hangover_ms=600), classifier=energy)
        cfg = StreamingConfig(pause_ms=200, second_pass=enabled)
        st = StreamingTranscriber(stt, ep, cfg, tasks=tg, is_complete=lambda t: t == "yes")
        await feed(st, "#" * 20 + "." * 40)
        turn = await st.next_turn()
        assert (turn.text, stt.careful_calls, turn.complete) == (text, passes, complete)
        if passes:  # the turn as recorded: the lead before and the silence after it too
            assert stt.careful_frames == max(stt.calls) + 30 - 5
            assert stt.within_s == cfg.second_pass_wait_s  # no use decoding it after that
        await st.aclose()


@pytest.mark.parametrize("free_text", [True, False])
async def test_only_free_text_asks_for_the_turns_second_framing(free_text: bool) -> None:
    """A second framing (``SpeechToText.transcribe_carefully``) is worth it where the words
    are kept (a name, a reason), not for a judged answer's pass, which only has to reach
    the grammar: an unsure turn may wait for it as long again as for its first."""
    async with asyncio.TaskGroup() as tg:
        stt = TwoPassStt("yet", "yes")
        ep = Endpointer(EndpointConfig(hangover_ms=600), classifier=energy)
        st = StreamingTranscriber(stt, ep, StreamingConfig(pause_ms=200), tasks=tg)
        st.expect(None, lambda t: t == "yes", typed=False, free_text=free_text, quick=False)
        await feed(st, "#" * 20 + "." * 40)
        assert (await st.next_turn()).text == "yes"
        assert stt.careful_calls == 1
        assert stt.reframe is free_text
        await st.aclose()


class SlowSecondPassStt(TwoPassStt):
    """The careful pass waits on the crowded workers (an event the test never sets)."""

    def __init__(self, text: str, careful: str) -> None:
        super().__init__(text, careful)
        self.released = asyncio.Event()
        self.cancelled = False

    async def transcribe_carefully(self, pcm16k: np.ndarray, hints: Hints | None = None, *,
                                   within_s: float | None = None, reframe: bool = True
                                   ) -> Transcript:
        try:
            await self.released.wait()
        except asyncio.CancelledError:
            self.cancelled = True  # the caller stopped waiting: its queued job is dropped
            raise
        return await super().transcribe_carefully(pcm16k, hints, within_s=within_s,
                                                reframe=reframe)


async def test_a_second_pass_not_back_in_time_leaves_the_first_text() -> None:
    async with asyncio.TaskGroup() as tg:
        stt = SlowSecondPassStt("yet", "yes")
        ep = Endpointer(EndpointConfig(hangover_ms=600), classifier=energy)
        # A deadline already passed: the timeout fires on the next loop turn, no wall clock.
        cfg = StreamingConfig(pause_ms=200, second_pass_wait_s=0.0, second_pass_decode_s=0.0)
        st = StreamingTranscriber(stt, ep, cfg, tasks=tg, is_complete=lambda t: t == "yes")
        await feed(st, "#" * 20 + "." * 40)
        async with asyncio.timeout(5):  # bounded: the deadline above is already past
            turn = await st.next_turn()
        assert (turn.text, turn.complete, stt.cancelled) == ("yet", False, True)
        await st.aclose()


async def test_a_second_pass_a_worker_took_is_waited_for_past_the_queue_wait() -> None:
    """``second_pass_wait_s`` is how long a second pass may wait for a worker (the
    speech pool sheds it after that); one a worker took is waited for while it decodes,
    up to ``second_pass_decode_s``. Before, the whole pass had ``second_pass_wait_s``
    (2 s): on an idle 2-core box a turn over about 8 s took longer than that to decode
    and kept its first text. Here the wait is already over when the pass starts."""
    async with asyncio.TaskGroup() as tg:
        stt = SlowSecondPassStt("yet", "yes")  # in a worker until the test releases it
        ep = Endpointer(EndpointConfig(hangover_ms=600), classifier=energy)
        cfg = StreamingConfig(pause_ms=200, second_pass_wait_s=0.0)
        st = StreamingTranscriber(stt, ep, cfg, tasks=tg, is_complete=lambda t: t == "yes")
        await feed(st, "#" * 20 + "." * 40)  # the turn ends; its pass begins and waits
        assert not stt.cancelled  # still awaited, with second_pass_wait_s long over
        stt.released.set()  # the worker is done decoding
        async with asyncio.timeout(5):
            turn = await st.next_turn()
        assert (turn.text, turn.complete, stt.within_s) == ("yes", True, 0.0)
        await st.aclose()


@pytest.mark.parametrize(("first", "passes"), [
    ("Yes,", 0),  # Whisper's comma on a finished "yes": no second pass
    ("Yes...", 0),
    ("Yes, and", 1),  # the words themselves trail off: decoded again
    ("Thank you.", 1),  # no answer in it
])
async def test_an_ended_turn_is_judged_as_finished_words(first: str, passes: int) -> None:
    """The real yes/no grammar: a final text "Yes," (tiny wrote a comma after a phone's
    "Yes.") trails off, so the turn was sent to the careful second pass, and on a crowded
    box 395 of 600 turns queued one (bench/concurrent_calls.py, 40 calls: all shed, the
    turns still right). Once the caller has been silent for the hangover, the comma is
    punctuation; words that trail off still get the second pass."""
    now = dt.datetime(2026, 12, 6, 12, tzinfo=dt.UTC)

    def judge(text: str) -> Completion:
        return completion(text, now, slot_type="yes_no", intents=("agent", "repeat"))

    async with asyncio.TaskGroup() as tg:
        stt = TwoPassStt(first, "Yes, I do.")
        ep = Endpointer(EndpointConfig(hangover_ms=600), classifier=energy)
        st = StreamingTranscriber(stt, ep, StreamingConfig(pause_ms=200), tasks=tg,
                                  is_complete=judge)
        await feed(st, "#" * 20 + "." * 40)
        turn = await st.next_turn()
        assert (stt.careful_calls, turn.complete) == (passes, True)
        assert turn.text == (first if not passes else "Yes, I do.")
        await st.aclose()


class EarlyCarefulStt(TwoPassStt):
    """Notes, for each careful pass, whether the turn was still open when it was asked
    for and how long its audio was; answers ``careful``, or "careful N" (N frames)."""

    def __init__(self, text: str, careful: str = "") -> None:
        super().__init__(text, careful)
        self.st: StreamingTranscriber | None = None
        self.asked: list[tuple[bool, int]] = []  # (turn still open, frames)

    async def transcribe_carefully(self, pcm16k: np.ndarray, hints: Hints | None = None, *,
                                   within_s: float | None = None, reframe: bool = True
                                   ) -> Transcript:
        assert self.st is not None
        frames = len(pcm16k) // FRAME_SAMPLES
        self.asked.append((self.st.endpointer.in_speech, frames))
        got = await super().transcribe_carefully(pcm16k, hints, within_s=within_s,
                                                reframe=reframe)
        return got if self.careful else Transcript(f"careful {frames}", len(pcm16k) / 16000, 0.0)


def dob_turns(stt: EarlyCarefulStt, tg: asyncio.TaskGroup) -> StreamingTranscriber:
    """grammar end of turn with the real date-of-birth grammar."""
    now = dt.datetime(2026, 12, 6, 12, tzinfo=dt.UTC)
    ep = Endpointer(EndpointConfig(hangover_ms=600), classifier=energy)
    cfg = StreamingConfig(pause_ms=200, turn_end=TurnEndMode.GRAMMAR,
                          incomplete_hangover_ms=1300)
    st = StreamingTranscriber(stt, ep, cfg, tasks=tg,
                              is_complete=lambda text: completion(text, now, slot_type="dob"))
    stt.st = st
    return st


@pytest.mark.parametrize(("first", "waited_s", "early"), [
    ("Mark Spiff 1980", 0.6, True),  # its year said: misheard, not unfinished
    ("Mark Spiff", 1.3, False),  # no year yet: the caller may still be going on
])
async def test_a_misheard_date_of_birth_waits_for_more_only_before_its_year(
        first: str, waited_s: float, early: bool) -> None:
    """The real date-of-birth grammar, grammar end of turn: base heard a phone's "March
    fifth, nineteen eighty." as "Mark Spiff 1980" (bench/concurrent_calls.py, one
    rendition in eight). Judged INCOMPLETE, the turn waited incomplete_hangover_ms of
    silence for words that never came, and only then began the second pass that fixed
    it. Now it waits the base hangover, and the second pass begins at the pause."""
    async with asyncio.TaskGroup() as tg:
        stt = EarlyCarefulStt(first, "March 5th, 1980.")
        st = dob_turns(stt, tg)
        await feed(st, "#" * 20 + "." * 80)
        turn = await st.next_turn()
        assert turn.endpoint_at - turn.end == pytest.approx(waited_s)
        assert (turn.text, turn.complete) == ("March 5th, 1980.", True)
        # one second pass: begun while the turn was open (misheard) or after it (unfinished)
        assert [open_ for open_, _ in stt.asked] == [early]
        # the audio a pass at the end of the turn gets: the lead, the words, the hangover
        assert stt.asked[0][1] == max(stt.calls) + round(waited_s * 50) - 5
        await st.aclose()


async def test_a_second_pass_begun_at_a_pause_the_caller_talked_on_from_is_not_used() -> None:
    async with asyncio.TaskGroup() as tg:
        stt = EarlyCarefulStt("Mark Spiff 1980")
        st = dob_turns(stt, tg)
        await feed(st, "#" * 20 + "." * 15 + "#" * 20 + "." * 80)
        turn = await st.next_turn()
        assert [open_ for open_, _ in stt.asked] == [True, True]  # one at each pause
        assert turn.text == f"careful {stt.asked[-1][1]}"  # the last pause's, not the first
        assert stt.asked[0][1] < stt.asked[-1][1]
        await st.aclose()


@pytest.mark.parametrize(("first", "turn_end", "free_text", "passes"), [
    ("March 5th, 1980.", TurnEndMode.GRAMMAR, False, 0),  # understood: no second pass
    ("Mark Spiff 1980", TurnEndMode.GRAMMAR, True, 1),  # free text: only at the end
    ("Mark Spiff 1980", TurnEndMode.SILENCE, False, 1),  # silence rule: only at the end
])
async def test_only_a_judged_answer_the_grammar_cannot_place_gets_an_early_second_pass(
        first: str, turn_end: TurnEndMode, free_text: bool, passes: int) -> None:
    async with asyncio.TaskGroup() as tg:
        stt = EarlyCarefulStt(first, "Something else.")
        st = dob_turns(stt, tg)
        st.config = dataclasses.replace(st.config, turn_end=turn_end)
        st.policy = st.config.policy(600)
        st.expect(None, st.is_complete, free_text=free_text)
        await feed(st, "#" * 20 + "." * 80)
        await st.next_turn()
        assert [open_ for open_, _ in stt.asked] == [False] * passes
        await st.aclose()


async def test_without_a_judge_there_is_no_second_pass() -> None:
    async with asyncio.TaskGroup() as tg:
        stt = TwoPassStt("anything", "else")
        st = make(stt, tasks=tg)
        await feed(st, "#" * 20 + "." * 40)
        turn = await st.next_turn()
        assert (turn.text, stt.careful_calls) == ("anything", 0)
        await st.aclose()


class TwoModelStt(ScriptedStt):
    """Records which entry point each request came through (quick first, or base)."""

    def __init__(self, text: str = "yes") -> None:
        super().__init__(text)
        self.quick: list[bool] = []

    async def transcribe(self, pcm16k: np.ndarray, hints: Hints | None = None) -> Transcript:
        self.quick.append(False)
        return await super().transcribe(pcm16k, hints)

    async def transcribe_quickly(self, pcm16k: np.ndarray, hints: Hints | None = None
                                 ) -> Transcript:
        self.quick.append(True)
        return await super().transcribe(pcm16k, hints)


@pytest.mark.parametrize(("judged", "free_text", "exact", "quick"),
                         [(True, False, False, True), (True, True, False, False),
                          (False, False, False, False), (True, False, True, False)])
async def test_only_judged_answers_go_to_the_quick_model(judged: bool, free_text: bool,
                                                         exact: bool, quick: bool) -> None:
    """Early and final transcripts of an answer the grammar judges ask for the quick
    model first; a name or free text, a date of birth, or a state with no judge, goes to
    base."""
    async with asyncio.TaskGroup() as tg:
        stt = TwoModelStt()
        st = make(stt, tasks=tg)
        st.expect(None, (lambda text: text == "yes") if judged else None, free_text=free_text,
                  quick=not exact)
        # a pause (early transcript), more speech, then the end (a final transcript)
        await feed(st, "#" * 20 + "." * 12 + "#" * 20 + "." * 40)
        await st.next_turn()
        assert stt.quick
        assert set(stt.quick) == {quick}
        await st.aclose()


def test_dates_of_birth_and_free_text_are_never_the_quick_models() -> None:
    from agent.grammar import SLOT_TYPES  # noqa: PLC0415
    from agent.speech.turn_end import BASE_SLOTS, quick_answer  # noqa: PLC0415

    assert BASE_SLOTS <= SLOT_TYPES  # a misspelt slot would silently go to tiny
    assert [quick_answer(s) for s in ("dob", "name", "text")] == [False] * 3
    assert [quick_answer(s) for s in ("yes_no", "date_pref", "member_id", "phone", None)] == [
        True] * 5


async def test_an_answering_machine_check_sends_the_greeting_to_the_quick_model() -> None:
    """The greeting before an outbound call's first words (answering-machine detection)
    goes to the quick model first: only its gist counts. Before, it went to base (no
    judge), the other base decode at the start of every call. The turn after it, with
    no judge set, goes to base again."""
    from types import SimpleNamespace  # noqa: PLC0415

    from agent.amd import AmdVerdict, detect_machine  # noqa: PLC0415
    from agent.voice import VoiceTranscript  # noqa: PLC0415

    async with asyncio.TaskGroup() as tg:
        stt = TwoModelStt("Hello?")
        st = make(stt, tasks=tg)
        io = SimpleNamespace(transcriber=st, transcript=VoiceTranscript())
        verdict = tg.create_task(detect_machine(io))  # type: ignore[arg-type]
        await feed(st, "#" * 20 + "." * 12 + "#" * 10 + "." * 40)
        assert await verdict is AmdVerdict.HUMAN
        assert stt.quick
        assert set(stt.quick) == {True}
        asked = len(stt.quick)
        await feed(st, "#" * 20 + "." * 40)
        await st.next_turn()
        assert stt.quick[asked:] == [False]
        await st.aclose()
