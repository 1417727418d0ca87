"""A text of up to 255 parts reaches the agent's grammars as a bounded string.

Before: the whole text went to the grammars, whose cost grows with length (about 0.36 s
a kilobyte, 8 KB about 2 s), on the event loop every call and text shares; a text of 255
parts (about 39,000 characters) held it for many seconds. Now the agent reads the head
of a long text and the words around its opt-out cues (``agent.sms_bound``): at most
``LIMIT`` characters, and an opt-out at the very end of a long text is still recorded.
The check is structural (the longest string the handler parses), never a timing."""

from __future__ import annotations

import pytest

import agent.sms
from agent.sms_bound import HEAD, LIMIT, parsed_text
from carrier.records.store import Records
from carrier.sms.smpp import InboundText
from tests.sms.conftest import OURS, PHONE, Stack
from tests.sms.test_opt_out_scope import consent

pytestmark = pytest.mark.postgres
FILLER = "I have a question about the parking and the forms for my visit. "  # 64 chars


def spy_on_parsing(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The length of every text the handler reads (each goes through ``body`` first)."""
    seen: list[int] = []
    real = agent.sms.body

    def body(text: str) -> str:
        seen.append(len(text))
        return real(text)

    monkeypatch.setattr(agent.sms, "body", body)
    return seen


async def test_a_255_part_text_is_read_bounded_and_its_late_opt_out_recorded(
        stack: Stack, records: Records, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = spy_on_parsing(monkeypatch)
    text = FILLER * 610 + "Please stop texting me."  # 255 parts of 153 characters
    assert len(text) > 39_000
    await stack.service.on_inbound(InboundText(PHONE, OURS, text))
    assert seen
    assert max(seen) <= LIMIT
    assert (await consent(records, stack))[0] == "revoked"


async def test_a_long_text_with_no_opt_out_is_answered_bounded(
        stack: Stack, records: Records, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = spy_on_parsing(monkeypatch)
    await stack.service.on_inbound(InboundText(PHONE, OURS, FILLER * 130))  # 8 KB
    assert max(seen) <= LIMIT
    assert "call us" in str((await stack.smsc.wait("submit"))["text"])
    assert await consent(records, stack) == ("granted", "granted")


def test_a_short_text_is_read_whole() -> None:
    said = "Yes, I will be there. " * 20
    assert len(said) <= HEAD
    assert parsed_text(said) == said


@pytest.mark.parametrize("late", ["STOP", "unsubscribe me", "no me manden más mensajes",
                                  "remove me from your list", "don't text me again"])
def test_an_opt_out_anywhere_stays_in_what_is_read(late: str) -> None:
    read = parsed_text(FILLER * 600 + late + " " + FILLER * 10)
    assert late in read
    assert len(read) <= LIMIT
