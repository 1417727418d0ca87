"""The gateway's report of refused SIP requests: a CDR row and an audit row per
source, rule and window (issue 11 item 6), written in tasks of their own that the
gateway awaits at close (never cancelled: the last counts are written too)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from carrier.cdr_points import CdrWriter, summary_detail, utcnow
from carrier.sip.refusal import RefusalSummary

Audit = Callable[[str, str, tuple[str, object], str, Mapping[str, Any]], Awaitable[object]]


class RefusalReports:
    def __init__(self, cdr: CdrWriter, audit: Audit | None) -> None:
        self.cdr = cdr
        self._audit = audit
        self._tasks: set[asyncio.Task[Any]] = set()

    def __call__(self, summary: RefusalSummary) -> None:
        """One audit row per source, rule and window, carrying the count. The source
        address is the record, not a detail: nothing from the refused packet itself
        (Call-ID, headers) is stored."""
        self._spawn(self.cdr.write(summary_detail(summary, utcnow())))
        audit = self._audit
        if audit is None:
            return
        details = {"status": summary.status, "count": summary.count,
                   "answered": summary.answered, "transport": summary.transport,
                   "window_s": round(summary.until - summary.since)}
        self._spawn(audit("gateway", "sip.refused", ("source", summary.source), summary.rule,
                          details))

    def _spawn(self, work: Awaitable[Any]) -> None:
        async def run() -> None:
            await work

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for every report still being written."""
        await asyncio.gather(*self._tasks, return_exceptions=True)
