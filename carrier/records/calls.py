"""Calls: one record per call leg, its redacted transcript, the answers a workflow
collected and, only when configured, the audio. The records facade alone writes these tables.

* ``record_call(CallRecord, transcript, recording=None)``: the call's end, in one durable
  write (applied in one transaction, or fsync'd to the outbox spool while Postgres is away
  and replayed later). Transcript turns and audio are encrypted before they leave this
  process's memory, so neither the spool nor the tables hold them in clear.
* ``add_call_answers(call_id, kind, patient_id, values)``: raw slot values, encrypted.
* ``call_record`` / ``call_transcript`` / ``call_recording`` / ``call_answers``: read back
  (decrypting).

Cell bindings (AAD): transcript text ``call_transcripts/text_ct/<call_id>/<seq>``; audio
``call_recordings/audio_ct/<call_id>``; answers ``call_answers/<kind>/<call_id>``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import uuid4

import asyncpg

from carrier.records.audit import AuditLog, now_or
from carrier.records.chain import micros
from carrier.records.outbox import Op
from carrier.records.safe import safe_text
from carrier.records.timecodec import from_micros


@dataclass(frozen=True)
class CallRecord:
    """What the carrier keeps about one call leg (no PHI: ids, enums, codes)."""

    call_id: str
    direction: str  # "inbound" | "outbound"
    started_at: datetime
    ended_at: datetime
    workflow: str | None = None
    patient_id: str | None = None
    outcome: str | None = None
    stir_status: str | None = None
    verstat: str | None = None
    amd: str | None = None
    origid: str | None = None


_TEXT_FIELDS = ("call_id", "workflow", "patient_id", "outcome", "stir_status", "verstat",
                "amd", "origid")


def transcript_row_id(call_id: str, seq: int) -> str:
    return f"{call_id}/{seq}"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


async def _apply_call(conn: asyncpg.Connection, record: Mapping[str, Any]) -> None:
    c = record["call"]
    await conn.execute(
        "INSERT INTO call_records (call_id, direction, workflow, patient_id, origid,"
        " started_at, ended_at, outcome, stir_status, verstat, amd)"
        " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) ON CONFLICT (call_id) DO UPDATE"
        " SET ended_at = EXCLUDED.ended_at, outcome = EXCLUDED.outcome",
        c["call_id"], c["direction"], c["workflow"], c["patient_id"], c["origid"],
        from_micros(c["started_at"]), from_micros(c["ended_at"]), c["outcome"],
        c["stir_status"], c["verstat"], c["amd"],
    )
    await conn.executemany(
        "INSERT INTO call_transcripts (call_id, seq, speaker, text_ct) VALUES ($1,$2,$3,$4)"
        " ON CONFLICT (call_id, seq) DO NOTHING",
        [(c["call_id"], seq, speaker, base64.b64decode(ct))
         for seq, (speaker, ct) in enumerate(record["turns"])],
    )
    if record.get("audio_ct") is not None:
        await conn.execute(
            "INSERT INTO call_recordings (call_id, audio_ct, sample_rate) VALUES ($1,$2,$3)"
            " ON CONFLICT (call_id) DO NOTHING",
            c["call_id"], base64.b64decode(record["audio_ct"]), record["sample_rate"],
        )


async def _apply_answers(conn: asyncpg.Connection, record: Mapping[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO call_answers (entry_id, call_id, kind, patient_id, answers_ct, at)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (entry_id) DO NOTHING",
        record["entry_id"], record["call_id"], record["kind"], record["patient_id"],
        base64.b64decode(record["answers_ct"]), from_micros(record["at"]),
    )


OPS = (Op("call", _apply_call), Op("answers", _apply_answers))


class CallStore(AuditLog):
    async def record_call(
        self,
        call: CallRecord,
        transcript: Sequence[tuple[str, str]],
        *,
        recording: bytes | None = None,
        sample_rate: int = 16000,
    ) -> None:
        """Store a finished call, its redacted transcript (``(speaker, text)`` turns) and
        optionally its PCM16 audio. Durable when it returns."""
        fields = {k: (None if getattr(call, k) is None else safe_text(getattr(call, k)))
                  for k in _TEXT_FIELDS}
        call_id = fields["call_id"]
        assert call_id is not None
        keys = self.keys
        turns = [
            (safe_text(speaker, limit=64),
             _b64(keys.encrypt(text, "call_transcripts", "text_ct",
                               transcript_row_id(call_id, seq))))
            for seq, (speaker, text) in enumerate(transcript)
        ]
        record: dict[str, Any] = {
            "call": {**fields, "direction": safe_text(call.direction, limit=16),
                     "started_at": micros(call.started_at), "ended_at": micros(call.ended_at)},
            "turns": turns,
            "audio_ct": None,
            "sample_rate": sample_rate,
        }
        if recording is not None:
            record["audio_ct"] = _b64(keys.encrypt(recording, "call_recordings", "audio_ct",
                                                   call_id))
        await self.outbox.put("call", record)

    async def add_call_answers(
        self, call_id: str, kind: str, patient_id: str | None, values: Mapping[str, Any],
        *, at: datetime | None = None,
    ) -> None:
        """Raw slot values a workflow collected, encrypted; durable when it returns."""
        call_id, kind = safe_text(call_id), safe_text(kind, limit=128)
        text = repr(sorted((k, str(v)) for k, v in values.items()))
        await self.outbox.put("answers", {
            "entry_id": str(uuid4()), "call_id": call_id, "kind": kind,
            "patient_id": None if patient_id is None else safe_text(patient_id),
            "answers_ct": _b64(self.keys.encrypt(text, "call_answers", kind, call_id)),
            "at": micros(now_or(at)),
        })

    async def call_record(self, call_id: str) -> CallRecord | None:
        row = await self.pool.fetchrow(
            "SELECT * FROM call_records WHERE call_id = $1", safe_text(call_id))
        if row is None:
            return None
        return CallRecord(
            row["call_id"], row["direction"], row["started_at"], row["ended_at"],
            row["workflow"], row["patient_id"], row["outcome"], row["stir_status"],
            row["verstat"], row["amd"], row["origid"],
        )

    async def call_transcript(self, call_id: str) -> list[tuple[str, str]]:
        """The redacted transcript, decrypted: ``(speaker, text)`` in order."""
        call_id = safe_text(call_id)
        rows = await self.pool.fetch(
            "SELECT seq, speaker, text, text_ct FROM call_transcripts WHERE call_id = $1"
            " ORDER BY seq", call_id)
        out = []
        for row in rows:
            if row["text_ct"] is None:  # stored before transcripts were encrypted
                out.append((row["speaker"], row["text"]))
                continue
            out.append((row["speaker"], self.keys.decrypt_str(
                bytes(row["text_ct"]), "call_transcripts", "text_ct",
                transcript_row_id(call_id, row["seq"]))))
        return out

    async def call_recording(self, call_id: str) -> tuple[bytes, int] | None:
        """The call's PCM16 audio and its sample rate, decrypted (None when not kept)."""
        call_id = safe_text(call_id)
        row = await self.pool.fetchrow(
            "SELECT audio_ct, sample_rate FROM call_recordings WHERE call_id = $1", call_id)
        if row is None:
            return None
        audio = self.keys.decrypt(bytes(row["audio_ct"]), "call_recordings", "audio_ct",
                                  call_id)
        return audio, int(row["sample_rate"])

    async def call_answers(self, call_id: str) -> list[tuple[str, str]]:
        """``(kind, decrypted answers text)`` for a call, in the order they were saved."""
        call_id = safe_text(call_id)
        rows = await self.pool.fetch(
            "SELECT kind, answers_ct FROM call_answers WHERE call_id = $1 ORDER BY id", call_id)
        return [(r["kind"], self.keys.decrypt_str(bytes(r["answers_ct"]), "call_answers",
                                                  r["kind"], call_id)) for r in rows]

    # ---- read-only weekly counts (the console's figures; no PHI, nothing decrypted) ----

    async def calls_by_week(self, since: datetime, until: datetime,
                            transfer_outcomes: Sequence[str]) -> list[Any]:
        """``(week, n, transfers)`` rows: calls started per UTC week, and how many of
        them ended with one of ``transfer_outcomes``."""
        return list(await self.pool.fetch(
            "SELECT date_trunc('week', started_at AT TIME ZONE 'UTC')::date AS week,"
            " count(*) AS n, count(*) FILTER (WHERE outcome = ANY($3::text[])) AS transfers"
            " FROM call_records WHERE started_at >= $1 AND started_at < $2 GROUP BY 1",
            since, until, list(transfer_outcomes), timeout=self.read_timeout))

    async def outcomes_by_workflow(self, since: datetime, until: datetime) -> list[Any]:
        """``(workflow, outcome, n)`` rows of the calls started in the range."""
        return list(await self.pool.fetch(
            "SELECT workflow, outcome, count(*) AS n FROM call_records"
            " WHERE started_at >= $1 AND started_at < $2 GROUP BY 1, 2",
            since, until, timeout=self.read_timeout))

    async def outbound_outcomes_by_week(self, since: datetime, until: datetime,
                                        patient_ids: Sequence[str]) -> list[Any]:
        """``(week, outcome, n)`` rows of the outbound calls to ``patient_ids``."""
        return list(await self.pool.fetch(
            "SELECT date_trunc('week', started_at AT TIME ZONE 'UTC')::date AS week, outcome,"
            " count(*) AS n FROM call_records WHERE direction = 'outbound'"
            " AND started_at >= $1 AND started_at < $2 AND patient_id = ANY($3::text[])"
            " GROUP BY 1, 2", since, until, list(patient_ids), timeout=self.read_timeout))
