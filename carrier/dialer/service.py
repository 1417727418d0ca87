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

from carrier.dialer.calendar_sql import SqlCalendar, sync_campaigns
from carrier.dialer.runner import DialerRunner, PassReport

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
