"""A stop sign alone is an opt-out; other "stop" emoji are asked about; a thumbs-down is
a no (tests/sms/emoji_corpus.py). Before: "🛑" alone was no keyword and nothing the
conversation read (asked again, or "we cannot answer texts here"), and ✋ 🚫 likewise."""

from __future__ import annotations

import datetime as dt

import asyncpg
import pytest

from agent.grammar import understand
from agent.language import text_meaning
from carrier.dialer.records_adapter import RecordsFacts
from carrier.records.store import Records
from carrier.sms.body import reaction
from carrier.sms.compliance import Keyword, keyword
from tests.dialer.conftest import START
from tests.dialer.test_integration_records import add_appointment
from tests.sms.conftest import Stack
from tests.sms.emoji_corpus import HELD_OUT_EMOJI, TUNED_EMOJI, EmojiCase


def read(case: EmojiCase) -> bool:
    said, kind = case
    kw = keyword(said)
    intents = understand(text_meaning(said)).intents
    if kind == "stop":
        return kw is Keyword.STOP
    if kw is not None or "affirm" in intents:
        return False
    if kind == "ask":
        return "cancel_ambiguous" in intents
    if kind == "no":
        return reaction(said) is False
    return not intents & {"opt_out", "cancel_ambiguous", "deny"} and reaction(said) is None


@pytest.mark.parametrize("case", TUNED_EMOJI, ids=[c[1] + str(i) for i, c in
                                                   enumerate(TUNED_EMOJI)])
def test_stop_emoji(case: EmojiCase) -> None:
    assert read(case), (case, keyword(case[0]), text_meaning(case[0]))


def test_held_out_stop_emoji() -> None:
    missed = [c for c in HELD_OUT_EMOJI if not read(c)]
    score = 1 - len(missed) / len(HELD_OUT_EMOJI)
    print(f"Stop emoji held-out: {score:.0%} of {len(HELD_OUT_EMOJI)} "
          f"({len(missed)} missed: {missed})")
    assert score >= 0.8, missed


@pytest.mark.postgres
async def test_a_stop_sign_by_text_opts_out_and_a_raised_hand_is_asked(
        stack: Stack, pool: asyncpg.Pool, records: Records) -> None:
    """Through the SMSC (UCS-2, a surrogate pair) to the consent ledger."""
    await add_appointment(pool, "e1", stack.patient, START + dt.timedelta(hours=30))
    await stack.reminders.send_reminder(stack.patient, "e1")
    await stack.smsc.wait("submit")
    await stack.text_from_phone("\u270b")
    assert "9" in str((await stack.smsc.wait("submit"))["text"])  # appointment or messages?
    await stack.text_from_phone("\U0001f6d1")
    assert "unsubscribed" in str((await stack.smsc.wait("submit"))["text"])
    facts = await RecordsFacts(records).consent(stack.patient)
    assert facts["sms"].value == "revoked"
