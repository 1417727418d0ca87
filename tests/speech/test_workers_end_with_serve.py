"""The speech-to-text workers end with the process that started them, and hold none of
its stdout.

Before: after ``carrier serve`` was SIGKILLed its spawned speech workers lived on (each
with a Whisper model in memory), reparented to init, and held serve's stdout, so a reader
of that pipe (a supervisor, a log shipper, the suite's own serve fixture) never saw its
end. Now each worker watches its parent's sentinel and ends with it, and its stdin and
stdout are /dev/null (carrier/child_process.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]
PARENT = """
import asyncio, sys
from pathlib import Path
from agent.speech.stt import SpeechToText
from agent.speech.whisper import SttConfig

async def main():
    stt = SpeechToText(SttConfig(model_dir=Path(sys.argv[1]), workers=2))
    await stt.start()
    print(" ".join(str(p) for p in stt.worker_pids), flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""

pytestmark = [pytest.mark.models, pytest.mark.timeout(300),
              pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")]


def test_speech_workers_end_with_a_killed_parent_and_hold_none_of_its_stdout(
    whisper_dir: Path,
) -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(whisper_dir)], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert parent.stdout is not None
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2, pids
        workers = [psutil.Process(p) for p in pids]
        pipe = os.readlink(f"/proc/{parent.pid}/fd/1")
        for w in workers:  # the parent's stdout pipe is not the worker's
            assert os.readlink(f"/proc/{w.pid}/fd/1") != pipe
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=60)
        gone, alive = psutil.wait_procs(workers, timeout=120)
        assert alive == [], [w.pid for w in alive]
        assert parent.stdout.read() == b""  # the reader sees the end
    finally:
        if parent.poll() is None:
            parent.kill()
        parent.wait(timeout=60)
        if parent.stdout is not None:  # else a ResourceWarning in whichever test runs at GC
            parent.stdout.close()
        for pid in pids if "pids" in locals() else []:
            if psutil.pid_exists(pid):
                os.kill(pid, signal.SIGKILL)
