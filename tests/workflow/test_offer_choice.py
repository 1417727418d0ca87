"""Three times offered: only a reply that picks one books it.

Before, the first of three offered times was booked for "not the first one", "the first
one is too early", "is there one later", "one in the afternoon" and "do you have one on
Friday": any "one" in the reply was the number one."""

from __future__ import annotations

import pytest

from agent.workflow.effects import Action, Effect, Utterance
from agent.workflow.engine import Conversation
from agent.workflow.loader import load_all

from .helpers import NOW, WORKFLOWS

SHIPPED = load_all(WORKFLOWS)
RECORD = {"org_name": "Maple Grove Family Clinic", "callback_number": "555-010-0100"}


def offered(workflow: str = "appointment_reminder") -> Conversation:
    conv = Conversation(SHIPPED[workflow], RECORD, call_id="c1")
    conv.start(NOW)
    conv.state = "offer_slots"
    conv._vars["offers"] = {"offers": [{"slot_id": f"s{i}", "label": f"Slot {i}"}
                                       for i in range(1, 4)]}
    return conv


def actions(out: list[Effect]) -> list[Action]:
    return [e for e in out if isinstance(e, Action)]


@pytest.mark.parametrize("workflow", ["appointment_reminder", "appointment_reminder_sms"])
@pytest.mark.parametrize("said", ["not the first one", "the first one is too early",
                                  "is there one later", "which one is the earliest",
                                  "one of those"])
def test_a_reply_that_picks_no_time_books_none(workflow: str, said: str) -> None:
    conv = offered(workflow)
    out = conv.handle(Utterance(said), NOW)
    assert not any(a.name == "reschedule_appointment" for a in actions(out))
    assert "choice" not in conv._slots


def test_asking_for_another_day_searches_that_day() -> None:
    conv = offered()
    out = conv.handle(Utterance("do you have one on Friday"), NOW)
    search = [a for a in actions(out) if a.name == "find_free_slots"]
    assert search
    assert "choice" not in conv._slots


@pytest.mark.parametrize(("said", "pick"), [("the second one", 2), ("three please", 3),
                                            ("the last one", 3), ("option one", 1),
                                            ("no, the first one", 1)])
def test_a_pick_books_that_time(said: str, pick: int) -> None:
    conv = offered()
    out = conv.handle(Utterance(said), NOW)
    booked = [a for a in actions(out) if a.name == "reschedule_appointment"]
    assert len(booked) == 1
    assert booked[0].args["choice"] == pick


def missed_at(now_text: str = "2026-11-23T15:00:00+00:00") -> Conversation:
    record = {**RECORD, "patient": {"id": "pat-1003", "first_name": "Robin",
                                    "dob": "1992-07-14"},
              "appointment": {"id": "appt-3", "day": "Friday, November 20",
                              "time": "9 AM", "provider": "Dr. Ada Testwell"}}
    conv = Conversation(SHIPPED["no_show_reactivation"], record, call_id="c1")
    conv.start(NOW)
    conv.verified = True
    conv.state = "missed"
    return conv


@pytest.mark.parametrize(("said", "day", "days"), [
    ("yes, next Tuesday afternoon", "2026-12-01", 1),
    ("sure, how about Thursday morning", "2026-11-26", 1),
    ("yes but not this week", "2026-11-30", 7)])
def test_a_yes_with_a_day_searches_that_day(said: str, day: str, days: int) -> None:
    """Before: the yes was taken and the day dropped; the search offered today's times."""
    conv = missed_at()
    out = conv.handle(Utterance(said), NOW)
    [search] = [a for a in actions(out) if a.name == "find_free_slots"]
    pref = search.args["preference"]
    assert (pref.date.isoformat(), pref.days) == (day, days)
