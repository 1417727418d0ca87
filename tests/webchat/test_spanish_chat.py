"""A web chat in Spanish, over real HTTP (127.0.0.1). Before: the chat read every message
with the English grammar and never switched: "Sí, soy yo" was not understood (asked
again in English), and "No me llamen más" was a plain "no" ("not Testa": the wrong-person
ending), the opt-out lost, in a Spanish chat and in an English one alike."""

from __future__ import annotations

import asyncio
import unicodedata

import httpx
import pytest

from agent.handler import AgentRuntime
from carrier.plugin import OutcomeKind
from tests.webchat.conftest import serving

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]


async def chat(rt: AgentRuntime, lines: list[str]) -> tuple[list[list[str]], OutcomeKind]:
    async with serving(rt) as (server, base), httpx.AsyncClient(base_url=base) as web:
        r = await web.post("/api/session", json={"mode": "text", "phone": "555-010-0123"})
        assert r.status_code == 201, r.text
        opened = r.json()
        hdr = {"X-Webchat-Token": opened["token"]}
        replies = [list(opened["replies"])]
        for line in lines:
            r = await web.post(f"/api/session/{opened['session']}/message",
                               json={"text": line}, headers=hdr)
            assert r.status_code == 200, r.text
            replies.append(list(r.json()["replies"]))
        async with asyncio.timeout(10):
            [outcome] = await server.wait_outcomes(1)
    return replies, outcome.kind


async def test_a_spanish_chat_switches_and_its_opt_out_is_kept(
        text_runtime: AgentRuntime) -> None:
    replies, kind = await chat(text_runtime, ["Sí, soy yo", "No me llamen más"])
    assert "fecha de nacimiento" in " ".join(replies[1])  # asked in Spanish, answer taken
    assert kind is OutcomeKind.OPTED_OUT


async def test_a_spanish_opt_out_in_an_english_chat_is_kept(
        text_runtime: AgentRuntime) -> None:
    _, kind = await chat(text_runtime, ["yes", "No me manden más mensajes"])
    assert kind is OutcomeKind.OPTED_OUT


async def test_spanish_typed_with_decomposed_accents_is_read_as_spanish(
        text_runtime: AgentRuntime) -> None:
    """Some keyboards and pastes send accents as separate marks (NFD: "ma" + U+0301 + "s").
    Before: such a first message was not seen as Spanish ("No me llamen ma\u0301s" kept the
    chat in English: its goodbye in English); now the page's text is composed (NFC) as it
    arrives, as the SMS edge already does (NFKC)."""
    replies, kind = await chat(text_runtime, [unicodedata.normalize("NFD", "No me llamen más")])
    assert kind is OutcomeKind.OPTED_OUT
    assert "Adiós" in " ".join(replies[1]), replies
