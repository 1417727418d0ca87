"""The deterministic workflow engine (sans-IO).

``Conversation`` walks one workflow for one call or chat. The host calls
``start(now)`` and then ``handle(input, now)`` for every caller turn, key press,
silence or action result, and executes the effects returned in order. No I/O, no
clock, no randomness: the same workflow, record and inputs always give the same
effects (tested with Hypothesis).

Global inputs, in every state (STANDARDS.md, 47 CFR 64.1200):
  opt-out words or key 9 -> RecordRevocation + AddDoNotCall at once, polite goodbye;
  "talk to a person" or key 0 -> transfer; "repeat that" or key * -> prompts again
  (``MAX_REPEATS`` times a question, then as a question that failed its attempts);
  "wrong number" -> apology and hang up. A bare "cancel" where the state also
  accepts cancelling the appointment is asked about; an unclear answer to that
  question is asked again, then nothing changes (a wrong opt-out is a harm too).
Asides (``asides``): questions back answered (no PHI unverified) then the question asked
again; deferrals closed politely; "hold on" waited for; an early date of birth kept.

Beside it: ``errors`` (why the engine refuses), ``defaults`` (built-in prompts),
``speaking`` (a prompt gated and rendered), ``identity`` (the checks of a ``verify``
state), ``runner`` (the effect loop hosts share).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from agent.grammar import GLOBAL_INTENTS, parse_slot, understand
from agent.memory import MemoryView
from agent.workflow import asides, engine_parts, speaking
from agent.workflow.actions import ACTIONS
from agent.workflow.defaults import DEFAULT_PROMPTS, SLOT_PLACEHOLDERS
from agent.workflow.effects import (
    Action,
    ActionResult,
    Audit,
    AuditStep,
    CallerHangup,
    Dtmf,
    Effect,
    Hangup,
    Input,
    Listen,
    NoInput,
    Remember,
    Transfer,
    Utterance,
)
from agent.workflow.engine_parts import DISAMBIGUATION, action_args, expectation, transfer_summary
from agent.workflow.errors import (
    EngineError,
    HostProtocolError,
    PhiBeforeVerification,
    ScopeViolation,
)
from agent.workflow.identity import check_identity, known_identifiers, needs_step_up, start_state
from agent.workflow.model import (
    Accept,
    State,
    Verify,
    Workflow,
    resolve,
)

__all__ = ["DEFAULT_PROMPTS", "Conversation", "EngineError", "HostProtocolError",
           "PhiBeforeVerification", "ScopeViolation"]
MAX_AUTOMATIC_STEPS = 200


class Conversation:
    def __init__(
        self,
        workflow: Workflow,
        record: Mapping[str, Any],
        *,
        call_id: str,
        channel: str = "voice",
        memory: MemoryView | None = None,
    ) -> None:
        self.workflow = workflow
        self._record = record
        self._call_id = call_id
        self._channel = channel
        self._memory = memory
        self.state = start_state(workflow, record)
        self.verified = False
        self.finished = False
        self.path: list[str] = []
        self._slots: dict[str, Any] = {}
        self._slot_types: dict[str, str] = {}
        self._vars: dict[str, Any] = {}
        self._phi_vars: set[str] = set()
        self._attempts = self._holds = self._repeats = 0
        self._failures: dict[str, int] = {}
        self._outcome: str | None = None
        self._facts: dict[str, str] = {}
        self._pending_action: str | None = None
        self._disambiguating = False
        self._disambiguation_tries = 0
        self._volunteered: dict[str, Any] = {}
        self._seq = 0

    # ---- public API -------------------------------------------------------------------

    def start(self, now: dt.datetime) -> list[Effect]:
        out: list[Effect] = []
        self._enter(self.state, now, out)
        return out

    def handle(self, event: Input, now: dt.datetime) -> list[Effect]:
        out: list[Effect] = []
        if self.finished:
            return out
        if isinstance(event, CallerHangup):
            self._audit(out, now, "caller_hangup")
            self._finish(out, now, self._outcome or "incomplete")
            return out
        if isinstance(event, ActionResult):
            self._on_action_result(event, now, out)
            return out
        if self._pending_action is not None:
            if self._is_opt_out(event):
                self._opt_out(event, now, out)
                return out
            raise HostProtocolError(f"input while action {self._pending_action!r} is pending")
        urgent = self._disambiguating and isinstance(event, Utterance) and bool(
            understand(event.text).intents & {"emergency", "crisis"})  # answered first
        if self._disambiguating and not urgent:
            self._on_disambiguation(event, now, out)
        elif isinstance(event, Dtmf):
            self._on_dtmf(event, now, out)
        elif isinstance(event, Utterance):
            self._on_utterance(event, now, out)
        elif isinstance(event, NoInput):
            self._retry(self._current, now, out, no_input=True)
        return out

    @property
    def slot_names(self) -> frozenset[str]:
        return frozenset(self._slots)

    # ---- inputs -----------------------------------------------------------------------

    @property
    def _current(self) -> State:
        return self.workflow.states[self.state]

    def _is_opt_out(self, event: Input) -> bool:
        return (isinstance(event, Dtmf) and event.key == "9") or (
            isinstance(event, Utterance) and "opt_out" in understand(event.text).intents)

    def _on_dtmf(self, event: Dtmf, now: dt.datetime, out: list[Effect]) -> None:
        state = self._current
        if event.key == "9":
            self._opt_out(event, now, out)
            return
        for accept in state.accept:
            if accept.dtmf == event.key:
                self._take(accept, f"dtmf:{event.key}", now, out)
                return
        if event.key == "0":
            self._global("agent", now, out)
        elif event.key == "*":
            self._global("repeat", now, out)
        else:
            self._retry(state, now, out, no_input=False)

    def _on_utterance(self, event: Utterance, now: dt.datetime, out: list[Effect]) -> None:  # noqa: PLR0911, PLR0912 - the global-intent table, in priority order
        state = self._current
        intents = understand(event.text).intents
        if intents & {"emergency", "crisis"}:  # first of all, whatever the state asked
            self._emergency(intents, event, now, out)
            return
        if "opt_out" in intents:
            self._opt_out(event, now, out)
            return
        if "cancel_ambiguous" in intents:
            if any(a.intent == "cancel" for a in state.accept):
                self._disambiguating = True
                self._audit(out, now, "global", intent="cancel_ambiguous")
                self._say("cancel_disambiguation", now, out)
                out.append(Listen(DISAMBIGUATION))
            else:
                self._opt_out(event, now, out)
            return
        if self._aside(intents, event.text, now, out):
            return
        for accept in state.accept:
            if accept.intent is not None and accept.intent in intents:
                self._take(accept, accept.intent, now, out)
                return
        for name in GLOBAL_INTENTS:
            if name in intents:
                self._global(name, now, out)
                return
        for accept in state.accept:
            if accept.slot is not None:
                options: list[object] | int = 0
                if accept.slot.options is not None:
                    offered = resolve(accept.slot.options, self._scope())
                    options = list(offered) if isinstance(offered, (list, tuple)) else 0
                value = parse_slot(accept.slot.type, event.text, now, options=options)
                if value is not None:
                    self._slots[accept.slot.name] = value
                    self._slot_types[accept.slot.name] = accept.slot.type
                    self._take(accept, None, now, out)
                    return
            elif accept.any_text and event.text.strip():
                self._take(accept, None, now, out)
                return
        affirm = next((a for a in state.accept if a.intent == "affirm"), None)
        if affirm is not None and "dob" in self._volunteered:
            # a date of birth alone at "am I speaking with ...?" is the patient answering
            self._take(affirm, "affirm", now, out)
            return
        self._retry(state, now, out, no_input=False)

    def _aside(self, intents: frozenset[str], text: str, now: dt.datetime,
               out: list[Effect]) -> bool:
        """A question back, a deferral, or an answer given early; True when handled."""
        state = self._current
        asked = asides.asked_question(intents, state)
        if asked is not None:
            self._audit(out, now, "global", intent=asked)
            for prompt_id in asides.answer_prompts(asked, self.verified, self._record):
                self._say(prompt_id, now, out)
            for prompt_id in asides.reask_prompts(state):
                self._say(prompt_id, now, out)
            out.append(Listen(expectation(state)))
            return True
        if asides.deferral(intents, state, text, now):
            self._global("later", now, out)
            return True
        if asides.reported_death(intents, state, self.verified, self._patient_id()):
            self._global("deceased", now, out)
            return True
        if asides.holds(intents, state, text, now, self._holds):
            self._holds += 1
            self._global("hold", now, out)
            return True
        self._volunteered.update(asides.volunteered(self.workflow, state, text, intents, now),
                                 **asides.early_wishes(intents, state, self.verified))
        return False

    def _on_disambiguation(self, event: Input, now: dt.datetime, out: list[Effect]) -> None:
        """Appointment or calls? Only a clear answer acts; an unclear one is asked again,
        then the current question resumes with nothing changed (never an opt-out)."""
        answer = asides.cancel_or_stop(event, now)
        accept = next((a for a in self._current.accept if a.intent == "cancel"), None)
        if answer == "stop_calls":
            self._disambiguating = False
            self._opt_out(event, now, out)
        elif answer == "appointment" and accept is not None:
            self._disambiguating = False
            self._take(accept, "cancel", now, out)
        else:
            self._audit(out, now, "no_match")
            again = self._disambiguation_tries == 0
            self._disambiguating = again
            self._disambiguation_tries = 1 if again else 0
            ids = (("cancel_disambiguation_again",) if again
                   else ("cancel_disambiguation_keep", *self._current.say))
            for prompt_id in ids:
                self._say(prompt_id, now, out)
            out.append(Listen(DISAMBIGUATION if again else expectation(self._current)))

    def _take(self, accept: Accept, intent: str | None, now: dt.datetime,
              out: list[Effect]) -> None:
        for name, value in accept.set_vars:
            self._vars[name] = value
        slots = {}
        if accept.slot is not None:
            slots[accept.slot.name] = SLOT_PLACEHOLDERS.get(accept.slot.type, "[VALUE]")
        self._audit(out, now, "input", intent=intent, slots=slots)
        self._enter(accept.goto, now, out)

    def _retry(self, state: State, now: dt.datetime, out: list[Effect], *, no_input: bool) -> None:
        self._attempts += 1
        limit = state.max_attempts or self.workflow.max_attempts
        self._audit(out, now, "no_input" if no_input else "no_match")
        if self._attempts >= limit:
            self._escalate(now, out)
            return
        reprompts = state.no_input if no_input else state.no_match
        if reprompts:
            self._say(reprompts[min(self._attempts, len(reprompts)) - 1], now, out)
        else:
            self._say("no_input_default" if no_input else "no_match_default", now, out)
            for prompt_id in state.say:
                self._say(prompt_id, now, out)
        out.append(Listen(expectation(state)))

    def _escalate(self, now: dt.datetime, out: list[Effect]) -> None:
        if self.workflow.on_max_attempts is not None:
            self._enter(self.workflow.on_max_attempts, now, out)
            return
        self._say("escalation_notice", now, out)
        self._transfer(self.workflow.transfer_queue, "max attempts", now, out)

    def _global(self, name: str, now: dt.datetime, out: list[Effect]) -> None:
        self._audit(out, now, "global", intent=name)
        if name in engine_parts.TO_STAFF:  # a person asked for, or an interpreter needed
            self._say("transfer_notice", now, out)
            self._transfer(self.workflow.transfer_queue, engine_parts.TO_STAFF[name], now, out)
        elif name in engine_parts.ENDINGS:  # wrong number, a reported death, call back later
            self._end(name, "voice", now, out)
        elif name == "hold":
            self._say("hold_ok", now, out)
            out.append(Listen(expectation(self._current), wait_s=asides.HOLD_WAIT_S))
        elif name == "repeat" and self._repeats >= engine_parts.MAX_REPEATS:
            self._escalate(now, out)  # the question is not reaching the caller
        elif name == "repeat":
            self._repeats += 1
            for prompt_id in self._current.say:
                self._say(prompt_id, now, out)
            out.append(Listen(expectation(self._current)))

    def _emergency(self, intents: frozenset[str], event: Input, now: dt.datetime,
                   out: list[Effect]) -> None:
        """Call 911 (988 in a crisis), then staff; an opt-out said with it still counts."""
        crisis = "crisis" in intents
        self._audit(out, now, "global", intent="crisis" if crisis else "emergency")
        if "opt_out" in intents:
            out.extend(engine_parts.ending_records("opt_out", "voice", self._record,
                                                   self._channel, now))
        self._say("crisis_notice" if crisis else "emergency_notice", now, out)
        self._transfer(self.workflow.transfer_queue, "caller reported an emergency", now, out)

    def _opt_out(self, event: Input, now: dt.datetime, out: list[Effect]) -> None:
        self._audit(out, now, "global", intent="opt_out")
        self._end("opt_out", "dtmf" if isinstance(event, Dtmf) else "voice", now, out)

    def _end(self, name: str, method: str, now: dt.datetime, out: list[Effect]) -> None:
        ending = engine_parts.ENDINGS[name]
        self._pending_action = None
        out.extend(engine_parts.ending_records(name, method, self._record, self._channel, now))
        self._say(ending.prompt, now, out)
        out.append(Hangup(ending.hangup))
        self._finish(out, now, ending.outcome or self._outcome or "incomplete")

    def _on_action_result(self, event: ActionResult, now: dt.datetime, out: list[Effect]) -> None:
        if self._pending_action != event.name:
            raise HostProtocolError(f"result for {event.name!r}, waiting for "
                                    f"{self._pending_action!r}")
        self._pending_action = None
        call = self._current.action
        assert call is not None
        if call.save_as is not None:
            self._vars[call.save_as] = dict(event.data)
            if ACTIONS[call.name].result_phi:
                self._phi_vars.add(call.save_as)
        for key in ("appointment_id", "slot_id"):
            if key in event.data:
                self._facts[key] = str(event.data[key])
        self._audit(out, now, "result", action=call.name, result=event.status)
        table = dict(call.on)
        target = table.get(event.status, table.get("default"))
        if target is None:
            self._escalate(now, out)
            return
        self._enter(target, now, out)

    # ---- states -----------------------------------------------------------------------

    def _enter(self, name: str, now: dt.datetime, out: list[Effect]) -> None:
        for _ in range(MAX_AUTOMATIC_STEPS):
            nxt = self._enter_once(name, now, out)
            if nxt is None:
                return
            name = nxt
        raise EngineError(f"workflow {self.workflow.id!r} loops without listening at {name!r}")

    def _enter_once(self, name: str, now: dt.datetime, out: list[Effect]) -> str | None:  # noqa: PLR0911 - one exit per state behaviour
        state = self.workflow.states[name]
        self.state = name
        self.path.append(name)
        self._attempts = self._holds = self._repeats = 0
        if state.outcome is not None:
            self._outcome = state.outcome
        if state.skip_if_known is not None and self._memory is not None:
            slot, target = state.skip_if_known
            if slot in self._memory.collected:
                self._audit(out, now, "skip", intent=None, slots={slot: "[KNOWN]"})
                return target
        early = asides.early_answer(state, self._volunteered, self.verified)
        if early is not None and early[0].slot is None:  # a wish said before verification
            del self._volunteered[early[1]]
            self._take(early[0], early[0].intent, now, out)
            return None
        if early is not None and (spec := early[0].slot) is not None:
            self._slots[spec.name] = self._volunteered.pop(spec.type)
            self._slot_types[spec.name] = spec.type
            self._audit(out, now, "skip", intent="volunteered",
                        slots={spec.name: SLOT_PLACEHOLDERS[spec.type]})
            return early[0].goto
        self._audit(out, now, "enter")
        for prompt_id in state.say:
            self._say(prompt_id, now, out)
        if state.end is not None:
            out.append(Hangup(state.end))
            self._finish(out, now, self._outcome or "completed")
            return None
        if state.transfer is not None:
            self._transfer(state.transfer, f"workflow step {name}", now, out)
            return None
        if state.action is not None:
            self._run_action(state, now, out)
            return None
        if state.verify is not None:
            return self._verify(state.verify, now, out)
        if state.branch:
            return engine_parts.branch(state.branch, self._scope(), self.workflow.id, self.state)
        if state.next is not None:
            return state.next
        out.append(Listen(expectation(state)))
        return None

    def _run_action(self, state: State, now: dt.datetime, out: list[Effect]) -> None:
        call = state.action
        assert call is not None
        spec = ACTIONS.get(call.name)
        if spec is None:
            raise ScopeViolation(self.workflow.id, call.name, frozenset({"(unknown action)"}))
        missing = spec.scopes - self.workflow.scope
        if missing:
            raise ScopeViolation(self.workflow.id, call.name, frozenset(missing))
        asides.prefill(self.workflow, call, self._slots, self._volunteered)
        args = action_args(call, self._scope())
        self._pending_action = call.name
        self._audit(out, now, "action", action=call.name)
        out.append(Action(call.name, args))

    def _verify(self, verify: Verify, now: dt.datetime, out: list[Effect]) -> str:
        ok = all(check_identity(c, self._slots.get(c.slot), self._record) for c in verify.checks)
        self._audit(out, now, "verify", result="ok" if ok else "fail")
        if ok:
            step_up = needs_step_up(verify, self._record)  # caller ID not vouched for
            self.verified = step_up is None
            return step_up or verify.ok
        count = self._failures.get(self.state, 0) + 1
        self._failures[self.state] = count
        for check in verify.checks:
            self._slots.pop(check.slot, None)
        return verify.locked if count >= verify.max_failures else verify.fail

    # ---- effects ----------------------------------------------------------------------

    def _say(self, prompt_id: str, now: dt.datetime, out: list[Effect]) -> None:
        out.append(speaking.say_effect(self.workflow, prompt_id, self._scope(),
                                       verified=self.verified, phi_vars=self._phi_vars,
                                       state=self.state))

    def _transfer(self, target: str, reason: str, now: dt.datetime, out: list[Effect]) -> None:
        summary = transfer_summary(f"{self.workflow.id}: {reason}; at step {self.state}",
                                   self.verified, self._slots, self._slot_types,
                                   known_identifiers(self._record))
        out.append(Transfer(target, summary, self._patient_id() if self.verified else None))
        self._finish(out, now, self._outcome or "transferred")

    def _finish(self, out: list[Effect], now: dt.datetime, outcome: str) -> None:
        self.finished = True
        self._audit(out, now, "end", result=outcome)
        facts = dict(self._facts)
        appointment_id = resolve("appointment.id", self._record)
        if appointment_id is not None:
            facts.setdefault("appointment_id", str(appointment_id))
        out.append(Remember(self._patient_id(), self.workflow.id, outcome,
                            frozenset(self._slots), facts, now))

    def _audit(self, out: list[Effect], now: dt.datetime, event: str, *,
               intent: str | None = None, slots: Mapping[str, str] | None = None,
               action: str | None = None, result: str | None = None) -> None:
        self._seq += 1
        out.append(Audit(AuditStep(self._call_id, self.workflow.id, self._seq, self.state, event,
                                   now, intent, dict(slots or {}), action, result)))

    def _scope(self) -> dict[str, Any]:
        scope: dict[str, Any] = dict(self._record)
        scope["slots"] = dict(self._slots)
        scope["vars"] = dict(self._vars)
        scope["offers"] = self._vars.get("offers", {}).get("offers") if isinstance(
            self._vars.get("offers"), dict) else None
        scope["memory"] = self._memory.as_scope() if self._memory is not None else {}
        scope["attempt"] = self._attempts
        return scope

    def _patient_id(self) -> str | None:
        value = resolve("patient.id", self._record)
        return str(value) if value is not None else None

