"""A patient confirms an appointment by text on the web page, over real HTTP (127.0.0.1),
with the workflow's identity check (date of birth, then full name: the number typed is not
vouched for) before any PHI; the appointment is confirmed in Postgres and the transcript
stored redacted. The page's guards act: token, JSON only, same origin."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from agent.handler import AgentRuntime
from carrier.plugin import OutcomeKind
from carrier.records.store import Records
from tests.webchat.conftest import serving

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]


async def test_text_chat_confirms_after_identity(text_runtime: AgentRuntime, records: Records,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with serving(text_runtime) as (server, base), httpx.AsyncClient(base_url=base) as web:
        page = await web.get("/")
        assert page.status_code == 200
        assert "script-src 'self'" in page.headers[
            "content-security-policy"]
        assert "set-cookie" not in page.headers
        r = await web.post("/api/session", json={"mode": "text", "phone": "555-010-0123"})
        assert r.status_code == 201, r.text
        opened = r.json()
        sid, token = opened["session"], opened["token"]
        assert "set-cookie" not in r.headers
        assert any("Am I speaking with Testa" in t for t in opened["replies"])
        hdr = {"X-Webchat-Token": token}

        async def say(text: str) -> list[str]:
            r = await web.post(f"/api/session/{sid}/message", json={"text": text}, headers=hdr)
            assert r.status_code == 200, r.text
            return list(r.json()["replies"])

        # guards: no token, a wrong token, a form post, a foreign origin
        assert (await web.post(f"/api/session/{sid}/message", json={"text": "1"})
                ).status_code == 404
        assert (await web.post(f"/api/session/{sid}/message", json={"text": "1"},
                               headers={"X-Webchat-Token": "x" * 32})).status_code == 404
        assert (await web.post(f"/api/session/{sid}/message", data={"text": "1"},
                               headers=hdr)).status_code == 415
        assert (await web.post(f"/api/session/{sid}/message", json={"text": "1"},
                               headers={**hdr, "Origin": "https://evil.example"})
                ).status_code == 403

        assert any("date of birth" in t for t in await say("yes"))
        step_up = " ".join(await say("March 5th 1980"))
        assert "first and last name" in step_up
        assert "appointment" not in step_up
        details = " ".join(await say("Testa Patientson"))
        assert "You have an appointment" in details  # PHI only now
        r = await web.post(f"/api/session/{sid}/message", json={"text": "confirm"}, headers=hdr)
        assert r.json()["ended"] is True
        assert "confirmed" in " ".join(r.json()["replies"])

        async with asyncio.timeout(10):  # the chat's task records it as the reply goes out
            [outcome] = await server.wait_outcomes(1)
    assert outcome.kind is OutcomeKind.CONFIRMED
    assert await records.pool.fetchval(
        "SELECT status FROM sched_appointments WHERE id = 'appt-1'") == "confirmed"
    stored = " ".join(t for _, t in await records.call_transcript(outcome.call_id))
    assert "confirm" in stored
    assert "Testa" not in stored
    assert "Patientson" not in stored
    assert "1980" not in stored
