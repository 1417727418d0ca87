"""Conversation memory per patient, across channels and calls: one store.

What was said and decided last time (confirmed, asked to reschedule, no answer,
opted out, ...) and which questions have been answered already, so the next
interaction on any channel greets with context and asks nobody twice. Three kinds of
entry, each with its channel and time:

* an *outcome* (:class:`Interaction`): outcomes, slot *names* and PHI-free facts only;
* a *turn* (:class:`Turn`): what the patient or the agent said, redacted as transcripts
  are (``agent.redact``) before it is kept, and encrypted at rest (records field keys);
* a *promise* (:class:`Promise`): what we said we would do (call back Tuesday, send the
  address), open until kept.

``MemoryView`` is the pure model the engine reads; ``MemoryStore`` implementations keep
the entries (in memory, or in Postgres: migrations 0101 and 0110). Turns and promises are
covered by retention as transcripts are (``retained_tables``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent.redact import KnownIdentifiers, redact
from carrier.records.sealed import SealedColumn


class FieldKeys(Protocol):
    """The records' key ring, as far as memory uses it (``carrier.records.crypto``)."""

    def encrypt(self, plaintext: str | bytes, table: str, column: str, row_id: object
                ) -> bytes: ...

    def decrypt_str(self, ciphertext: bytes, table: str, column: str, row_id: object
                    ) -> str: ...

OUTCOMES = frozenset({
    "confirmed", "cancelled", "rescheduled", "asked_to_reschedule", "no_answer", "opted_out",
    "transferred", "transfer_failed", "wrong_number", "incomplete", "completed",
    "not_verified", "booked",
    "qualified", "not_qualified", "refill_requested", "declined", "voicemail",
    "deceased_reported",
})
CHANNELS = frozenset({"voice", "sms", "web", "email", "simulator"})
UNATTRIBUTED = frozenset({"not_verified"})
PROMISES = frozenset({"send_address", "call_back"})
SPEAKERS = frozenset({"patient", "agent"})
TABLE = "conversation_memory"
retained_tables = ((TABLE, "at"),)
sealed_columns = (SealedColumn(TABLE, "text_enc", "entry_id::text"),)
"""``carrier.plugin.SealsColumns``: the encrypted turns (bound to the entry id)."""
"""(table, time column) kept as long as call transcripts (``retention.transcript_days``)."""


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


def _check(channel: str, at: dt.datetime) -> None:
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    if at.tzinfo is None:
        raise ValueError("memory entries carry timezone-aware times")


@dataclass(frozen=True)
class Turn:
    """One thing said. ``text`` is redacted before it is kept (never log it either)."""

    patient_id: str
    channel: str
    workflow: str
    speaker: str
    text: str
    at: dt.datetime

    def __post_init__(self) -> None:
        _check(self.channel, self.at)
        if self.speaker not in SPEAKERS:
            raise ValueError(f"unknown speaker {self.speaker!r}")

    def __repr__(self) -> str:
        return f"Turn({self.channel}, {self.speaker}, <redacted>)"


@dataclass(frozen=True)
class Promise:
    """Something we said we would do; open until ``kept_at``."""

    patient_id: str
    channel: str
    workflow: str
    what: str
    at: dt.datetime
    due: dt.datetime | None = None
    kept_at: dt.datetime | None = None
    entry_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def __post_init__(self) -> None:
        _check(self.channel, self.at)
        if self.what not in PROMISES:
            raise ValueError(f"unknown promise {self.what!r}")


@dataclass(frozen=True)
class MemoryView:
    """Every earlier interaction of one patient, oldest first; recent turns; promises."""

    patient_id: str
    interactions: tuple[Interaction, ...] = ()
    turns: tuple[Turn, ...] = ()
    promises: tuple[Promise, ...] = ()

    @property
    def open_promises(self) -> tuple[Promise, ...]:
        return tuple(p for p in self.promises if p.kept_at is None)

    @property
    def last(self) -> Interaction | None:
        """The last interaction the patient is known to have taken part in: a caller who
        failed identity (``not_verified``) may be someone else, so that interaction does
        not replace what the patient last said (the context a verified call opens with)."""
        for item in reversed(self.interactions):
            if item.outcome not in UNATTRIBUTED:
                return item
        return None

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
            "open_promises": sorted({p.what for p in self.open_promises}),
            "channels": sorted({i.channel for i in self.interactions}
                               | {t.channel for t in self.turns}),
        }

    def with_interaction(self, item: Interaction) -> MemoryView:
        if item.patient_id != self.patient_id:
            raise ValueError("interaction belongs to another patient")
        ordered = sorted((*self.interactions, item), key=lambda i: i.at)
        return dataclasses.replace(self, interactions=tuple(ordered))


class MemoryStore(Protocol):
    async def load(self, patient_id: str) -> MemoryView: ...

    async def record(self, item: Interaction) -> None: ...


class ConversationLog(Protocol):
    """The one store's turns and promises (both stores below implement it)."""

    async def note(self, turn: Turn, known: KnownIdentifiers | None = None) -> None: ...

    async def promise(self, item: Promise) -> None: ...

    async def keep(self, item: Promise, at: dt.datetime) -> None: ...


class Memory(MemoryStore, ConversationLog, Protocol):
    """The one store: outcomes, turns and promises (both stores below)."""


class InMemoryMemoryStore:
    def __init__(self) -> None:
        self._views: dict[str, MemoryView] = {}

    async def load(self, patient_id: str) -> MemoryView:
        return self._views.get(patient_id, MemoryView(patient_id))

    async def record(self, item: Interaction) -> None:
        view = self._views.get(item.patient_id, MemoryView(item.patient_id))
        self._views[item.patient_id] = view.with_interaction(item)

    async def note(self, turn: Turn, known: KnownIdentifiers | None = None) -> None:
        view = await self.load(turn.patient_id)
        kept = dataclasses.replace(turn, text=redact(turn.text, known))
        self._views[turn.patient_id] = dataclasses.replace(view, turns=(*view.turns, kept))

    async def promise(self, item: Promise) -> None:
        view = await self.load(item.patient_id)
        self._views[item.patient_id] = dataclasses.replace(
            view, promises=(*view.promises, item))

    async def keep(self, item: Promise, at: dt.datetime) -> None:
        view = await self.load(item.patient_id)
        self._views[item.patient_id] = dataclasses.replace(view, promises=tuple(
            dataclasses.replace(p, kept_at=at) if p.entry_id == item.entry_id else p
            for p in view.promises))


class PostgresMemoryStore:
    """All entries in ``conversation_memory`` (migrations 0101, 0110); any asyncpg pool.
    ``keys`` (the records' key ring) encrypts turns; without it turns are refused."""

    def __init__(self, pool: Any, *, limit: int = 50, keys: FieldKeys | None = None) -> None:
        self._pool = pool
        self._limit = limit
        self._keys = keys

    async def load(self, patient_id: str, *, timeout: float = 5.0) -> MemoryView:  # noqa: ASYNC109 - asyncpg-style keyword timeout (STYLE.md)
        rows = await self._pool.fetch(
            "SELECT patient_id, channel, workflow, outcome, at, collected, facts "
            "FROM conversation_memory WHERE patient_id = $1 AND kind = 'outcome'"
            " ORDER BY at DESC, id DESC LIMIT $2",
            patient_id, self._limit, timeout=timeout,
        )
        items = [
            Interaction(r["patient_id"], r["channel"], r["workflow"], r["outcome"], r["at"],
                        frozenset(r["collected"]), json.loads(r["facts"]))
            for r in reversed(rows)
        ]
        return MemoryView(patient_id, tuple(items), await self._turns(patient_id, timeout),
                          await self._promises(patient_id, timeout))

    async def _turns(self, patient_id: str, timeout: float) -> tuple[Turn, ...]:  # noqa: ASYNC109 - asyncpg-style keyword timeout (STYLE.md)
        if self._keys is None:
            return ()
        rows = await self._pool.fetch(
            "SELECT entry_id, channel, workflow, speaker, text_enc, at FROM conversation_memory"
            " WHERE patient_id = $1 AND kind = 'turn' ORDER BY at DESC, id DESC LIMIT $2",
            patient_id, self._limit, timeout=timeout)
        return tuple(
            Turn(patient_id, r["channel"], r["workflow"], r["speaker"],
                 self._keys.decrypt_str(r["text_enc"], TABLE, "text_enc", r["entry_id"]),
                 r["at"]) for r in reversed(rows))

    async def _promises(self, patient_id: str, timeout: float) -> tuple[Promise, ...]:  # noqa: ASYNC109 - asyncpg-style keyword timeout (STYLE.md)
        rows = await self._pool.fetch(
            "SELECT entry_id, channel, workflow, promise, at, due_at, kept_at"
            " FROM conversation_memory WHERE patient_id = $1 AND kind = 'promise'"
            " ORDER BY at, id", patient_id, timeout=timeout)
        return tuple(Promise(patient_id, r["channel"], r["workflow"], r["promise"], r["at"],
                             r["due_at"], r["kept_at"], str(r["entry_id"])) for r in rows)

    async def note(self, turn: Turn, known: KnownIdentifiers | None = None, *,
                   timeout: float = 5.0) -> None:  # noqa: ASYNC109 - asyncpg-style keyword timeout (STYLE.md)
        """Keep one turn, redacted, then encrypted (AAD: the table, column and entry id)."""
        if self._keys is None:
            raise RuntimeError("turns are kept encrypted: the store needs the records' keys")
        entry = uuid.uuid4()
        sealed = self._keys.encrypt(redact(turn.text, known), TABLE, "text_enc", entry)
        await self._pool.execute(
            "INSERT INTO conversation_memory (patient_id, channel, workflow, outcome, at, kind,"
            " entry_id, speaker, text_enc) VALUES ($1, $2, $3, '', $4, 'turn', $5, $6, $7)",
            turn.patient_id, turn.channel, turn.workflow, turn.at, entry, turn.speaker,
            sealed, timeout=timeout)

    async def promise(self, item: Promise, *, timeout: float = 5.0) -> None:  # noqa: ASYNC109 - asyncpg-style keyword timeout (STYLE.md)
        await self._pool.execute(
            "INSERT INTO conversation_memory (patient_id, channel, workflow, outcome, at, kind,"
            " entry_id, promise, due_at, kept_at)"
            " VALUES ($1, $2, $3, '', $4, 'promise', $5, $6, $7, $8)",
            item.patient_id, item.channel, item.workflow, item.at, uuid.UUID(item.entry_id),
            item.what, item.due, item.kept_at, timeout=timeout)

    async def keep(self, item: Promise, at: dt.datetime, *, timeout: float = 5.0) -> None:  # noqa: ASYNC109 - asyncpg-style keyword timeout (STYLE.md)
        await self._pool.execute(
            "UPDATE conversation_memory SET kept_at = $2 WHERE entry_id = $1 AND kind = 'promise'",
            uuid.UUID(item.entry_id), at, timeout=timeout)

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
