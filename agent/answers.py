"""The answers one call's workflow collects, saved as the call goes and owned by the call.

``save`` hands them to the records facade (encrypted, durable: spooled in an outage)
without holding up the conversation; the call enters ``CallAnswers`` as a context, so
however it ends (hung up, cancelled by its length limit, failed) every save is awaited
before the call's task ends: none outlives the call unawaited. A failed save is logged by
its class only, never the answers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from carrier.records.store import Records

log = logging.getLogger("agent.answers")


class CallAnswers:
    """Answers the workflow collects go to encrypted storage; only their names are audited."""

    def __init__(self, records: Records, call_id: str) -> None:
        self.records = records
        self.call_id = call_id
        self.pending: list[asyncio.Task[Any]] = []

    def save(self, patient_id: str | None, kind: str, values: Mapping[str, Any]) -> None:
        self.pending.append(asyncio.ensure_future(self.records.add_call_answers(
            self.call_id, kind, patient_id, values)))

    async def __aenter__(self) -> CallAnswers:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.settle()

    async def settle(self) -> int:
        """Wait for every save; a failed one is reported (class only, never the answers).
        Returns how many failed."""
        failed = 0
        for outcome in await asyncio.gather(*self.pending, return_exceptions=True):
            if isinstance(outcome, BaseException):
                failed += 1
                log.error("call %s: answers not stored (%s)", self.call_id,
                          type(outcome).__name__)
        return failed
