"""The test application (see the package docstring): a ``carrier.plugin.Application``."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import Any

from agent import MIGRATIONS as AGENT_MIGRATIONS
from agent.scheduling.outreach import CalendarAppointments
from carrier.health import ComponentHealth
from carrier.plugin import AppointmentSource, CallContext, CallOutcome, OutcomeKind

# How long an inbound call may stay up waiting for the caller's BYE.
INBOUND_LIMIT_S = 20.0
# An outbound (dialer) call is ended by us after this long: the trunk peer waits for BYE.
OUTBOUND_HOLD_S = 0.3


async def handle(call: Any, context: CallContext) -> CallOutcome:
    direction = str(getattr(context.direction, "value", context.direction)).lower()
    patient = context.patient_id or "-"
    line = f"{os.environ.get('DEPLOY_NODE_NAME', '?')} {direction} {call.call_id} {patient}\n"
    log = Path(os.environ["DEPLOY_NODE_LOG"])
    with log.open("a", encoding="utf-8") as out:  # noqa: ASYNC230 - one short line per call
        out.write(line)
    limit = OUTBOUND_HOLD_S if direction == "outbound" else INBOUND_LIMIT_S
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(call.ended.wait(), timeout=limit)
    await call.hangup("normal")
    return CallOutcome(call_id=call.call_id, kind=OutcomeKind.COMPLETED,
                       patient_id=context.patient_id)


class NodeApp:
    """Calls go to ``handle``; the dialer's due work comes from the shared calendar."""

    def __init__(self) -> None:
        self.handler = handle
        self.appointments: AppointmentSource | None = None
        # The calendar it reads is the agent's (its tables come with the agent's migrations).
        self.migrations: Path | None = AGENT_MIGRATIONS

    async def start(self, settings: Any, records: Any, *, speech: bool = True) -> None:
        self.appointments = CalendarAppointments(records.pool)

    async def stop(self) -> None:
        self.appointments = None

    async def reload(self, settings: Any) -> None:
        pass  # nothing of its own to re-read

    def health(self) -> list[ComponentHealth]:
        return [ComponentHealth("node_app", self.appointments is not None, "test application")]


application = NodeApp()
