"""The web chat and the patient's preferred language, over real HTTP (127.0.0.1) on the
embedded Postgres. A chat begins in the language of the patient its typed number finds (as
a call does by caller ID); a language asked for in the chat becomes the patient's
preference once they are verified, and never before. Before: every chat began in
English whatever the record said, and a choice made in a chat was never kept."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest

from agent.handler import AgentRuntime
from carrier.records.store import Records
from tests.webchat.conftest import serving

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]


async def _chat(rt: AgentRuntime, lines: list[str]) -> list[str]:
    """Every reply of one chat (the opening's first), as one list."""
    async with serving(rt) as (server, base), httpx.AsyncClient(base_url=base) as web:
        r = await web.post("/api/session", json={"mode": "text", "phone": "555-010-0123"})
        assert r.status_code == 201, r.text
        opened = r.json()
        hdr = {"X-Webchat-Token": opened["token"]}
        replies = [" ".join(opened["replies"])]
        for line in lines:
            r = await web.post(f"/api/session/{opened['session']}/message",
                               json={"text": line}, headers=hdr)
            assert r.status_code == 200, r.text
            replies.append(" ".join(r.json()["replies"]))
            if r.json()["ended"]:
                break
        else:
            r = await web.post(f"/api/session/{opened['session']}/end", json={},
                               headers=hdr)
            assert r.status_code in (200, 204), r.text
        async with asyncio.timeout(10):
            await server.wait_outcomes(1)
    return replies


async def _stored(records: Records, pid: str) -> tuple[str | None, str | None]:
    row = await records.pool.fetchrow(
        "SELECT language, language_source FROM patients WHERE id = $1", uuid.UUID(pid))
    assert row is not None
    return row["language"], row["language_source"]


async def test_a_chat_begins_in_the_patient_s_preferred_language(
        text_runtime: AgentRuntime, records: Records, demo_ids: dict[str, str]) -> None:
    await records.set_patient_language(uuid.UUID(demo_ids["pat-1001"]), "es",
                                       actor="test", reason="fixture")
    replies = await _chat(text_runtime, ["Sí"])
    assert "¿Hablo con Testa?" in replies[0], replies[0]
    assert "fecha de nacimiento" in replies[1], replies[1]


async def test_a_language_chosen_in_the_chat_is_kept_once_verified(
        text_runtime: AgentRuntime, records: Records, demo_ids: dict[str, str]) -> None:
    pid = demo_ids["pat-1001"]
    replies = await _chat(text_runtime, ["español", "Sí",
                                         "el cinco de marzo de mil novecientos ochenta",
                                         "Testa Patientson", "confirmo"])
    assert "fecha de nacimiento" in replies[2], replies
    assert "Tiene una cita" in replies[4], replies  # verified: the appointment is named
    assert await _stored(records, pid) == ("es", "patient")
    call_id = await records.pool.fetchval("SELECT DISTINCT call_id FROM call_transcripts")
    stored = " ".join(t for _, t in await records.call_transcript(call_id))
    assert "[DOB]" in stored  # the date of birth said in Spanish words is redacted
    assert "novecientos" not in stored
    assert "marzo" not in stored
    await records.drain_spool()
    rows = await records.pool.fetch(
        "SELECT actor, reason, details FROM audit_log WHERE action = 'patient.language'"
        " AND record_id = $1", pid)
    assert [(r["actor"], json.loads(r["details"])["language"]
             if isinstance(r["details"], str) else r["details"]["language"])
            for r in rows] == [("agent", "es")]
    assert rows[0]["reason"].startswith("web chat ")


async def test_an_unverified_chat_s_choice_is_not_kept(
        text_runtime: AgentRuntime, records: Records, demo_ids: dict[str, str]) -> None:
    pid = demo_ids["pat-1001"]
    replies = await _chat(text_runtime, ["español", "Sí", "1 de enero de 1999",
                                         "Otra Persona", "adiós"])
    assert "fecha de nacimiento" in replies[2], replies
    assert await _stored(records, pid) == (None, None)
