"""Conversation memory: the pure model and the Postgres store (migration 0101)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import asyncpg
import pytest

from agent.memory import (
    InMemoryMemoryStore,
    Interaction,
    MemoryView,
    PostgresMemoryStore,
    interaction_from,
)

NOW = dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.UTC)


def test_view_answers_what_happened_last_time() -> None:
    view = MemoryView("pat-1")
    view = view.with_interaction(interaction_from("pat-1", "voice", "appointment_reminder",
                                                  "no_answer", NOW - dt.timedelta(days=2)))
    view = view.with_interaction(interaction_from("pat-1", "sms", "patient_intake", "completed",
                                                  NOW - dt.timedelta(days=1),
                                                  collected={"carrier", "member_id"}))
    assert view.last is not None
    assert view.last.channel == "sms"
    assert view.collected == frozenset({"carrier", "member_id"})
    assert view.as_scope()["last_outcome"] == "completed"
    assert view.last_for("appointment_reminder").outcome == "no_answer"  # type: ignore[union-attr]
    assert not view.opted_out()


def test_interactions_validate_themselves() -> None:
    with pytest.raises(ValueError, match="outcome"):
        Interaction("p", "voice", "w", "maybe", NOW)
    with pytest.raises(ValueError, match="channel"):
        Interaction("p", "pigeon", "w", "confirmed", NOW)
    with pytest.raises(ValueError, match="timezone"):
        Interaction("p", "voice", "w", "confirmed", NOW.replace(tzinfo=None))
    with pytest.raises(ValueError, match="another patient"):
        MemoryView("a").with_interaction(interaction_from("b", "voice", "w", "confirmed", NOW))


async def test_in_memory_store_round_trip() -> None:
    store = InMemoryMemoryStore()
    await store.record(interaction_from("pat-1", "voice", "w", "opted_out", NOW))
    assert (await store.load("pat-1")).opted_out()
    assert (await store.load("pat-2")).interactions == ()


@pytest.fixture
async def pg(db_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=2)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.mark.postgres
async def test_postgres_store_is_seen_by_the_next_interaction(pg: asyncpg.Pool) -> None:
    store = PostgresMemoryStore(pg)
    await store.record(interaction_from("pat-1", "voice", "appointment_reminder",
                                        "asked_to_reschedule", NOW, collected={"dob"},
                                        facts={"appointment_id": "appt-1"}))
    await store.record(interaction_from("pat-1", "sms", "appointment_reminder", "confirmed",
                                        NOW + dt.timedelta(hours=1),
                                        facts={"appointment_id": "appt-1"}))
    await store.record(interaction_from("pat-2", "voice", "w", "no_answer", NOW))
    view = await PostgresMemoryStore(pg).load("pat-1")  # a fresh store: another channel
    assert [i.outcome for i in view.interactions] == ["asked_to_reschedule", "confirmed"]
    assert view.last is not None
    assert view.last.facts == {"appointment_id": "appt-1"}
    assert view.collected == frozenset({"dob"})
    assert view.interactions[0].at == NOW


def test_a_failed_identity_check_does_not_replace_the_patients_last_word() -> None:
    """Issue 17: an unverified caller's `not_verified` interaction became `last`, so the
    next verified call lost the context of the patient's own last conversation."""
    view = MemoryView("pat-1").with_interaction(interaction_from(
        "pat-1", "sms", "appointment_reminder_sms", "asked_to_reschedule", NOW))
    view = view.with_interaction(interaction_from(
        "pat-1", "voice", "appointment_reminder", "not_verified", NOW + dt.timedelta(hours=1)))
    assert view.as_scope()["last_outcome"] == "asked_to_reschedule"
    assert view.last is not None
    assert view.last.channel == "sms"
