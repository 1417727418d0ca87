"""Every shipped workflow driven through its main paths, opt-out and escalation."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from agent.memory import InMemoryMemoryStore, interaction_from
from agent.scheduling.model import AppointmentStatus
from agent.workflow.effects import (
    Action,
    AddDoNotCall,
    Audit,
    Hangup,
    Listen,
    RecordRevocation,
    Remember,
    Say,
    Transfer,
)
from agent.workflow.loader import load_all
from agent.workflow.records import ClinicFileSource

from .helpers import CLINIC, NOW, WORKFLOWS, kinds, run, spoken

DOB = "March fifth nineteen eighty"


def test_all_shipped_workflows_load() -> None:
    found = load_all(WORKFLOWS)
    assert set(found) == {"appointment_reminder", "patient_intake", "health_screening",
                          "no_show_reactivation", "refill_reminder", "escalation",
                          "appointment_reminder_sms"}
    questions = [s for s in found["health_screening"].states if s[1:3].isdigit()
                 and not s.endswith("_route")]
    assert len(questions) == 25


# ---- appointment reminder --------------------------------------------------------------


def test_reminder_opening_names_org_callback_and_opt_out_without_phi() -> None:
    result = run("appointment_reminder", [])
    first = spoken(result.effects)[0]
    assert "Maple Grove Family Clinic" in first.text
    assert "555-010-0100" in first.text
    assert "stop" in first.text
    assert "press 9" in first.text
    assert "Testa" in first.text
    assert "Patientson" not in first.text
    assert not first.contains_phi
    assert result.outcome == "incomplete"  # hung up at once


def test_reminder_confirm_path() -> None:
    result = run("appointment_reminder", ["yes it's me", DOB, "yes, I'll be there"])
    assert result.outcome == "confirmed"
    assert result.path[-1] == "confirmed"
    details = next(s for s in spoken(result.effects) if s.prompt_id == "details")
    assert "Dr. Ada Testwell" in details.text
    assert "Tuesday, November 24" in details.text
    assert "10:30 AM" in details.text
    assert details.contains_phi
    assert [e.name for e in result.effects if isinstance(e, Action)] == ["confirm_appointment"]
    assert isinstance(result.effects[-1], Remember)


def test_reminder_confirm_by_keys() -> None:
    result = run("appointment_reminder", ["#1", "3/5/1980", "#1"])
    assert result.outcome == "confirmed"


def test_reminder_cancel_path() -> None:
    result = run("appointment_reminder", ["yes", DOB, "I need to cancel my appointment", "yes"])
    assert result.outcome == "cancelled"
    assert [e.name for e in result.effects if isinstance(e, Action)] == ["cancel_appointment"]


def test_reminder_reschedule_to_next_free_slot() -> None:
    result = run("appointment_reminder", ["yeah", DOB, "can we reschedule", "the first one"])
    assert result.outcome == "rescheduled"
    offer = next(s for s in spoken(result.effects) if s.prompt_id == "offer_slots")
    # the first free slot of the same provider at least two hours ahead
    assert "Monday, November 23 at 12:30 PM with Dr. Ada Testwell" in offer.text
    done = next(s for s in spoken(result.effects) if s.prompt_id == "rescheduled")
    assert "Monday, November 23 at 12:30 PM" in done.text


def test_reminder_reschedule_to_a_said_day() -> None:
    result = run("appointment_reminder", ["yes", DOB, "reschedule",
                                          "next Tuesday afternoon", "second"])
    assert result.outcome == "rescheduled"
    offers = [s for s in spoken(result.effects) if s.prompt_id == "offer_slots"]
    assert "Tuesday, December 1 at 12 PM" in offers[1].text


def test_reminder_wrong_dob_twice_never_speaks_phi() -> None:
    result = run("appointment_reminder", ["yes", "January first 1990", "July fourth 1970"])
    assert result.outcome == "not_verified"
    assert not any(s.contains_phi for s in spoken(result.effects))
    assert not any(isinstance(e, Action) for e in result.effects)


def test_reminder_someone_else_answers() -> None:
    result = run("appointment_reminder", ["no, she's not here"])
    assert result.outcome == "no_answer"
    assert not any(s.contains_phi for s in spoken(result.effects))


@pytest.mark.parametrize("words", ["stop", "Stop calling me.", "please take me off your list",
                                   "unsubscribe", "#9", "opt out", "quit"])
def test_reminder_opt_out_records_revocation_and_dnc_at_once(words: str) -> None:
    result = run("appointment_reminder", [words])
    effect_kinds = kinds(result.effects)
    i = effect_kinds.index("RecordRevocation")
    assert effect_kinds[i + 1] == "AddDoNotCall"
    revocation = result.effects[i]
    assert isinstance(revocation, RecordRevocation)
    assert revocation.phone == "+15550100123"
    assert revocation.patient_id == "pat-1001"
    assert revocation.method == ("dtmf" if words == "#9" else "voice")
    dnc = result.effects[i + 1]
    assert isinstance(dnc, AddDoNotCall)
    assert dnc.phone == "+15550100123"
    assert spoken(result.effects)[-1].prompt_id == "optout_goodbye"
    assert any(isinstance(e, Hangup) and e.reason == "opted_out" for e in result.effects)
    assert result.outcome == "opted_out"


def test_opt_out_mid_call_after_verification() -> None:
    result = run("appointment_reminder", ["yes", DOB, "I said stop calling me"])
    assert result.outcome == "opted_out"
    assert any(isinstance(e, RecordRevocation) for e in result.effects)


def test_bare_cancel_is_asked_about_then_cancels_appointment() -> None:
    result = run("appointment_reminder", ["yes", DOB, "cancel", "the appointment", "yes"])
    assert result.outcome == "cancelled"
    assert any(s.prompt_id == "cancel_disambiguation" for s in spoken(result.effects))
    assert not any(isinstance(e, RecordRevocation) for e in result.effects)


def test_bare_cancel_with_unclear_answer_is_asked_again_never_an_opt_out() -> None:
    # Issue 12 reverses the old reading (an unclear answer was taken as an opt-out): a
    # wrong opt-out puts the patient on the do-not-call list and leaves the appointment.
    result = run("appointment_reminder", ["yes", DOB, "cancel", "whatever"])
    assert result.outcome == "incomplete"
    assert not any(isinstance(e, (RecordRevocation, AddDoNotCall)) for e in result.effects)
    assert any(s.prompt_id == "cancel_disambiguation_again" for s in spoken(result.effects))


def test_bare_cancel_where_no_appointment_cancel_is_an_opt_out() -> None:
    result = run("appointment_reminder", ["cancel"])
    assert result.outcome == "opted_out"


def test_talk_to_a_person_transfers_with_redacted_summary() -> None:
    result = run("appointment_reminder", ["yes", DOB, "can I talk to a real person"])
    transfer = next(e for e in result.effects if isinstance(e, Transfer))
    assert transfer.target == "scheduling"
    assert "identity verified" in transfer.summary
    for secret in ("1980", "Testa", "Patientson", "0123", "March"):
        assert secret not in transfer.summary
    assert transfer.patient_id == "pat-1001"


def test_key_zero_transfers_unverified_without_patient_id() -> None:
    result = run("appointment_reminder", ["#0"])
    transfer = next(e for e in result.effects if isinstance(e, Transfer))
    assert transfer.patient_id is None
    assert "not verified" in transfer.summary


def test_wrong_number() -> None:
    result = run("appointment_reminder", ["I think you have the wrong number"])
    assert result.outcome == "wrong_number"
    assert any(isinstance(e, Hangup) and e.reason == "wrong_number" for e in result.effects)


def test_repeat_that_says_the_prompt_again_without_using_an_attempt() -> None:
    result = run("appointment_reminder", ["sorry, what was that?", "repeat that", "yes"])
    openings = [s for s in spoken(result.effects) if s.prompt_id == "opening"]
    assert len(openings) == 3
    assert result.path[:2] == ["opening", "ask_dob"]


def test_no_input_reprompts_then_escalates_after_max_attempts() -> None:
    result = run("appointment_reminder", ["", "", ""])
    ids = [s.prompt_id for s in spoken(result.effects)]
    assert ids == ["opening", "opening_reprompt", "opening_reprompt", "escalation_notice"]
    assert isinstance(next(e for e in result.effects if isinstance(e, Transfer)), Transfer)


def test_no_match_reprompts() -> None:
    result = run("appointment_reminder", ["purple elephant", "yes"])
    assert [s.prompt_id for s in spoken(result.effects)][:3] == [
        "opening", "opening_reprompt", "ask_dob"]


def test_audit_steps_never_carry_slot_values() -> None:
    result = run("appointment_reminder", ["yes", DOB, "reschedule", "first"])
    steps = [e.step for e in result.effects if isinstance(e, Audit)]
    assert [s.seq for s in steps] == list(range(1, len(steps) + 1))
    dumped = repr(steps)
    for secret in ("1980", "03-05", "Testa", "Patientson"):
        assert secret not in dumped
    assert any(s.slots == {"dob": "[DOB]"} for s in steps)
    assert any(s.action == "reschedule_appointment" and s.result == "ok" for s in steps)


def test_listen_expectation_gives_hints_and_completeness() -> None:
    result = run("appointment_reminder", ["yes"])
    listens = [e for e in result.effects if isinstance(e, Listen)]
    dob_listen = listens[1].expected
    assert dob_listen.slot_type == "dob"
    assert dob_listen.is_complete("march fifth nineteen eighty", NOW)
    assert not dob_listen.is_complete("march", NOW)
    assert listens[0].expected.is_complete("yes", NOW)


# ---- memory across interactions --------------------------------------------------------


def test_memory_already_confirmed_elsewhere_is_not_asked_again() -> None:
    store = InMemoryMemoryStore()
    asyncio_record(store, interaction_from("pat-1001", "sms", "appointment_reminder",
                                           "confirmed", NOW - dt.timedelta(hours=3),
                                           facts={"appointment_id": "appt-1"}))
    calendar = ClinicFileSource(CLINIC).calendar(NOW)
    asyncio.run(calendar.set_status("appt-1", AppointmentStatus.CONFIRMED, NOW))
    result = run("appointment_reminder", ["yes", DOB], store=store, calendar=calendar)
    assert result.path[-1] == "already_confirmed"
    assert not any(isinstance(e, Action) for e in result.effects)


def test_memory_of_a_confirmation_the_calendar_no_longer_has_asks_again() -> None:
    # Confirmed by text, then set back to booked at the front desk: the calendar wins.
    store = InMemoryMemoryStore()
    asyncio_record(store, interaction_from("pat-1001", "sms", "appointment_reminder",
                                           "confirmed", NOW - dt.timedelta(hours=3),
                                           facts={"appointment_id": "appt-1"}))
    result = run("appointment_reminder", ["yes", DOB, "confirm"], store=store)
    assert "already_confirmed" not in result.path
    assert "details" in result.path
    assert result.outcome == "confirmed"


def test_memory_greets_with_last_request_to_reschedule() -> None:
    store = InMemoryMemoryStore()
    first = run("appointment_reminder", ["yes", DOB, "reschedule", ""], store=store)
    assert first.outcome in ("asked_to_reschedule", "incomplete")
    second = run("appointment_reminder", ["yes", DOB, "yes", "first"], store=store)
    assert "details_after_request" in second.path
    assert second.outcome == "rescheduled"


def asyncio_record(store: InMemoryMemoryStore, item: object) -> None:
    asyncio.run(store.record(item))  # type: ignore[arg-type]


# ---- intake ----------------------------------------------------------------------------


INTAKE = ["my name is Testa Patientson", "March 5th 1980",
          "five five five, oh one oh oh, one two three", "one oh oh oh one", "I have Acme",
          "Z Z X one two three four five six seven eight nine",
          "yes", "I have a sore throat and a fever"]


def test_intake_collects_everything_then_warm_transfers() -> None:
    result = run("patient_intake", INTAKE)
    transfer = next(e for e in result.effects if isinstance(e, Transfer))
    assert transfer.target == "scheduling"
    saved = {kind: values for _, kind, values in result.saved}
    assert saved["demographics"]["name"] == "Testa Patientson"
    assert saved["demographics"]["dob"] == dt.date(1980, 3, 5)
    assert saved["demographics"]["phone"] == "5550100123"
    assert saved["demographics"]["zip"] == "10001"
    assert saved["insurance"] == {"carrier": "Acme Health", "member_id": "ZZX123456789"}
    assert "sore throat" in saved["visit_reason"]["reason"]
    readback = next(s for s in spoken(result.effects) if s.prompt_id == "confirm_member_id")
    assert readback.contains_phi
    assert "Z Z X, 1 2 3, 4 5 6, 7 8 9" in readback.text
    # the reason helps the scheduler; identifiers never reach the summary
    assert "sore throat" in transfer.summary
    assert "patientson" not in transfer.summary.lower()
    assert "1980" not in transfer.summary


def test_intake_self_pay_skips_member_id() -> None:
    turns = [*INTAKE[:4], "I don't have insurance", "knee pain"]
    result = run("patient_intake", turns)
    assert "ask_member_id" not in result.path
    assert {k for _, k, _ in result.saved} == {"demographics", "insurance", "visit_reason"}


def test_intake_member_id_misheard_is_asked_again() -> None:
    turns = [*INTAKE[:6], "no", "Z Z X one two three four five six seven eight nine", "yes",
             "checkup"]
    result = run("patient_intake", turns)
    assert result.path.count("ask_member_id") == 2
    assert any(isinstance(e, Transfer) for e in result.effects)


def test_intake_does_not_ask_insurance_twice() -> None:
    store = InMemoryMemoryStore()
    run("patient_intake", INTAKE, store=store)
    again = run("patient_intake", [*INTAKE[:4], "follow up visit"], store=store)
    assert "ask_member_id" not in again.path
    assert not any(s.prompt_id == "ask_carrier" for s in spoken(again.effects))


def test_intake_escalates_to_a_person() -> None:
    result = run("patient_intake", ["representative"])
    assert any(isinstance(e, Transfer) for e in result.effects)


# ---- screening -------------------------------------------------------------------------

# q01 adult, q02 snore, q03, q04 tired, q05, q06, q07 bp, q08, q09 bmi, q10 neck, q11, q12,
# q13 hours, q14 cpap, q16 alcohol, q18 .. q25 available
QUALIFIED = ["yes", "yes", "yes", "yes", "no", "yes", "yes", "yes", "I don't know", "no", "no",
             "no", "six", "no", "no", "no", "no", "no", "no", "no", "no", "no", "yes"]


def test_screening_qualified_routes_to_scheduling() -> None:
    result = run("health_screening", ["yes", DOB, *QUALIFIED])
    assert result.outcome == "qualified"
    assert next(e for e in result.effects if isinstance(e, Transfer)).target == "scheduling"
    saved = next(v for _, k, v in result.saved if k == "screening")
    assert saved["qualified"] is True
    assert saved["answers"]["q02"] is True


def test_screening_not_qualified_is_thanked() -> None:
    answers = ["yes", "no", "no", "no", "no", "no", "no", "no", "no", "no", "seven", "no",
               "no", "no", "no", "no", "no", "no", "no", "no", "yes"]
    result = run("health_screening", ["yes", DOB, *answers])
    assert result.outcome == "not_qualified"
    assert "q03" not in result.path
    assert "q05" not in result.path
    assert not any(isinstance(e, Transfer) for e in result.effects)


def test_screening_minor_stops_after_first_question() -> None:
    result = run("health_screening", ["yes", DOB, "no"])
    assert result.outcome == "not_qualified"
    assert "q02" not in result.path


def test_screening_cpap_user_not_qualified() -> None:
    answers = list(QUALIFIED)
    answers[13] = "yes"  # q14: already uses CPAP -> q15 asked
    answers.insert(14, "yes")
    result = run("health_screening", ["yes", DOB, *answers])
    assert "q15" in result.path
    assert result.outcome == "not_qualified"


# ---- no-show, refill, escalation -------------------------------------------------------


def test_no_show_books_a_new_slot() -> None:
    result = run("no_show_reactivation", ["yes", "july fourteenth ninety two", "yes", "second"],
                 patient="pat-1003")
    assert result.outcome == "booked"
    assert [e.name for e in result.effects if isinstance(e, Action)] == [
        "find_free_slots", "book_appointment"]
    missed = next(s for s in spoken(result.effects) if s.prompt_id == "missed")
    assert "Sunday, November 22" in missed.text


def test_no_show_declines() -> None:
    result = run("no_show_reactivation", ["yes", "7/14/1992", "no thanks"], patient="pat-1003")
    assert result.outcome == "declined"


def test_refill_requested_after_verification() -> None:
    result = run("refill_reminder", ["yes", "November twentieth nineteen fifty five", "yes"],
                 patient="pat-1002")
    assert result.outcome == "refill_requested"
    due = next(s for s in spoken(result.effects) if s.prompt_id == "refill_due")
    assert "lisinopril" in due.text
    assert due.contains_phi
    assert [v for _, k, v in result.saved if k == "refill_request"] == [
        {"pharmacy": "Main Street Pharmacy"}]


def test_refill_nothing_due() -> None:
    result = run("refill_reminder", ["yes", DOB], patient="pat-1001")
    assert result.path[-1] == "nothing_due"


def test_escalation_transfers_to_queue_with_redacted_reason() -> None:
    result = run("escalation", ["my member ID is ZZX123456789 and my name is Testa Patientson, "
                                "it's about my bill"])
    transfer = next(e for e in result.effects if isinstance(e, Transfer))
    assert transfer.target == "front_desk"
    assert "[MEMBER_ID]" in transfer.summary
    assert "[NAME]" in transfer.summary
    assert "zzx123456789" not in transfer.summary.lower()
    assert "testa" not in transfer.summary.lower()
    assert "bill" in transfer.summary


def test_escalation_on_silence_still_transfers() -> None:
    result = run("escalation", ["", ""])
    assert any(isinstance(e, Transfer) for e in result.effects)


def test_say_effects_are_interruptible_by_default() -> None:
    result = run("escalation", ["billing"])
    assert all(isinstance(s, Say) and s.interruptible for s in spoken(result.effects))
