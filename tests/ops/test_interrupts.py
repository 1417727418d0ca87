"""A long-running command stopped by a signal: clean stop, then exit 130 after SIGINT (Ctrl-C)
and 0 after SIGTERM, like ``carrier serve``.

Before, ``carrier hl7 serve`` exited 0 on Ctrl-C (a script could not tell an interrupted run
from a finished one), and ``carrier campaign run`` met Ctrl-C as a KeyboardInterrupt in the
middle of a pass.
"""

from __future__ import annotations

import asyncio
import signal

import pytest

from tests.ops.conftest import Operator
from tests.ops.live import carrier_command, free_port

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 0)],
                         ids=["SIGINT", "SIGTERM"])
async def test_hl7_serve_stops_cleanly_on_a_signal(operator: Operator, sig: int,
                                                   code: int) -> None:
    proc = await asyncio.create_subprocess_exec(
        *carrier_command(), "--config-dir", str(operator.cfg), "hl7", "serve",
        "--port", str(free_port()), cwd=operator.cwd, env=operator.env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(120):  # bound on the outside process starting
            while True:
                line = (await proc.stdout.readline()).decode()
                assert line, (await proc.stderr.read()).decode() if proc.stderr else ""
                if line.startswith("hl7 listening on"):
                    break
        proc.send_signal(sig)
        async with asyncio.timeout(120):
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == code, err.decode()
    assert b"acknowledged:" in out  # it stopped through its own path, not an exception
    assert b"Traceback" not in err
