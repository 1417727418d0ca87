"""The dialer's long-running loop for `carrier serve`: sync the calendar, dial, repeat.

Several processes may run this loop against one database: outreach rows are leased
(`FOR UPDATE SKIP LOCKED`), so each is dialled by exactly one of them. No-show
reactivation is as prompt as `interval` (default 30 s, well within "minutes").
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any

from carrier.dialer.calendar_sql import SqlCalendar, sync_campaigns
from carrier.dialer.gate import DialRequest, Gate
from carrier.dialer.gateway_adapter import GatewayDialer
from carrier.dialer.holiday_calendar import PackageHolidays
from carrier.dialer.ports import DialResult, Outcome
from carrier.dialer.records_adapter import (
    RecordsDecisionRecorder,
    RecordsDirectory,
    RecordsFacts,
)
from carrier.dialer.rules import DEFAULT_RULES_DIR, load_rules
from carrier.dialer.runner import DialerRunner, PassReport
from carrier.dialer.store import OutreachStore
from carrier.dialer.wiring import policy_from_settings, trunk_pool_from_settings
from carrier.settings import default_config_dir

log = logging.getLogger(__name__)


async def dialer_loop(
    runner: DialerRunner,
    calendar: SqlCalendar,
    stop: asyncio.Event,
    *,
    interval: float = 30.0,
    limit: int = 50,
) -> None:
    while not stop.is_set():
        now = runner.clock()
        synced = await sync_campaigns(runner.store, calendar, runner.policy, now)
        report: PassReport = await runner.run_once(limit=limit)
        log.info(
            "dialer pass",
            extra={
                "added": synced.added,
                "stopped": synced.stopped,
                "leased": report.leased,
                "dialled": report.dialled,
                "refused": dict(report.refused),
            },
        )
        if report.leased >= limit:
            continue  # more is due: no pause
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# Purpose of an outreach -> the shipped workflow that runs the call.
WORKFLOW_FOR_PURPOSE = {
    "appointment_reminder": "appointment_reminder",
    "no_show": "no_show_reactivation",
    "refill": "refill_reminder",
}


def result_from_handler(result: Any) -> DialResult:
    """Map the call handler's result (`outcome`, `amd` attributes) to the dialer's."""
    outcome = str(getattr(result, "outcome", None) or "")
    if outcome == "machine_message" or getattr(result, "amd", None) == "machine":
        return DialResult(Outcome.MACHINE)
    return DialResult(
        Outcome.ANSWERED, confirmed=outcome == "confirmed", cancelled=outcome == "cancelled"
    )


def _rules_dir() -> Path:
    configured = default_config_dir() / "calling_rules"
    return configured if configured.is_dir() else DEFAULT_RULES_DIR


class DialerService:
    """What `carrier serve` runs (`carrier.app._dialer_loop`): built from the stack."""

    def __init__(self, runner: DialerRunner, calendar: SqlCalendar) -> None:
        self.runner = runner
        self.calendar = calendar

    @classmethod
    def from_stack(cls, stack: Any, *, rules_dir: Path | None = None) -> DialerService:
        settings, records, gateway = stack.settings, stack.records, stack.gateway

        async def on_answer(call: Any, request: DialRequest) -> DialResult:
            context = {
                "patient_id": request.patient_id,
                "workflow": WORKFLOW_FOR_PURPOSE.get(request.purpose, request.purpose),
                "max_duration_s": call.context.get("max_duration_s"),
            }
            return result_from_handler(await gateway.run_outbound(call, context))

        rules = load_rules(rules_dir or _rules_dir())
        calendar = SqlCalendar(records.pool)
        runner = DialerRunner(
            store=OutreachStore(records.pool),
            gate=Gate(rules, PackageHolidays(rules)),
            facts=RecordsFacts(records),
            directory=RecordsDirectory(records),
            recorder=RecordsDecisionRecorder(records),
            dialer=GatewayDialer(gateway, settings.dialer.caller_id, on_answer),
            trunks=trunk_pool_from_settings(settings),
            policy=policy_from_settings(settings.dialer),
            worker=f"{socket.gethostname()}:{os.getpid()}",
            clock=utc_now,
            monotonic=time.monotonic,
            appointments=calendar,
        )
        return cls(runner, calendar)

    async def run(self, stop: asyncio.Event, *, interval: float = 30.0) -> None:
        await dialer_loop(self.runner, self.calendar, stop, interval=interval)
