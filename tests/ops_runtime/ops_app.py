"""The application ``carrier serve`` hosts in the operations tests (no speech models).

Each inbound call is answered with a short tone (so RTP flows both ways when the caller
echoes it), one log line naming the greeting version in force, and a line in the file
named by ``OPS_CALLS_LOG``: ``<call_id> <greeting>``. It stays up until the caller hangs
up. ``reload`` (SIGHUP) reads ``greeting.txt`` from the config folder again: new calls
use the new one, a call already up keeps its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from agent import MIGRATIONS as AGENT_MIGRATIONS
from agent.scheduling.outreach import CalendarAppointments
from agent.staff_tasks import RecordsStaffTasks
from carrier.health import ComponentHealth
from carrier.metrics import Level
from carrier.plugin import AppointmentSource, CallContext, CallHandler, CallOutcome, OutcomeKind

log = logging.getLogger("tests.ops_app")
CALL_LIMIT_S = 30.0
ANSWERED = [0]  # calls answered (the application's own counter on /metrics)


def _tone(seconds: float) -> list[np.ndarray]:
    t = np.arange(int(seconds * 16000)) / 16000
    pcm = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    return [pcm[i:i + 320] for i in range(0, len(pcm) - 319, 320)]


def handler_for(greeting: str) -> CallHandler:
    async def handle(call: Any, context: CallContext) -> CallOutcome:
        log.info("call answered", extra={"greeting": greeting})
        ANSWERED[0] += 1
        with Path(os.environ["OPS_CALLS_LOG"]).open("a", encoding="utf-8") as out:  # noqa: ASYNC230
            out.write(f"{call.call_id} {greeting}\n")
        await call.media.play(_tone(0.4))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(call.ended.wait(), timeout=CALL_LIMIT_S)
        await call.hangup("normal")
        log.info("call ended")
        return CallOutcome(call_id=call.call_id, kind=OutcomeKind.COMPLETED)
    return handle


class OpsApp:
    def __init__(self) -> None:
        self.handler: CallHandler = handler_for("-")
        self.appointments: AppointmentSource | None = None
        # The calendar it reads is the agent's (its tables come with the agent's migrations).
        self.migrations: Path | None = AGENT_MIGRATIONS
        self.greeting = "-"
        self.staff_tasks: RecordsStaffTasks | None = None  # the agent's queue (console)

    def _read(self, settings: Any) -> None:
        self.greeting = (Path(settings.config_dir) / "greeting.txt").read_text().strip()
        self.handler = handler_for(self.greeting)

    async def start(self, settings: Any, records: Any, *, speech: bool = True) -> None:
        self._read(settings)
        self.appointments = CalendarAppointments(records.pool)
        self.staff_tasks = RecordsStaffTasks(records)

    async def reload(self, settings: Any) -> None:
        self._read(settings)

    async def stop(self) -> None:
        self.appointments = None

    def health(self) -> list[ComponentHealth]:
        return [ComponentHealth("ops_app", self.appointments is not None, self.greeting)]

    def levels(self) -> list[Level]:
        """``carrier.plugin.MeasuredApplication``: its own figures on ``/metrics``."""
        return [Level("carrier_test_app_calls", "Calls the test application answered", (),
                      float(ANSWERED[0]), counter=True)]


application = OpsApp()
