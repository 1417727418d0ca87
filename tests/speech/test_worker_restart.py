"""A speech-to-text worker killed under a running node (the OOM killer, an operator's
``kill``): what health says while it is down, and whether the agent hears again.

Before: the pool's dead worker was still listed (``worker_pids`` read the executor's
process table, which keeps a dead pid), so ``agent.stt`` said "1 worker processes", ok;
the next utterance failed, the pool was dropped, and every utterance after failed with
"not started" until ``carrier serve`` was restarted by hand. Now a dead worker is not
counted (health fails while none is alive) and the next utterance starts a new pool and is
decoded by it. The kill is observed by joining the executor's manager thread (it ends
when the pool breaks), not by sleeping."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from agent.speech.stt import SpeechToText
from agent.speech.whisper import SttConfig
from tests.speech.conftest import load_vector


async def test_a_killed_worker_is_not_counted_and_is_replaced(whisper_dir: Path) -> None:
    stt = SpeechToText(SttConfig(model_dir=whisper_dir, workers=1))
    await stt.start()
    try:
        (pid,) = stt.worker_pids
        pool = stt._pool
        assert pool is not None
        manager = pool._executor_manager_thread
        os.kill(pid, signal.SIGKILL)
        if manager is not None:
            await asyncio.to_thread(manager.join, 60)
        assert stt.worker_pids == []  # what agent.stt's health counts: none alive
        heard = await stt.transcribe(load_vector("caller_yes.wav"))
        assert "yes" in heard.text.lower()
        assert stt.worker_pids
        assert pid not in stt.worker_pids
    finally:
        await stt.close()


async def test_the_health_check_replaces_a_pool_no_call_will(whisper_dir: Path) -> None:
    """A node whose ``agent.stt`` fails gets no calls from its load balancer, so no
    utterance would ever replace its pool: the check itself starts the new pool, and the
    node is healthy again without a call. ``carrier_stt_worker_restarts_total`` counts it."""
    from types import SimpleNamespace  # noqa: PLC0415

    from agent.runtime import VoiceAgent  # noqa: PLC0415

    stt = SpeechToText(SttConfig(model_dir=whisper_dir, workers=1))
    await stt.start()
    app = VoiceAgent()
    app.runtime = SimpleNamespace(stt=stt)  # type: ignore[assignment] - only its speech
    try:
        (pid,) = stt.worker_pids
        pool = stt._pool
        assert pool is not None
        manager = pool._executor_manager_thread
        os.kill(pid, signal.SIGKILL)  # idle: no utterance in flight
        if manager is not None:
            await asyncio.to_thread(manager.join, 60)
        (down,) = app.health()
        assert not down.ok
        assert app._reviving is not None  # before: nothing started a new pool
        assert down.detail == "0 worker processes; restarts 0"
        await app._reviving
        (up,) = app.health()
        assert (up.ok, up.detail) == (True, "1 worker processes")
        assert stt.restarts == 1
        levels = {lv.name: lv.value for lv in app.levels()}
        assert levels["carrier_stt_worker_restarts"] == 1.0
    finally:
        await stt.close()
