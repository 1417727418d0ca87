"""Speech-to-text as an asyncio service over a pool of worker processes.

Each worker (spawned, so no model state is forked) loads Whisper once in its initializer;
``await SpeechToText.transcribe(pcm, hints)`` ships the utterance (int16, 16 kHz) to a
worker and returns its :class:`Transcript` without blocking the event loop, so RTP pacing
never waits on a transcription.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np

from agent.speech.whisper import Hints, SttConfig, Transcript, WhisperEngine

_ENGINE: WhisperEngine | None = None


def _init_worker(config: SttConfig) -> None:
    global _ENGINE  # noqa: PLW0603 - one model per worker process, loaded once
    # Keep numpy/OpenMP helpers from oversubscribing the cores the pool shares.
    os.environ.setdefault("OMP_NUM_THREADS", str(config.threads()))
    _ENGINE = WhisperEngine(config)


def _work(pcm: np.ndarray, prompt: str | None, window_s: float | None = None,
          language: str | None = None) -> Transcript:
    if _ENGINE is None:
        raise RuntimeError("STT worker used before its model was loaded")
    if _ENGINE.config.stock:
        return _ENGINE.transcribe_stock(pcm, prompt, language)
    return _ENGINE.transcribe(pcm, prompt, window_s=window_s, language=language)


def _warm() -> int:
    _work(np.zeros(16000, dtype=np.int16), None)
    return os.getpid()


class SttError(RuntimeError):
    """Speech-to-text failed for this request; the turn has no transcript."""


class SttClosedError(SttError):
    """transcribe() called before start() or after close()."""


class SttWorkerError(SttError):
    """A worker process died (out of memory, killed). ``start()`` builds a fresh pool."""


class SpeechToText:
    """Asyncio facade over the worker pool. ``start()`` loads the models in every worker."""

    def __init__(self, config: SttConfig) -> None:
        self.config = config
        self._pool: ProcessPoolExecutor | None = None
        self._pending = 0

    @property
    def pending(self) -> int:
        """Transcriptions submitted and not yet finished (queued or running)."""
        return self._pending

    @property
    def busy(self) -> bool:
        """True when every worker has work."""
        return self._pending >= self.config.workers

    @property
    def idle_workers(self) -> int:
        return max(0, self.config.workers - self._pending)

    @property
    def worker_pids(self) -> list[int]:
        pool = self._pool
        return list(pool._processes) if pool is not None else []

    async def start(self) -> None:
        if self._pool is not None:
            return
        self._pool = ProcessPoolExecutor(
            max_workers=self.config.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.config,),
        )
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

    async def transcribe(self, pcm16k: np.ndarray, hints: Hints | None = None) -> Transcript:
        if self._pool is None:
            raise SttClosedError("speech-to-text is not started")
        pcm = np.ascontiguousarray(pcm16k, dtype=np.int16)
        prompt = hints.prompt() if hints else None
        loop = asyncio.get_running_loop()
        pool = self._pool
        window = self.config.busy_window_s if self.busy and self.config.busy_window_s else None
        try:
            job = pool.submit(_work, pcm, prompt, window, hints.language if hints else None)
        except BrokenProcessPool as exc:
            raise self._broken(pool) from exc
        # A worker stays busy until its job finishes, even if the caller stops waiting
        # (a cancelled partial cannot be interrupted once it runs): count it until then.
        self._pending += 1

        def finished(_: object) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody counts
                loop.call_soon_threadsafe(self._job_done)

        job.add_done_callback(finished)
        try:
            return await asyncio.wrap_future(job)
        except BrokenProcessPool as exc:
            raise self._broken(pool) from exc

    def _job_done(self) -> None:
        self._pending -= 1

    def _broken(self, pool: ProcessPoolExecutor) -> SttWorkerError:
        if self._pool is pool:
            self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
        return SttWorkerError("a speech-to-text worker process died")

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            shutdown = functools.partial(pool.shutdown, wait=True, cancel_futures=True)
            await asyncio.get_running_loop().run_in_executor(None, shutdown)

    async def __aenter__(self) -> SpeechToText:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
