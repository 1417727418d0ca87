"""The feeds' write-back queue as an outbox operation (``feed_writeback``).

``carrier.feeds.writeback.Writeback.record`` encrypts one queue entry per destination
(the call's outcome: kind, call id, detail, time, control id, appointment and patient ids;
bound to its ``dedup_key``) and puts them in the records outbox, so an outcome met during
a database outage is fsync'd and replayed in order like every other durable write. Applied
in the outbox's transaction: the subject lookup (the appointment's or patient's feed
identifiers; an outcome off the feeds is nothing to write back) and one ``INSERT ... ON
CONFLICT (dedup_key) DO NOTHING`` per destination, so a replay repeats nothing. A row
with ``answers_of`` (intake answers, a screening result) is queued only when the call saved
answers of those kinds (``call_answers``, written earlier through the same ordered outbox).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any
from uuid import UUID

import asyncpg

from carrier.records.outbox import Op
from carrier.records.timecodec import from_micros


async def feed_subject(conn: asyncpg.Connection | asyncpg.Pool, appointment_id: str | None,
                       patient_id: str | None) -> tuple[UUID, str | None, str | None] | None:
    """The feed patient (and the appointment's source and ref) an outcome is about."""
    ref = source = None
    if appointment_id:
        row = await conn.fetchrow("SELECT source, ref, patient_id FROM feed_appointments"
                                  " WHERE app_id = $1", appointment_id)
        if row is not None:
            ref, source, patient_id = row["ref"], row["source"], str(row["patient_id"])
    try:
        pid = UUID(patient_id) if patient_id else None
    except ValueError:
        return None  # a local patient id: not from a feed
    if pid is None or await conn.fetchval(
            "SELECT 1 FROM feed_patients WHERE patient_id = $1 LIMIT 1", pid) is None:
        return None
    return pid, source, ref


async def _apply_writeback(conn: asyncpg.Connection, record: Mapping[str, Any]) -> None:
    if await feed_subject(conn, record["appointment_id"], record["patient_id"]) is None:
        return  # not from a feed: nothing to write back to
    at = from_micros(record["at"])
    for row in record["rows"]:
        if row.get("answers_of") and await conn.fetchval(  # answers this call saved, if any
                "SELECT 1 FROM call_answers WHERE call_id = $1 AND kind = ANY($2) LIMIT 1",
                record["call_id"], row["answers_of"]) is None:
            continue
        await conn.execute(
            "INSERT INTO feed_outbox (dedup_key, destination, kind, payload_ct, next_at,"
            " created_at) VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (dedup_key) DO NOTHING",
            row["dedup_key"], row["destination"], row["kind"],
            base64.b64decode(row["payload_ct"]), at)


OPS = (Op("feed_writeback", _apply_writeback),)
