"""Speech-to-text as an asyncio service over a pool of worker processes.

Each worker (spawned, so no model state is forked) loads Whisper once in its initializer.
``await SpeechToText.transcribe(pcm, hints)`` queues the utterance (int16, 16 kHz); when a
worker is free, the scheduler (``agent.speech.schedule``: shortest first with aging)
hands it the next batch, utterances of several calls decoded in one model call, and each
caller gets its own :class:`Transcript`. The loop never blocks on one. Nothing runs in the
background: a batch is sent when a request arrives or a batch finishes; a pool a dead worker
broke is replaced by the next request (``restarts``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from agent.speech.audio import RATE
from agent.speech.careful import reframed, surer, unsure
from agent.speech.schedule import BatchScheduler
from agent.speech.whisper import (
    FILE_WINDOW_S,
    Hints,
    Request,
    SttConfig,
    Transcript,
    WhisperEngine,
)
from carrier.child_process import detach_from_parent

_ENGINE: WhisperEngine | None = None
_QUICK: WhisperEngine | None = None  # tiny.en, when SttConfig.quick_model_dir is set
ONEDNN_PRIMITIVE_CACHE = 64
BLAS_THREADS = 1  # numpy's BLAS in a worker: the mel filter bank only
# The spare worker's niceness: the kernel gives a nice-19 thread about 1.5% of a core a
# nice-0 thread wants, so a second framing takes only CPU no caller's answer is using.
SPARE_NICE = 19
# An unsure turn waits for its second framing as long as its first took, within these
# bounds: on an idle box the two end together; a first framing over 2 s means a crowded
# box, where the spare gets no CPU (and a call waits 6.5 s for the whole pass).
SPARE_WAIT_AT_LEAST_S = 0.25
SPARE_WAIT_AT_MOST_S = 2.0


def _init_worker(config: SttConfig) -> None:
    global _ENGINE, _QUICK  # noqa: PLW0603 - models per worker process, loaded once
    detach_from_parent()  # ends with serve, even a SIGKILLed one; holds none of its stdout
    # Keep numpy/OpenMP helpers from oversubscribing the cores the pool shares.
    os.environ.setdefault("OMP_NUM_THREADS", str(config.threads()))
    # oneDNN (inside CTranslate2) caches a compiled primitive per input shape, 1024 by
    # default; every encoder window and decode length is a new shape, so a worker grew by
    # about 1 MB per new utterance length (+140 MB in a 30-minute soak, 300 MB after 300
    # long utterances) while a small cache keeps it flat at no measurable cost per
    # utterance (bench/soak.py; the operator may still set the variable). Set before
    # CTranslate2 is imported: the library reads it when it loads.
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", str(ONEDNN_PRIMITIVE_CACHE))
    # numpy (imported before this runs: the spawned child unpickles this function from
    # its module) started OpenBLAS with a thread per core, and after each small BLAS call
    # (the mel filter bank) those threads spin: a worker took 207 ms of CPU for a
    # transcription that needs 112 (one short answer, 8 s window, a loaded 2-core box),
    # the spare thread stealing the core another worker or the media needs. One thread.
    threadpool_limits(BLAS_THREADS, user_api="blas")
    _ENGINE = WhisperEngine(config)
    if config.quick_model_dir is not None:
        _QUICK = WhisperEngine(config.quick_config())


def _retrieved(future: asyncio.Future[Any]) -> None:
    """A second framing no caller waits for any more may fail (the spare died, closed):
    retrieved, so asyncio does not report it as never retrieved."""
    if not future.cancelled():
        future.exception()


_Done = tuple[list[Transcript], int, int]  # transcripts, decoded again, of them in 30 s


def _work(requests: list[Request]) -> _Done:
    """The batch's transcripts, how many were decoded again (a first pass that looped or
    repeated itself), and how many of those in the 30 s retry window."""
    if _ENGINE is None:
        raise RuntimeError("STT worker used before its model was loaded")
    if _ENGINE.config.stock:
        return [_ENGINE.transcribe_stock(r.pcm, r.prompt, r.language) for r in requests], 0, 0
    suspects, long_passes = _ENGINE.suspects, _ENGINE.long_passes
    def route(r: Request) -> str:
        return "careful" if r.careful else "quick" if r.quick and _QUICK else "usual"

    usual = [r for r in requests if route(r) == "usual"]
    first = [r for r in requests if route(r) == "quick"]
    texts = {"usual": iter(_ENGINE.transcribe_batch(usual) if usual else []),
             "quick": iter(_ENGINE.transcribe_quick_first(first, _QUICK)
                           if first and _QUICK else [])}
    results = [_ENGINE.transcribe_careful(r) if r.careful else next(texts[route(r)])
               for r in requests]
    return results, _ENGINE.suspects - suspects, _ENGINE.long_passes - long_passes


def _init_spare(config: SttConfig) -> None:
    """The spare worker (:class:`SpeechToText`, second framings): base alone, at the
    lowest CPU priority, so it decodes on cycles nothing else of the box wants. Linux
    nices a thread, not a process: every thread there is now (numpy's BLAS started its
    own on import), and the model's, started after, inherit it."""
    for task in os.listdir("/proc/self/task"):
        os.setpriority(os.PRIO_PROCESS, int(task), SPARE_NICE)
    _init_worker(replace(config, quick_model_dir=None))


def _warm() -> int:
    _work([Request(np.zeros(16000, dtype=np.int16), quick=_QUICK is not None)])
    return os.getpid()


@dataclass(slots=True)
class _Waiting:
    request: Request
    future: asyncio.Future[Transcript]
    enqueued: float
    start_by: float | None = None  # not taken by a worker by then: shed (never decoded)


@dataclass(slots=True)
class BatchStats:
    """Batches sent to the workers and the utterances in them (for benches, metrics):
    ``queued_s`` sums each utterance's wait for a worker, ``decode_s`` each batch's time
    in a worker (submit to result), so a bench tells queueing from decoding; ``cpu_s`` is
    the workers' CPU inside the model calls, ``retried`` the utterances decoded again,
    ``retried_30s`` those of them decoded in the 30 s window too."""

    batches: int = 0
    items: int = 0
    queued_s: float = 0.0
    max_queued_s: float = 0.0
    decode_s: float = 0.0
    cpu_s: float = 0.0
    retried: int = 0
    retried_30s: int = 0
    # By route: second passes decoded as a file is, and their CPU (a turn's second framing
    # is decoded by the spare worker: ``spare``); answers offered to the quick model, and
    # those whose text it gave (the rest went on to base).
    careful: int = 0
    careful_cpu_s: float = 0.0
    quick: int = 0
    quick_kept: int = 0
    shed: int = 0  # second passes no worker took in time: never decoded
    reframed: int = 0  # careful passes unsure of their text that waited for a second framing
    spare: int = 0  # second framings handed to the spare worker


class SttError(RuntimeError):
    """Speech-to-text failed for this request; the turn has no transcript."""


class SttClosedError(SttError):
    """transcribe() called before start() or after close()."""


class SttShedError(SttError):
    """Not decoded: it could not have been back within the time its caller waits (the
    workers are crowded). The caller keeps what it had (a second pass: the first text)."""


class SttWorkerError(SttError):
    """A worker process died (out of memory, killed). ``start()`` builds a fresh pool."""


class SpeechToText:
    """Asyncio facade over the worker pool. ``start()`` loads the models in every worker.

    Quick answers (the quick model's, about a third of base's cost) are queued by the
    quick model's window, so they overtake base's utterances (``BatchScheduler``), and
    never share a batch with them: a "yes" in a batch with a date of birth for base came
    back only when base had decoded both. bench/concurrent_calls.py at 40 calls: p95 915
    and 1020 ms against 1221 and 1521 before. (Also keeping one worker of two from base
    and careful batches was worse, 1184 and 1281: the dates of birth then queued behind
    each other.)
    """

    def __init__(self, config: SttConfig, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self._pool: ProcessPoolExecutor | None = None
        self.restarts, self._broke = 0, False  # pools dropped as a worker died (not closed)
        self._queue = BatchScheduler(config.max_batch)
        self._waiting: dict[int, _Waiting] = {}
        self._keys = itertools.count()
        self._running = 0  # batches the workers hold
        self._quick_config = (config.quick_config() if config.quick_model_dir is not None
                              else config)
        self._in_batches = 0  # requests in those batches
        # The spare worker (second framings): its pool, its warm-up, the one framing it decodes.
        self._spare: ProcessPoolExecutor | None = None
        self._spare_warm: asyncio.Future[int] | None = None
        self._spare_job: asyncio.Task[Transcript] | None = None
        self.stats = BatchStats()

    @property
    def pending(self) -> int:
        """Transcriptions submitted and not yet finished (queued or running)."""
        return len(self._queue) + self._in_batches

    @property
    def busy(self) -> bool:
        """True when every worker has work."""
        return self._running >= self.config.workers

    @property
    def idle_workers(self) -> int:
        if len(self._queue):
            return 0
        return max(0, self.config.workers - self._running)

    @property
    def worker_pids(self) -> list[int]:
        procs = {} if self._pool is None or self._pool._broken else self._pool._processes
        return [pid for pid, p in procs.items() if p.is_alive()]  # the pool keeps dead pids

    async def start(self) -> None:
        if self._pool is not None:
            return
        self._pool = ProcessPoolExecutor(
            max_workers=self.config.workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker, initargs=(self.config,))
        loop = asyncio.get_running_loop()
        # One warm-up per worker: submitted together, they spawn every worker now rather
        # than on the first live call, and each runs the model once.
        pool = self._pool
        try:
            await asyncio.gather(
                *(loop.run_in_executor(pool, _warm) for _ in range(self.config.workers))
            )
        except BrokenProcessPool as exc:
            self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
            raise SttWorkerError("speech-to-text workers died while loading the model") from exc

    async def revive(self) -> None:
        """Replace a pool a dead worker broke, idle too (each request, the health check)."""
        if self._pool is not None and self._pool._broken:
            self._broken(self._pool)
        if self._pool is None and self._broke:
            await self.start()

    async def transcribe(self, pcm16k: np.ndarray, hints: Hints | None = None) -> Transcript:
        return await self._submit(pcm16k, hints, careful=False)

    async def transcribe_quickly(self, pcm16k: np.ndarray, hints: Hints | None = None
                                 ) -> Transcript:
        """An answer the workflow's grammar judges: the quick model's text when it is
        sure of it (``SttConfig.quick_model_dir``), else as :meth:`transcribe`."""
        return await self._submit(pcm16k, hints, careful=False, quick=True)

    async def transcribe_carefully(self, pcm16k: np.ndarray, hints: Hints | None = None, *,
                                   within_s: float | None = None, reframe: bool = True
                                   ) -> Transcript:
        """As a file is decoded (30 s window, beam search): the second pass of a turn no
        grammar understood, slower than :meth:`transcribe` and as accurate as the model.

        ``within_s``: the longest it may wait for a worker. One no worker took by then is
        not decoded (:class:`SttShedError`); one a worker took is decoded to the end, and
        its caller waits for it. Without the first rule, on a crowded box the second
        passes whose callers had already given up still took a worker each (1.7 s of a
        core here), the other callers' answers queued behind them, more turns came late
        and off script, and more second passes followed: bench/concurrent_calls.py at 32
        calls went from p95 0.6 s to 3.9 s in one run of two. It was "back within", less
        the average careful pass: once that average passed ``within_s`` (long turns),
        every second pass was shed, the workers idle or not.

        ``reframe``: the turn's second framing (``agent.speech.careful``: more silence
        before it, the surer text kept when the model is unsure of the first) is decoded
        beside it by the spare worker, a process of its own at the lowest CPU priority
        (``SPARE_NICE``), when it is warm and free. It is waited for only when the first
        text is unsure, and then about as long as the first took (``SPARE_WAIT_*``): on a
        crowded box the spare gets no CPU and the turn keeps its first text. Decoding the
        two one after the other in a worker doubled the pass (a loaded box then ran past
        the call's wait); decoding the second on the second of two workers took both from
        the other callers for a second (bench/free_text_crowd.py, a free-text turn every
        3 s among 4 judged answers a second: their p95 160 -> 976 ms; with the spare,
        193 -> 184). A call asks for it only where the words are kept (free text)."""
        again = self._on_spare(pcm16k, hints) if reframe else None
        started = self._clock()
        heard = await self._submit(pcm16k, hints, careful=True, within_s=within_s)
        if again is None or not unsure(heard):
            return heard  # a second framing still decoding ends on its own, in idle CPU
        took = self._clock() - started
        wait = max(SPARE_WAIT_AT_LEAST_S, min(took, SPARE_WAIT_AT_MOST_S))
        done, _ = await asyncio.wait({again}, timeout=wait)
        if not done or again.cancelled() or again.exception() is not None:
            return heard
        self.stats.reframed += 1
        return replace(surer(heard, again.result()), reframed=True)

    def _on_spare(self, pcm16k: np.ndarray, hints: Hints | None
                  ) -> asyncio.Task[Transcript] | None:
        """The turn's second framing (:func:`reframed`), decoded by the spare worker if it
        is warm and free (else None, and it is started for the turns to come)."""
        if self._pool is None:
            return None
        if self._spare is None:
            self._start_spare()
        warm, spare = self._spare_warm, self._spare
        ready = warm is not None and warm.done() and not warm.cancelled() and not warm.exception()
        if spare is None or not ready or (self._spare_job and not self._spare_job.done()):
            return None
        request = Request(reframed(np.ascontiguousarray(pcm16k, dtype=np.int16)),
                          hints.prompt() if hints else None,
                          hints.language if hints else None, careful=True)
        self.stats.spare += 1
        self._spare_job = asyncio.ensure_future(self._spare_pass(spare, request))
        self._spare_job.add_done_callback(_retrieved)
        return self._spare_job

    async def _spare_pass(self, spare: ProcessPoolExecutor, request: Request) -> Transcript:
        try:
            results, _, _ = await asyncio.get_running_loop().run_in_executor(
                spare, _work, [request])
        except BrokenProcessPool as exc:
            if self._spare is spare:  # the spare died: turns get one framing until closed
                self._spare_warm = None
            raise SttWorkerError("the spare speech-to-text worker died") from exc
        return results[0]

    def _start_spare(self) -> None:
        self._spare = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_spare, initargs=(self.config,))
        self._spare_warm = asyncio.get_running_loop().run_in_executor(self._spare, _warm)
        self._spare_warm.add_done_callback(_retrieved)

    async def warm_spare(self) -> int:
        """Start the spare worker if it is not, wait until it is warm, and return its pid
        (benches and tests: a call's first free-text turn starts it, and gets one framing)."""
        if self._pool is None:
            raise SttClosedError("speech-to-text is not started")
        if self._spare is None:
            self._start_spare()
        assert self._spare_warm is not None
        return await asyncio.shield(self._spare_warm)

    async def _submit(self, pcm16k: np.ndarray, hints: Hints | None, *, careful: bool,
                      quick: bool = False, within_s: float | None = None) -> Transcript:
        await self.revive()  # a new pool for a dead one: this request waits for it
        if self._pool is None:
            raise SttClosedError("speech-to-text is not started")
        pcm = np.ascontiguousarray(pcm16k, dtype=np.int16)
        request = Request(pcm, hints.prompt() if hints else None,
                          hints.language if hints else None, careful=careful,
                          quick=quick and self.config.quick_model_dir is not None)
        key = next(self._keys)
        future: asyncio.Future[Transcript] = asyncio.get_running_loop().create_future()
        now = self._clock()
        start_by = None if within_s is None else now + within_s
        self._waiting[key] = _Waiting(request, future, now, start_by)
        # Queued by its cost, the encoder window: a careful one decodes a file's 30 s window
        # in a batch of its own (``BatchScheduler``), so other callers' quick answers go
        # first and never wait for it (its caller falls back to the first text when it
        # waits too long: ``StreamingConfig.second_pass_wait_s``).
        seconds = len(pcm) / RATE
        kind = "careful" if careful else "quick" if request.quick else "usual"
        window = (FILE_WINDOW_S if careful else self._quick_config.window_for(seconds)
                  if request.quick else self.config.window_for(seconds))
        self._queue.add(key, window, now, solo=careful, kind=kind)
        future.add_done_callback(functools.partial(self._forget, key))
        self._dispatch()
        return await future

    def _forget(self, key: int, future: asyncio.Future[Transcript]) -> None:
        if future.cancelled() and self._queue.remove(key):
            self._waiting.pop(key, None)  # the caller stopped waiting before it ran

    def _dispatch(self) -> None:
        """Hand batches to free workers while requests wait."""
        while self._pool is not None and self._running < self.config.workers:
            now = self._clock()
            self._shed(now)
            # Shared among the workers free now, not all of them: a busy worker may hold
            # a date of birth for another 300 ms, and on a CPU a batch of 4 quick answers
            # costs 56 ms of a core each against 93 alone (tiny.en, G.711 "Yes.").
            keys = self._queue.take(now, self.config.workers - self._running)
            if not keys:
                return
            batch = [(k, self._waiting.pop(k)) for k in keys]
            pool, loop = self._pool, asyncio.get_running_loop()
            try:
                job = pool.submit(_work, [w.request for _, w in batch])
            except BrokenProcessPool as exc:
                self._fail([w for _, w in batch], self._broken(pool), exc)
                return
            self._running += 1
            self._in_batches += len(batch)
            self.stats.batches += 1
            self.stats.items += len(batch)
            for _, w in batch:
                self.stats.queued_s += now - w.enqueued
                self.stats.max_queued_s = max(self.stats.max_queued_s, now - w.enqueued)
                w.enqueued = now  # from here: the time in a worker
            job.add_done_callback(functools.partial(self._finished, loop, batch, pool))

    def _shed(self, now: float) -> None:
        """Fail the queued requests no worker took by their start-by time."""
        late = [k for k, w in self._waiting.items()
                if w.start_by is not None and now > w.start_by]
        for key in late:
            if self._queue.remove(key):
                w = self._waiting.pop(key)
                self.stats.shed += 1
                if not w.future.done():
                    w.future.set_exception(SttShedError("not decoded: no worker took it "
                                                        "in time (workers crowded)"))

    def _finished(self, loop: asyncio.AbstractEventLoop, batch: list[tuple[int, _Waiting]],
                  pool: ProcessPoolExecutor, done: Future[_Done]) -> None:
        """In the pool's thread: back to the loop."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
            loop.call_soon_threadsafe(self._batch_done, done, batch, pool)

    def _batch_done(self, done: Future[_Done], batch: list[tuple[int, _Waiting]],
                    pool: ProcessPoolExecutor) -> None:
        self._running -= 1
        self._in_batches -= len(batch)
        waiting = [w for _, w in batch]
        took = self._clock() - waiting[0].enqueued
        self.stats.decode_s += took
        try:
            results, retried, retried_30s = done.result()
        except BrokenProcessPool as exc:
            self._fail(waiting, self._broken(pool), exc)
        except Exception as exc:  # noqa: BLE001 - the batch failed: each caller learns why
            self._fail(waiting, SttError(f"transcription failed: {type(exc).__name__}"), exc)
        else:
            self.stats.retried += retried
            self.stats.retried_30s += retried_30s
            self.stats.cpu_s += sum(r.cpu_s for r in results)
            for w, result in zip(waiting, results, strict=True):
                self.stats.careful += w.request.careful
                self.stats.careful_cpu_s += result.cpu_s if w.request.careful else 0.0
                self.stats.quick += w.request.quick
                self.stats.quick_kept += result.quick
            for w, result in zip(waiting, results, strict=True):
                if not w.future.done():
                    w.future.set_result(result)
        self._dispatch()

    def _fail(self, waiting: list[_Waiting], error: SttError, cause: BaseException) -> None:
        error.__cause__ = cause
        for w in waiting:
            if not w.future.done():
                w.future.set_exception(error)

    def _broken(self, pool: ProcessPoolExecutor) -> SttWorkerError:
        error = SttWorkerError("a speech-to-text worker process died")
        if self._pool is pool:
            self._pool, self._broke, self.restarts = None, True, self.restarts + 1
            pool.shutdown(wait=False, cancel_futures=True)
            queued = list(self._waiting.values())
            self._waiting.clear()
            self._queue = BatchScheduler(self.config.max_batch)
            self._fail(queued, error, BrokenProcessPool())
        return error

    async def close(self) -> None:
        pool, self._pool, self._broke = self._pool, None, False
        spare, warm, self._spare, self._spare_warm = self._spare, self._spare_warm, None, None
        # warming up or decoding a second framing nobody waits for: not to be waited for
        busy = ((warm is not None and not warm.done())
                or (self._spare_job is not None and not self._spare_job.done()))
        if self._spare_job is not None:
            self._spare_job.cancel()
        queued = list(self._waiting.values())
        self._waiting.clear()
        self._queue = BatchScheduler(self.config.max_batch)
        self._fail(queued, SttClosedError("speech-to-text closed"), RuntimeError("closed"))
        if spare is not None and busy:  # (an idle one exits: killed, it leaks a semaphore)
            for process in list((spare._processes or {}).values()):
                process.kill()
        for executor in (pool, spare):
            if executor is not None:
                shutdown = functools.partial(executor.shutdown, wait=True,
                                             cancel_futures=True)
                await asyncio.get_running_loop().run_in_executor(None, shutdown)

    async def __aenter__(self) -> SpeechToText:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
