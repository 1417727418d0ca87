"""Runtime rules: scope, identity before PHI, determinism (Hypothesis)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.workflow.effects import (
    Action,
    ActionResult,
    CallerHangup,
    Dtmf,
    Effect,
    Hangup,
    Input,
    Listen,
    NoInput,
    Say,
    Transfer,
    Utterance,
)
from agent.workflow.engine import (
    Conversation,
    HostProtocolError,
    PhiBeforeVerification,
    ScopeViolation,
)
from agent.workflow.loader import load_all, load_workflow
from agent.workflow.model import State

from .helpers import NOW, WORKFLOWS

RECORD = {
    "org_name": "Maple Grove Family Clinic", "callback_number": "555-010-0100",
    "patient": {"id": "pat-1001", "first_name": "Testa", "last_name": "Patientson",
                "dob": "1980-03-05", "phone": "+15550100123", "member_id": "ZZX123456789"},
    "appointment": {"id": "appt-1", "provider_id": "prov-1", "day": "Tuesday, November 24",
                    "time": "10:30 AM", "provider": "Dr. Ada Testwell"},
}
SHIPPED = load_all(WORKFLOWS)
OFFERS = {"offers": [{"slot_id": f"s{i}", "label": f"Slot {i}"} for i in range(1, 4)],
          "spoken": "Slot 1; Slot 2; Slot 3"}


def fake_result(action: Action) -> ActionResult:
    """A deterministic stand-in for the host."""
    if action.name == "find_free_slots":
        return ActionResult(action.name, "ok", OFFERS)
    if action.name == "lookup_refill":
        return ActionResult(action.name, "ok", {"medication": "aspirin", "pharmacy": "Main"})
    if action.name in ("reschedule_appointment", "book_appointment"):
        return ActionResult(action.name, "ok", {"appointment_id": "appt-9", "label": "Slot 1"})
    return ActionResult(action.name, "ok", {})


def drive(conv: Conversation, inputs: Iterator[Input], now: dt.datetime) -> list[Effect]:
    out: list[Effect] = []
    queue = conv.start(now)
    steps = 0
    while queue and steps < 500:
        steps += 1
        effect = queue.pop(0)
        out.append(effect)
        if isinstance(effect, Action):
            queue = conv.handle(fake_result(effect), now) + queue
        elif isinstance(effect, Listen):
            now += dt.timedelta(seconds=3)
            queue = conv.handle(next(inputs, CallerHangup()), now) + queue
    return out


def test_scope_rule_refuses_an_action_outside_the_workflow_scope_at_run_time() -> None:
    wf = SHIPPED["appointment_reminder"]
    narrowed = dataclasses.replace(wf, scope=frozenset({"patient:identity", "appointment:read"}))
    conv = Conversation(narrowed, RECORD, call_id="c1")
    conv.start(NOW)
    conv.handle(Utterance("yes"), NOW)
    conv.handle(Utterance("March fifth nineteen eighty"), NOW)
    with pytest.raises(ScopeViolation) as info:
        conv.handle(Utterance("confirm"), NOW)
    assert info.value.action == "confirm_appointment"
    assert info.value.missing == frozenset({"appointment:write"})


def test_reminder_can_never_read_clinical_notes() -> None:
    wf = SHIPPED["appointment_reminder"]
    states = dict(wf.states)
    states["do_confirm"] = dataclasses.replace(
        states["do_confirm"], action=dataclasses.replace(states["do_confirm"].action,  # type: ignore[arg-type]
                                                         name="read_clinical_notes"))
    conv = Conversation(dataclasses.replace(wf, states=states), RECORD, call_id="c1")
    conv.start(NOW)
    conv.handle(Utterance("yes"), NOW)
    conv.handle(Utterance("3/5/1980"), NOW)
    with pytest.raises(ScopeViolation, match="clinical_notes:read"):
        conv.handle(Dtmf("1"), NOW)


def test_runtime_refuses_phi_before_verification_even_if_loader_was_bypassed() -> None:
    wf = SHIPPED["appointment_reminder"]
    states = dict(wf.states)
    opening: State = states["opening"]
    affirm = next(a for a in opening.accept if a.intent == "affirm")
    states["opening"] = dataclasses.replace(opening, accept=(
        dataclasses.replace(affirm, goto="details"),))
    conv = Conversation(dataclasses.replace(wf, states=states), RECORD, call_id="c1")
    conv.start(NOW)
    with pytest.raises(PhiBeforeVerification) as info:
        conv.handle(Utterance("yes"), NOW)
    assert info.value.prompt_id == "details"


def test_phi_is_spoken_once_verified() -> None:
    conv = Conversation(SHIPPED["appointment_reminder"], RECORD, call_id="c1")
    conv.start(NOW)
    conv.handle(Utterance("yes"), NOW)
    out = conv.handle(Utterance("march fifth 1980"), NOW)
    assert conv.verified
    said = [e for e in out if isinstance(e, Say)]
    assert said[-1].contains_phi
    assert "Dr. Ada Testwell" in said[-1].text


def test_result_for_another_action_is_a_host_error() -> None:
    conv = Conversation(SHIPPED["appointment_reminder"], RECORD, call_id="c1")
    conv.start(NOW)
    conv.handle(Utterance("yes"), NOW)
    conv.handle(Utterance("march fifth 1980"), NOW)
    conv.handle(Utterance("confirm"), NOW)
    with pytest.raises(HostProtocolError):
        conv.handle(ActionResult("cancel_appointment", "ok"), NOW)


def test_finished_conversation_ignores_input() -> None:
    conv = Conversation(SHIPPED["escalation"], RECORD, call_id="c1")
    conv.start(NOW)
    conv.handle(Utterance("billing"), NOW)
    assert conv.finished
    assert conv.handle(Utterance("hello?"), NOW) == []


TURNS = st.one_of(
    st.sampled_from([
        "yes", "no", "stop", "cancel", "confirm", "reschedule", "the first one", "second",
        "March fifth nineteen eighty", "3/5/1980", "January 1 1990", "repeat that",
        "talk to a person", "wrong number", "next Tuesday afternoon", "I don't know",
        "my name is Testa Patientson", "Acme", "Z Z X 1 2 3 4 5 6", "five five five oh one "
        "two three four five six seven", "one oh oh oh one", "sore throat", "six", "uh",
        "cancel my appointment", "call me back later",
    ]).map(Utterance),
    st.sampled_from("0123456789*#").map(Dtmf),
    st.just(NoInput()),
    st.text(max_size=20).map(Utterance),
)


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(SHIPPED)), turns=st.lists(TURNS, max_size=30))
def test_identical_inputs_give_identical_paths(name: str, turns: list[Input]) -> None:
    wf = SHIPPED[name]
    runs = []
    for _ in range(2):
        conv = Conversation(wf, RECORD, call_id="c1")
        effects = drive(conv, iter(turns), NOW)
        runs.append((conv.path, effects))
    assert runs[0] == runs[1]
    path, effects = runs[0]
    # every conversation either waits for the caller or has ended cleanly
    ended = [e for e in effects if isinstance(e, (Hangup, Transfer))]
    assert len(ended) <= 1
    # nothing PHI is said before verification (the engine would have raised)
    first_verify = next((i for i, e in enumerate(effects) if isinstance(e, Say) and e.contains_phi),
                        None)
    if first_verify is not None and name != "patient_intake" and name != "escalation":
        assert "check_identity" in path


def test_shipped_workflow_files_are_deterministic_to_load() -> None:
    for path in sorted(WORKFLOWS.glob("*.yaml")):
        assert load_workflow(path) == load_workflow(path)


INPUTS: list[Input] = [
    Utterance("yes"), Utterance("no"), Utterance("stop"), Utterance("cancel"),
    Utterance("talk to a person"), Utterance("repeat that"), Utterance("wrong number"),
    Utterance("March fifth nineteen eighty"), Utterance("second"), Utterance("gibberish"),
    Utterance(""), NoInput(), CallerHangup(), *(Dtmf(k) for k in "0123456789*#"),
]


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_every_listening_state_handles_every_input(name: str) -> None:
    """Each (state, input) pair of every shipped workflow gives effects, never a crash."""
    wf = SHIPPED[name]
    for state in (s for s in wf.states.values() if s.accept):
        for event in INPUTS:
            conv = Conversation(wf, RECORD, call_id="c1")
            conv.start(NOW)
            conv.state = state.name
            conv.verified = True
            queue = conv.handle(event, NOW)
            for _ in range(20):  # finish any actions the step started
                pending = [e for e in queue if isinstance(e, Action)]
                if not pending:
                    break
                queue = conv.handle(fake_result(pending[-1]), NOW)
            assert queue or conv.finished or isinstance(event, CallerHangup), (state.name, event)
