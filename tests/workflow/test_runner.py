"""The one effect runner: any channel port sees the engine's effects in the engine's order,
feeds turns and action results back, and ends with the remembered outcome."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator

from agent.workflow.effects import (
    Action,
    ActionResult,
    Audit,
    CallerHangup,
    Effect,
    Hangup,
    Input,
    Listen,
    Say,
    Transfer,
    Utterance,
)
from agent.workflow.engine import Conversation
from agent.workflow.loader import load_workflow
from agent.workflow.runner import Bookkeeping, run_conversation

from .helpers import NOW, WORKFLOWS, kinds, run

RECORD = {
    "org_name": "Maple Grove Family Clinic", "callback_number": "555-010-0100",
    "patient": {"id": "pat-1001", "first_name": "Testa", "last_name": "Patientson",
                "dob": "1980-03-05", "phone": "+15550100123", "member_id": "ZZX123456789"},
    "appointment": {"id": "appt-1", "provider_id": "prov-1", "day": "Tuesday, November 24",
                    "time": "10:30 AM", "provider": "Dr. Ada Testwell"},
}


class RecordingPort:
    """A channel that writes down every call the runner makes; time moves 1 s a turn."""

    def __init__(self, turns: list[str]) -> None:
        self.calls: list[tuple[str, object]] = []
        self._turns: Iterator[str] = iter(turns)
        self._clock = NOW

    def now(self) -> dt.datetime:
        return self._clock

    async def say(self, effect: Say) -> None:
        self.calls.append(("say", effect.prompt_id))

    async def listen(self, effect: Listen, now: dt.datetime) -> Input:
        self._clock += dt.timedelta(seconds=1)
        turn = next(self._turns, None)
        self.calls.append(("listen", turn))
        return CallerHangup() if turn is None else Utterance(turn)

    async def act(self, effect: Action, now: dt.datetime) -> ActionResult:
        self.calls.append(("act", effect.name))
        return ActionResult(effect.name, "ok", {"appointment_id": "appt-1"})

    async def transfer(self, effect: Transfer) -> None:
        self.calls.append(("transfer", effect.target))

    async def hangup(self, effect: Hangup) -> None:
        self.calls.append(("hangup", effect.reason))

    async def record(self, effect: Bookkeeping) -> None:
        self.calls.append(("record", type(effect).__name__))


def test_a_port_sees_every_effect_in_order_and_the_outcome_is_returned() -> None:
    conv = Conversation(load_workflow(WORKFLOWS / "appointment_reminder.yaml"), RECORD,
                        call_id="c-1")
    port = RecordingPort(["yes", "March fifth nineteen eighty", "confirm"])
    seen: list[Effect] = []
    outcome = asyncio.run(run_conversation(conv, port, NOW, observe=seen.append))
    assert outcome == "confirmed"
    assert conv.finished
    assert [c[1] for c in port.calls if c[0] == "listen"] == [
        "yes", "March fifth nineteen eighty", "confirm"]
    assert ("act", "confirm_appointment") in port.calls
    assert port.calls[-2:] == [("record", "Audit"), ("record", "Remember")]
    # Every effect the engine produced reached the port, one call each, in order.
    assert len(seen) == len(port.calls)
    assert [e.prompt_id for e in seen if isinstance(e, Say)] == [
        c[1] for c in port.calls if c[0] == "say"]
    audits = [e for e in seen if isinstance(e, Audit)]
    assert [a.step.seq for a in audits] == sorted(a.step.seq for a in audits)


def test_a_caller_who_hangs_up_ends_the_conversation_through_the_same_loop() -> None:
    conv = Conversation(load_workflow(WORKFLOWS / "appointment_reminder.yaml"), RECORD,
                        call_id="c-2")
    port = RecordingPort([])
    assert asyncio.run(run_conversation(conv, port, NOW)) == "incomplete"
    assert port.calls[-1] == ("record", "Remember")


def test_the_simulator_runs_on_the_shared_runner() -> None:
    result = run("appointment_reminder", ["yes", "March fifth nineteen eighty", "confirm"])
    conv = Conversation(load_workflow(WORKFLOWS / "appointment_reminder.yaml"), RECORD,
                        call_id="c-3")
    port = RecordingPort(["yes", "March fifth nineteen eighty", "confirm"])
    seen: list[Effect] = []
    asyncio.run(run_conversation(conv, port, NOW, observe=seen.append))
    assert result.outcome == "confirmed"
    assert kinds(result.effects) == kinds(seen)  # same walk, same effects, same order
