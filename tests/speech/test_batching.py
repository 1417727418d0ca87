"""The speech scheduler (shortest first with aging, batches of alike windows) and batched
decoding with the real model: several callers' utterances in one model call."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from agent.speech import stt as stt_module
from agent.speech.schedule import BatchScheduler
from agent.speech.stt import BLAS_THREADS, ONEDNN_PRIMITIVE_CACHE, SpeechToText, SttShedError
from agent.speech.whisper import Hints, Request, SttConfig, unloop
from tests.speech.conftest import load_vector, silence


def words(text: str) -> str:
    return "".join(c for c in text.lower() if c.isalnum() or c == " ")


# --- the scheduler, with a controlled clock ------------------------------------------


def test_short_answers_overtake_a_long_utterance() -> None:
    q = BatchScheduler(max_batch=8)
    q.add(1, 10.0, now=0.0)  # a long utterance, first in
    q.add(2, 2.0, now=0.1)
    q.add(3, 2.5, now=0.2)
    assert q.take(now=0.3) == [2, 3]  # alike windows share a batch; the long one waits
    assert q.take(now=0.4) == [1]
    assert q.take(now=0.5) == []


def test_a_waiting_long_utterance_ages_past_fresh_short_ones() -> None:
    q = BatchScheduler(max_batch=8, aging=2.0)
    q.add(1, 10.0, now=0.0)
    q.add(2, 2.0, now=4.0)
    assert q.take(now=4.0) == [1]  # 10 - 2*4 = 2 beats the fresh 2 s (it came first)
    q.add(3, 10.0, now=5.0)
    q.add(4, 2.0, now=5.0)
    assert q.take(now=5.0) == [2, 4]


def test_batches_stop_at_max_batch_and_the_window_budget() -> None:
    q = BatchScheduler(max_batch=3, max_window_s=24.0)
    for key in range(5):
        q.add(key, 2.0, now=0.0)
    assert q.take(now=0.0) == [0, 1, 2]
    assert q.take(now=0.0) == [3, 4]
    wide = BatchScheduler(max_batch=8, max_window_s=24.0)
    for key in range(4):
        wide.add(key, 10.0, now=float(key))
    assert wide.take(now=4.0) == [0, 1]  # 3 x 10 s would pass 24 window-seconds
    assert wide.remove(3)
    assert not wide.remove(3)
    assert wide.take(now=4.0) == [2]
    with pytest.raises(ValueError, match="max_batch"):
        BatchScheduler(max_batch=0)


def test_a_batch_takes_its_workers_share_of_the_queue() -> None:
    # Before: the first worker free took all four (up to max_batch), the second none.
    q = BatchScheduler(max_batch=8)
    for key in range(5):
        q.add(key, 6.0, now=0.0)
    assert q.take(now=0.0, workers=2) == [0, 1, 2]  # ceil(5 / 2)
    assert q.take(now=0.0, workers=2) == [3]
    assert q.take(now=0.0, workers=2) == [4]
    assert q.take(now=0.0, workers=2) == []


def test_a_careful_second_pass_goes_in_a_batch_of_its_own() -> None:
    """Before, a careful request (about 0.8 s of decoding) shared its batch with short
    answers, and a worker returns a batch at once: their callers waited for it."""
    q = BatchScheduler(max_batch=8)
    q.add(1, 2.0, now=0.0)
    q.add(2, 2.0, now=0.0, solo=True)
    q.add(3, 2.5, now=0.1)
    q.add(4, 2.0, now=0.2, solo=True)
    assert q.take(now=0.3) == [1, 3]  # the quick ones together, the careful ones skipped
    assert q.take(now=0.3) == [2]  # a careful head takes nobody with it
    assert q.take(now=0.3) == [4]
    assert q.take(now=0.3) == []


def test_jobs_of_different_kinds_never_share_a_batch() -> None:
    """Before, a quick model's "yes" and an utterance for base with alike windows went in
    one batch, and the "yes" came back only when base had decoded the other."""
    q = BatchScheduler(max_batch=8)
    q.add(1, 3.0, now=0.0, kind="quick")
    q.add(2, 3.5, now=0.0, kind="usual")
    q.add(3, 3.0, now=0.1, kind="quick")
    assert q.take(now=0.2) == [1, 3]
    assert q.take(now=0.2) == [2]


def test_unloop_cuts_a_decoding_loop_to_one_copy() -> None:
    assert unloop([7, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1]) == [7, 1, 2, 3]
    assert unloop([5, 5]) == [5]
    assert unloop([1, 2, 3, 1, 2, 4]) == [1, 2, 3, 1, 2, 4]  # no loop: kept


# --- the real model ------------------------------------------------------------------


@pytest.mark.models
def test_dense_speech_keeps_its_end(engine) -> None:
    # Fails before the fix: CTranslate2 generates at most max_length / 2 tokens, so the
    # budget meant for 10 tokens a second was 5, and this count stopped at 16.
    text = engine.transcribe(load_vector("caller_count_fast.wav")).text
    assert "20" in text or "twenty" in text.lower()


@pytest.mark.models
def test_one_model_call_serves_several_callers_with_their_own_prompts(engine) -> None:
    out = engine.transcribe_batch([
        Request(load_vector("caller_yes.wav"), Hints(expected=("yes", "no")).prompt()),
        Request(load_vector("caller_dob.wav"), None),
        Request(silence(0.05)),
        Request(load_vector("caller_person.wav"),
                Hints(vocabulary=("Dr. Okafor", "Riverside Clinic")).prompt()),
    ])
    assert "yes" in words(out[0].text)
    assert "march 4" in words(out[1].text)
    assert out[2].text == ""
    assert "person" in words(out[3].text)
    assert "okafor" not in words(out[3].text)  # a hint steers; it is never transcribed


@pytest.mark.models
async def test_requests_queued_while_the_worker_is_busy_go_as_one_batch(
    whisper_dir: Path,
) -> None:
    now = [100.0]
    stt = SpeechToText(SttConfig(model_dir=whisper_dir, workers=1), clock=lambda: now[0])
    await stt.start()
    try:
        yes, dob = load_vector("caller_yes.wav"), load_vector("caller_dob.wav")
        first = asyncio.ensure_future(stt.transcribe(dob))
        await asyncio.sleep(0)  # bounded: one loop turn, so the first one is sent alone
        dropped = asyncio.ensure_future(stt.transcribe(dob))
        rest = [asyncio.ensure_future(stt.transcribe(yes, Hints(expected=("yes",))))
                for _ in range(3)]
        await asyncio.sleep(0)
        assert stt.pending == 5
        assert stt.idle_workers == 0
        dropped.cancel()  # the caller hung up while queued: never decoded
        now[0] = 101.5  # when the first batch comes back and the second one is sent
        results = await asyncio.gather(first, *rest)
        assert "march 4" in words(results[0].text)
        assert all("yes" in words(r.text) for r in results[1:])
        assert (stt.stats.batches, stt.stats.items) == (2, 4)
        # Queueing apart from decoding: three waited 1.5 s, the first batch held 1.5 s.
        assert (stt.stats.queued_s, stt.stats.max_queued_s) == (4.5, 1.5)
        assert stt.stats.decode_s == 1.5
        assert stt.stats.cpu_s > 0
        assert stt.stats.retried == stt.stats.retried_30s == 0
        assert stt.pending == 0
        assert stt.idle_workers == 1
    finally:
        await stt.close()


@pytest.mark.models
async def test_a_worker_that_frees_takes_what_waits_when_the_other_is_busy(
    whisper_dir: Path,
) -> None:
    """Two workers, each busy with a date of birth; two short answers queue. The worker
    free first takes both (a batch of quick answers costs less each than one alone);
    before, it took its share of the queue as if both workers were free (one), and the
    other answer waited for the second worker."""
    stt = SpeechToText(SttConfig(model_dir=whisper_dir, workers=2))
    await stt.start()
    try:
        yes, dob = load_vector("caller_yes.wav"), load_vector("caller_dob.wav")
        # Tasks start in the order they were made, all before any decode can end: the
        # two dates of birth take both workers and the two short answers queue.
        busy = [asyncio.ensure_future(stt.transcribe(dob)) for _ in range(2)]
        short = [asyncio.ensure_future(stt.transcribe(yes, Hints(expected=("yes",))))
                 for _ in range(2)]
        results = await asyncio.gather(*busy, *short)
        assert stt.stats.max_queued_s > 0  # the short answers did wait for a worker
        assert all("yes" in words(r.text) for r in results[2:])
        assert (stt.stats.batches, stt.stats.items) == (3, 4)
    finally:
        await stt.close()


@pytest.mark.models
def test_a_short_window_that_loops_is_decoded_again_in_the_long_one(whisper_dir: Path) -> None:
    # Before: under load every utterance got a 4 s window, and a loop whose last copy was
    # cut mid-word ("Password Password Password Pass") went to the workflow as it was.
    from agent.speech.whisper import WhisperEngine  # noqa: PLC0415

    engine = WhisperEngine(SttConfig(model_dir=whisper_dir, min_window_s=2.0, pad_s=1.0))
    text = engine.transcribe(load_vector("caller_yes.wav"),
                             Hints(expected=("yes", "no")).prompt()).text
    assert engine.suspects == 1  # the 2 s window looped; the 10 s pass answered
    assert words(text).split().count("right") == 1


@pytest.mark.models
async def test_workers_bound_the_onednn_primitive_cache_and_blas_threads(
        whisper_dir: Path) -> None:
    # Unbounded (oneDNN's default of 1024 shapes) a worker grew about 1 MB per new
    # utterance length: bench/soak.py saw +140 MB in 30 minutes.
    # Before the BLAS limit, numpy's OpenBLAS in a worker ran a thread per core whose spin
    # after each mel filter bank doubled the worker's CPU per transcription.
    from threadpoolctl import threadpool_info  # noqa: PLC0415

    stt = SpeechToText(SttConfig(model_dir=whisper_dir, workers=1, cpu_threads=1))
    await stt.start()
    try:
        assert stt._pool is not None
        seen = await asyncio.wrap_future(
            stt._pool.submit(os.getenv, "ONEDNN_PRIMITIVE_CACHE_CAPACITY"))
        assert seen == str(ONEDNN_PRIMITIVE_CACHE)
        assert ONEDNN_PRIMITIVE_CACHE <= 128
        pools = await asyncio.wrap_future(stt._pool.submit(threadpool_info))
        blas = [p["num_threads"] for p in pools if p["user_api"] == "blas"]
        assert blas
        assert set(blas) == {BLAS_THREADS}
    finally:
        await stt.close()


@pytest.mark.models
async def test_a_careful_request_queued_with_quick_ones_is_sent_alone(whisper_dir: Path) -> None:
    """Real workers: a second pass queued among other callers' short answers is a batch of
    its own, and their answers do not wait for it (they come back first)."""
    stt = SpeechToText(SttConfig(model_dir=whisper_dir, workers=1))
    await stt.start()
    try:
        yes, dob = load_vector("caller_yes.wav"), load_vector("caller_dob.wav")
        busy = asyncio.ensure_future(stt.transcribe(dob))
        await asyncio.sleep(0)  # bounded: one loop turn, so the worker is busy
        careful = asyncio.ensure_future(stt.transcribe_carefully(yes))
        quick = [asyncio.ensure_future(stt.transcribe(yes)) for _ in range(2)]
        order: list[str] = []
        careful.add_done_callback(lambda _f: order.append("careful"))
        for q in quick:
            q.add_done_callback(lambda _f: order.append("quick"))
        await asyncio.gather(busy, careful, *quick)
        assert stt.stats.batches == 3  # the busy one, the two quick ones, the careful one
        assert order == ["quick", "quick", "careful"]
        assert "yes" in words(careful.result().text)
    finally:
        await stt.close()


@pytest.mark.models
async def test_a_second_pass_no_worker_takes_in_time_is_not_decoded(whisper_dir: Path
                                                                    ) -> None:
    """Real worker: a careful request a worker takes within ``within_s`` is decoded to the
    end, however long its decode takes past ``within_s``; one queued behind a busy worker
    past ``within_s`` is shed (SttShedError) and never reaches a worker. Before, the rule
    was "back within ``within_s``" less the average careful pass: an idle worker's
    request was shed when that average was longer (long turns on a 2-core box)."""
    stt = SpeechToText(SttConfig(model_dir=whisper_dir, workers=1))
    await stt.start()
    try:
        yes = load_vector("caller_yes.wav")
        first = await stt.transcribe_carefully(yes, within_s=30.0)
        assert "yes" in words(first.text)
        # the worker is idle: taken at once, decoded although it takes far longer
        again = await stt.transcribe_carefully(yes, within_s=0.001)
        assert "yes" in words(again.text)
        # queued behind a busy worker past its start-by time: shed when the worker frees
        # tasks start in the order they were made: busy takes the worker, late queues
        busy = asyncio.ensure_future(stt.transcribe_carefully(yes))
        late = asyncio.ensure_future(stt.transcribe_carefully(yes, within_s=0.001))
        await asyncio.wait([busy, late])
        assert "yes" in words(busy.result().text)
        assert isinstance(late.exception(), SttShedError)
        assert stt.stats.shed == 1
        assert stt.stats.careful == 3  # the shed one never reached a worker
    finally:
        await stt.close()


@pytest.mark.models
def test_a_careful_request_is_decoded_as_a_file_in_its_batch(
        engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second pass of a turn no grammar understood: in a worker's batch, a careful
    request is decoded the way a file is (``transcribe_file``), the others as usual, and
    each answer goes back to its own caller."""
    monkeypatch.setattr(stt_module, "_ENGINE", engine)
    yes, dob = load_vector("caller_yes.wav"), load_vector("caller_dob.wav")
    results, _, _ = stt_module._work([Request(dob), Request(dob, careful=True), Request(yes)])
    assert "march 4" in words(results[0].text)
    assert results[1].text == engine.transcribe_file(dob)
    assert results[1].language == "en"
    assert "yes" in words(results[2].text)
