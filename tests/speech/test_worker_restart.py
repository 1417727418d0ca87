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
