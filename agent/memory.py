"""Conversation memory per patient, across channels and calls.

What was said and decided last time (confirmed, asked to reschedule, no answer,
opted out, ...) and which questions have been answered already, so the next
interaction on any channel greets with context and asks nobody twice. Memory holds
outcomes, slot *names* and PHI-free facts (ids, statuses) only; answers themselves
live in the records' encrypted fields.

``MemoryView`` is the pure model the engine reads; ``MemoryStore`` implementations
keep interactions (in memory, or in Postgres: migration 0101).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

OUTCOMES = frozenset({
    "confirmed", "cancelled", "rescheduled", "asked_to_reschedule", "no_answer", "opted_out",
    "transferred", "transfer_failed", "wrong_number", "incomplete", "completed",
    "not_verified", "booked",
    "qualified", "not_qualified", "refill_requested", "declined", "voicemail",
})
CHANNELS = frozenset({"voice", "sms", "web", "email", "simulator"})


@dataclass(frozen=True)
class Interaction:
    patient_id: str
    channel: str
    workflow: str
    outcome: str
    at: dt.datetime
    collected: frozenset[str] = frozenset()
    facts: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {self.outcome!r}")
        if self.channel not in CHANNELS:
            raise ValueError(f"unknown channel {self.channel!r}")
        if self.at.tzinfo is None:
            raise ValueError("interaction time must be timezone-aware")


@dataclass(frozen=True)
class MemoryView:
    """Every earlier interaction of one patient, oldest first."""

    patient_id: str
    interactions: tuple[Interaction, ...] = ()

    @property
    def last(self) -> Interaction | None:
        return self.interactions[-1] if self.interactions else None

    @property
    def collected(self) -> frozenset[str]:
        out: set[str] = set()
        for item in self.interactions:
            out |= item.collected
        return frozenset(out)

    def last_for(self, workflow: str) -> Interaction | None:
        for item in reversed(self.interactions):
            if item.workflow == workflow:
                return item
        return None

    def opted_out(self) -> bool:
        return any(i.outcome == "opted_out" for i in self.interactions)

    def as_scope(self) -> dict[str, Any]:
        """Variables for workflow conditions and prompts: ``memory.last_outcome`` etc."""
        last = self.last
        return {
            "last_outcome": last.outcome if last else None,
            "last_channel": last.channel if last else None,
            "last_workflow": last.workflow if last else None,
            "contacts": len(self.interactions),
            "collected": sorted(self.collected),
            "facts": dict(last.facts) if last else {},
        }

    def with_interaction(self, item: Interaction) -> MemoryView:
        if item.patient_id != self.patient_id:
            raise ValueError("interaction belongs to another patient")
        ordered = sorted((*self.interactions, item), key=lambda i: i.at)
        return MemoryView(self.patient_id, tuple(ordered))


class MemoryStore(Protocol):
    async def load(self, patient_id: str) -> MemoryView: ...

    async def record(self, item: Interaction) -> None: ...


class InMemoryMemoryStore:
    def __init__(self) -> None:
        self._views: dict[str, MemoryView] = {}

    async def load(self, patient_id: str) -> MemoryView:
        return self._views.get(patient_id, MemoryView(patient_id))

    async def record(self, item: Interaction) -> None:
        view = self._views.get(item.patient_id, MemoryView(item.patient_id))
        self._views[item.patient_id] = view.with_interaction(item)


class PostgresMemoryStore:
    """Interactions in ``conversation_memory`` (migration 0101); any asyncpg pool or connection."""

    def __init__(self, pool: Any, *, limit: int = 50) -> None:
        self._pool = pool
        self._limit = limit

    async def load(self, patient_id: str, *, timeout: float = 5.0) -> MemoryView:  # noqa: ASYNC109 - asyncpg-style keyword timeout (STYLE.md)
        rows = await self._pool.fetch(
            "SELECT patient_id, channel, workflow, outcome, at, collected, facts "
            "FROM conversation_memory WHERE patient_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
            patient_id, self._limit, timeout=timeout,
        )
        items = [
            Interaction(r["patient_id"], r["channel"], r["workflow"], r["outcome"], r["at"],
                        frozenset(r["collected"]), json.loads(r["facts"]))
            for r in reversed(rows)
        ]
        return MemoryView(patient_id, tuple(items))

    async def record(self, item: Interaction, *, timeout: float = 5.0) -> None:  # noqa: ASYNC109 - asyncpg-style keyword timeout (STYLE.md)
        await self._pool.execute(
            "INSERT INTO conversation_memory "
            "(patient_id, channel, workflow, outcome, at, collected, facts) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)",
            item.patient_id, item.channel, item.workflow, item.outcome, item.at,
            sorted(item.collected), json.dumps(dict(item.facts), sort_keys=True), timeout=timeout,
        )


def interaction_from(patient_id: str, channel: str, workflow: str, outcome: str,  # noqa: PLR0917 - mirrors the Interaction fields in order
                     at: dt.datetime, collected: Iterable[str] = (),
                     facts: Mapping[str, str] | None = None) -> Interaction:
    return Interaction(patient_id, channel, workflow, outcome, at, frozenset(collected),
                       dict(facts or {}))
