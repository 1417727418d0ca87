"""Load and fully check a workflow file; refuse it with the file, line and reason.

Checks: YAML syntax, unknown keys, unknown states, unreachable states, missing
prompts, template fields with unknown roots, unknown actions, actions outside the
workflow's scope, unknown slot types and intents, reserved keys, states that do
nothing, branches without a default, and PHI reachable before verification (a
prompt that needs a verified caller must not be reachable from the start on a
path that has not passed a ``verify`` state's ``ok`` exit).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from agent.grammar import INTENTS, SLOT_TYPES
from agent.workflow.actions import ACTIONS, SCOPES
from agent.workflow.defaults import DEFAULT_PROMPTS
from agent.workflow.model import (
    Accept,
    ActionCall,
    BranchRule,
    Condition,
    Prompt,
    SlotSpec,
    State,
    Verify,
    VerifyCheck,
    Workflow,
)
from agent.workflow.stepup import with_step_up
from agent.workflow.template import KNOWN_ROOTS, fields, needs_verification
from agent.workflow.yamlpos import DuplicateKey, LocatedDict, LocatedList, load_located
from carrier.errors import ConfigError

TOP_KEYS = {"workflow", "description", "scope", "start", "states", "prompts", "max_attempts",
            "inbound_start",
            "transfer_queue", "on_max_attempts", "phi_fields", "direction", "qualification"}
STATE_KEYS = {"say", "accept", "action", "verify", "branch", "next", "end", "transfer",
              "no_input", "no_match", "max_attempts", "outcome", "skip_if_known", "hints"}
BEHAVIOURS = ("accept", "action", "verify", "branch", "next", "end", "transfer")
ACCEPT_KEYS = {"intent", "dtmf", "slot", "type", "options", "any", "goto", "set"}
VERIFY_KINDS = {"dob", "name", "first_name", "equals", "last4"}
CONDITION_OPS = {"eq", "ne", "in", "gte", "lte", "gt", "lt", "set", "same_as"}
# Record data a prompt or a check reads needs the matching scope (minimum necessary).
FIELD_SCOPES = {"patient": "patient:identity", "appointment": "appointment:read",
                "provider": "appointment:read", "prescription": "prescription:read"}
RESERVED_KEYS = {"9": "key 9 is the opt-out key in every state"}


class WorkflowLoadError(ConfigError):
    """A workflow file was refused: ``problems`` lists every (line, reason)."""

    def __init__(self, file: str, problems: list[tuple[int, str]]) -> None:
        self.problems = sorted(problems)
        line, reason = self.problems[0]
        self.line = line
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(file, f"line {line}", reason + more)

    def lines(self) -> list[str]:
        return [f"{self.file}:{line}: {reason}" for line, reason in self.problems]


class _Checker:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[tuple[int, str]] = []
        self.where = 1  # line of the part being read, for structural errors

    def err(self, line: int, reason: str) -> None:
        self.problems.append((line, reason))


def load_workflow(path: str | Path) -> Workflow:
    path = Path(path)
    return parse_workflow(path.read_text(encoding="utf-8"), str(path))


def load_all(folder: str | Path) -> dict[str, Workflow]:
    out: dict[str, Workflow] = {}
    for file in sorted(Path(folder).glob("*.yaml")):
        wf = load_workflow(file)
        out[wf.id] = wf
    return out


def parse_workflow(text: str, file: str = "<workflow>") -> Workflow:
    try:
        doc = load_located(text)
    except DuplicateKey as exc:
        raise WorkflowLoadError(file, [(exc.line, str(exc))]) from None
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        raise WorkflowLoadError(file, [(line, f"YAML syntax: {exc.problem}")]) from None
    chk = _Checker(file)
    if not isinstance(doc, LocatedDict):
        raise WorkflowLoadError(file, [(1, "a workflow file is a mapping")])
    try:
        wf = _build(doc, chk)
        if wf is not None and not chk.problems:
            _check_graph(wf, doc, chk)
    except (TypeError, AttributeError, KeyError, ValueError) as exc:
        # a value of the wrong shape somewhere the checks above did not foresee
        raise WorkflowLoadError(file, [*chk.problems, (
            chk.where, f"malformed workflow structure near here ({type(exc).__name__})")]
        ) from None
    if chk.problems or wf is None:
        raise WorkflowLoadError(file, chk.problems or [(1, "invalid workflow")])
    return wf


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def _build(doc: LocatedDict, chk: _Checker) -> Workflow | None:
    for key in doc:
        if key not in TOP_KEYS:
            chk.err(doc.line_of(key), f"unknown key {key!r}")
    for key in ("workflow", "scope", "start", "states", "prompts"):
        if key not in doc:
            chk.err(doc.line, f"missing required key {key!r}")
    if chk.problems:
        return None
    scope = doc["scope"]
    if not isinstance(scope, LocatedList):
        chk.err(doc.line_of("scope"), "scope must be a list")
        return None
    for i, item in enumerate(scope):
        if not isinstance(item, str) or item not in SCOPES:
            chk.err(scope.line_of(i), f"unknown scope {item!r}")
    prompts = _prompts(doc["prompts"], chk)
    states_doc = doc["states"]
    if not isinstance(states_doc, LocatedDict) or not states_doc:
        chk.err(doc.line_of("states"), "states must be a non-empty mapping")
        return None
    states: dict[str, State] = {}
    for name, body in states_doc.items():
        chk.where = states_doc.line_of(name)
        state = _state(name, body, states_doc.line_of(name), chk)
        if state is not None:
            states[name] = state
    return Workflow(
        id=str(doc["workflow"]), source=chk.file, scope=frozenset(scope), start=str(doc["start"]),
        states=with_step_up(states), prompts=prompts,
        max_attempts=_positive(doc, "max_attempts", 3, chk),
        transfer_queue=str(doc.get("transfer_queue", "front_desk")),
        on_max_attempts=doc.get("on_max_attempts"), description=str(doc.get("description", "")),
        phi_fields=frozenset(_strings(doc.get("phi_fields"))),
        inbound_start=str(doc["inbound_start"]) if doc.get("inbound_start") else None,
    )


def _positive(doc: LocatedDict, key: str, default: int, chk: _Checker) -> int:
    value = doc.get(key, default)
    if not isinstance(value, int) or value < 1:
        chk.err(doc.line_of(key), f"{key} must be a positive whole number")
        return default
    return value


def _prompts(doc: Any, chk: _Checker) -> dict[str, Prompt]:
    out: dict[str, Prompt] = {}
    if not isinstance(doc, LocatedDict):
        chk.err(getattr(doc, "line", 1), "prompts must be a mapping")
        return out
    for pid, body in doc.items():
        line = doc.line_of(pid)
        if isinstance(body, str):
            out[pid] = Prompt(pid, body, phi=False, line=line)
        elif isinstance(body, LocatedDict) and isinstance(body.get("text"), str):
            out[pid] = Prompt(pid, body["text"], phi=bool(body.get("phi", False)), line=line,
                              interruptible=bool(body.get("interruptible", True)))
        else:
            chk.err(line, f"prompt {pid!r} must be text or {{text: ..., phi: ...}}")
            continue
        for path in fields(out[pid].text):
            if path.split(".", 1)[0] not in KNOWN_ROOTS:
                chk.err(line, f"prompt {pid!r} uses unknown field {{{path}}}")
    return out


def _state(name: str, body: Any, line: int, chk: _Checker) -> State | None:
    if not isinstance(body, LocatedDict):
        chk.err(line, f"state {name!r} must be a mapping")
        return None
    for key in body:
        if key not in STATE_KEYS:
            chk.err(body.line_of(key), f"state {name!r}: unknown key {key!r}")
    behaviours = [b for b in BEHAVIOURS if b in body]
    if len(behaviours) != 1:
        what = "does nothing" if not behaviours else f"has several behaviours {behaviours}"
        chk.err(line, f"state {name!r} {what}: give exactly one of {', '.join(BEHAVIOURS)}")
    skip = body.get("skip_if_known")
    skip_pair = None
    if isinstance(skip, LocatedDict) and "slot" in skip and "goto" in skip:
        skip_pair = (str(skip["slot"]), str(skip["goto"]))
    elif skip is not None:
        chk.err(body.line_of("skip_if_known"), "skip_if_known needs slot and goto")
    max_attempts = body.get("max_attempts")
    if max_attempts is not None and (not isinstance(max_attempts, int) or max_attempts < 1):
        chk.err(body.line_of("max_attempts"), f"state {name!r}: max_attempts must be a "
                                              "positive whole number")
        max_attempts = None
    return State(
        name=name, line=line, say=_strings(body.get("say")),
        accept=tuple(_accepts(name, body.get("accept"), chk)) if "accept" in body else (),
        action=_action(name, body["action"], body.line_of("action"), chk) if "action" in body
        else None,
        verify=_verify(name, body["verify"], body.line_of("verify"), chk) if "verify" in body
        else None,
        branch=tuple(_branch(name, body["branch"], body.line_of("branch"), chk))
        if "branch" in body else (),
        next=body.get("next"), end=body.get("end"), transfer=body.get("transfer"),
        no_input=_strings(body.get("no_input")), no_match=_strings(body.get("no_match")),
        max_attempts=int(max_attempts) if max_attempts is not None else None,
        outcome=body.get("outcome"), skip_if_known=skip_pair, hints=_strings(body.get("hints")),
    )


def _accepts(state: str, items: Any, chk: _Checker) -> list[Accept]:  # noqa: PLR0912 - one check per input key
    out: list[Accept] = []
    if not isinstance(items, LocatedList) or not items:
        chk.err(getattr(items, "line", 1), f"state {state!r}: accept must be a non-empty list")
        return out
    for i, item in enumerate(items):
        line = items.line_of(i)
        if not isinstance(item, LocatedDict) or "goto" not in item:
            chk.err(line, f"state {state!r}: each accepted input needs a goto")
            continue
        for key in item:
            if key not in ACCEPT_KEYS:
                chk.err(item.line_of(key), f"state {state!r}: unknown input key {key!r}")
        intent, dtmf, slot = item.get("intent"), item.get("dtmf"), None
        if intent is not None and intent not in INTENTS:
            chk.err(line, f"state {state!r}: unknown intent {intent!r}")
        if dtmf is not None:
            dtmf = str(dtmf)
            if dtmf in RESERVED_KEYS:
                chk.err(line, f"state {state!r}: {RESERVED_KEYS[dtmf]}")
            elif len(dtmf) != 1 or dtmf not in "0123456789*#":
                chk.err(line, f"state {state!r}: bad DTMF key {dtmf!r}")
        if "slot" in item:
            kind = item.get("type")
            if kind not in SLOT_TYPES:
                chk.err(item.line_of("type") if "type" in item else line,
                        f"state {state!r}: unknown slot type {kind!r}")
            slot = SlotSpec(str(item["slot"]), str(kind), item.get("options"))
        if sum(x is not None for x in (intent, dtmf, slot)) + bool(item.get("any")) != 1:
            chk.err(line, f"state {state!r}: an input is exactly one of intent, dtmf, slot, any")
        set_vars = item.get("set") or {}
        if not isinstance(set_vars, dict):
            chk.err(line, f"state {state!r}: 'set' must be a mapping")
            set_vars = {}
        out.append(Accept(goto=str(item["goto"]), line=line, intent=intent, dtmf=dtmf, slot=slot,
                          any_text=bool(item.get("any")), set_vars=tuple(sorted(set_vars.items()))))
    return out


def _action(state: str, body: Any, line: int, chk: _Checker) -> ActionCall | None:
    if not isinstance(body, LocatedDict) or "name" not in body:
        chk.err(line, f"state {state!r}: action needs a name")
        return None
    name = str(body["name"])
    for key in body:
        if key not in ("name", "args", "save_as", "then"):
            chk.err(body.line_of(key), f"state {state!r}: unknown action key {key!r}")
    spec = ACTIONS.get(name)
    if spec is None:
        chk.err(body.line_of("name"), f"state {state!r}: unknown action {name!r}")
    args = body.get("args") if body.get("args") is not None else LocatedDict()
    if not isinstance(args, LocatedDict):
        chk.err(body.line_of("args"), f"state {state!r}: action args must be a mapping")
        args = LocatedDict()
    if spec is not None:
        for key in args:
            if key not in spec.args:
                chk.err(args.line_of(key), f"state {state!r}: action {name!r} takes no "
                                           f"argument {key!r}")
    on = body.get("then") if body.get("then") is not None else LocatedDict()
    if not isinstance(on, LocatedDict):
        chk.err(body.line_of("then"), f"state {state!r}: action 'then' must be a mapping")
        on = LocatedDict()
    if "default" not in on and "error" not in on:
        chk.err(body.line_of("then") if "then" in body else line,
                f"state {state!r}: action {name!r} needs an 'error' or 'default' exit under then")
    return ActionCall(name=name, line=body.line_of("name"), args=tuple(sorted(args.items())),
                      save_as=body.get("save_as"), on=tuple(sorted((str(k), str(v))
                                                                 for k, v in on.items())))


def _verify(state: str, body: Any, line: int, chk: _Checker) -> Verify | None:
    if not isinstance(body, LocatedDict):
        chk.err(line, f"state {state!r}: verify must be a mapping")
        return None
    missing = [k for k in ("checks", "ok", "fail", "locked") if k not in body]
    if missing:
        chk.err(line, f"state {state!r}: verify needs {', '.join(missing)}")
        return None
    checks: list[VerifyCheck] = []
    items = body["checks"]
    if not isinstance(items, LocatedList) or not items:
        chk.err(body.line_of("checks"), f"state {state!r}: checks must be a non-empty list")
        return None
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "slot" not in item or "field" not in item:
            chk.err(items.line_of(i), f"state {state!r}: a check needs slot and field")
            continue
        kind = item.get("kind", "equals")
        if kind not in VERIFY_KINDS:
            chk.err(body["checks"].line_of(i), f"state {state!r}: unknown check kind {kind!r}")
        checks.append(VerifyCheck(str(item["slot"]), str(item["field"]), kind))
    failures = body.get("max_failures", 2)
    if not isinstance(failures, int) or failures < 1:
        chk.err(body.line_of("max_failures"), f"state {state!r}: max_failures must be a "
                                              "positive whole number")
        failures = 2
    return Verify(tuple(checks), str(body["ok"]), str(body["fail"]), str(body["locked"]),
                  failures, line)


def _condition(body: Any, line: int, chk: _Checker) -> Condition:  # noqa: PLR0911 - one exit per condition form
    if not isinstance(body, dict):
        chk.err(line, "a condition is a mapping")
        return Condition("all")
    for op in ("all", "any"):
        if op in body:
            if not isinstance(body[op], list):
                chk.err(line, f"'{op}' takes a list of conditions")
                return Condition("all")
            return Condition(op, children=tuple(_condition(c, line, chk) for c in body[op]))
    if "not" in body:
        return Condition("not", children=(_condition(body["not"], line, chk),))
    if "count" in body:
        spec = body["count"]
        return Condition("count_gte", value=int(spec["gte"]),
                         children=tuple(_condition(c, line, chk) for c in spec["of"]))
    ops = [k for k in body if k in CONDITION_OPS]
    if "var" not in body or len(ops) != 1:
        chk.err(getattr(body, "line", line), "a condition needs var and one of "
                                             + ", ".join(sorted(CONDITION_OPS)))
        return Condition("all")
    value = body[ops[0]]
    if isinstance(value, list):
        value = tuple(value)
    return Condition(ops[0], var=str(body["var"]), value=value)


def _branch(state: str, items: Any, line: int, chk: _Checker) -> list[BranchRule]:
    out: list[BranchRule] = []
    if not isinstance(items, LocatedList) or not items:
        chk.err(line, f"state {state!r}: branch must be a non-empty list")
        return out
    for i, item in enumerate(items):
        item_line = items.line_of(i)
        if not isinstance(item, dict) or "goto" not in item:
            chk.err(item_line, f"state {state!r}: each branch needs a goto")
            continue
        when = _condition(item["when"], item_line, chk) if "when" in item else None
        out.append(BranchRule(str(item.get("goto")), when, item_line))
    if out and out[-1].when is not None:
        chk.err(items.line_of(len(items) - 1), f"state {state!r}: the last branch must have no "
                                               "'when' (the default)")
    return out


def _check_graph(wf: Workflow, doc: LocatedDict, chk: _Checker) -> None:  # noqa: PLR0912 - one check per graph rule
    states_doc: LocatedDict = doc["states"]
    if wf.start not in wf.states:
        chk.err(doc.line_of("start"), f"start state {wf.start!r} is not defined")
        return
    if wf.inbound_start is not None and wf.inbound_start not in wf.states:
        chk.err(doc.line_of("inbound_start"),
                f"inbound start state {wf.inbound_start!r} is not defined")
        return
    if wf.on_max_attempts is not None and wf.on_max_attempts not in wf.states:
        chk.err(doc.line_of("on_max_attempts"), f"unknown state {wf.on_max_attempts!r}")
    collected = {a.slot.name for s in wf.states.values() for a in s.accept if a.slot}
    phi_vars = {s.action.save_as for s in wf.states.values()
                if s.action and s.action.save_as and ACTIONS.get(s.action.name)
                and ACTIONS[s.action.name].result_phi}
    for state in wf.states.values():
        for target, line, _ in state.targets():
            if target not in wf.states:
                chk.err(line, f"state {state.name!r}: goes to unknown state {target!r}")
        for pid in state.prompt_ids():
            if pid not in wf.prompts and pid not in DEFAULT_PROMPTS:
                chk.err(_say_line(states_doc, state), f"state {state.name!r}: missing prompt "
                                                      f"{pid!r}")
        if state.action is not None and state.action.name in ACTIONS:
            lacking = ACTIONS[state.action.name].scopes - wf.scope
            if lacking:
                chk.err(state.action.line, f"state {state.name!r}: action "
                        f"{state.action.name!r} is outside the workflow's scope (needs "
                        f"{', '.join(sorted(lacking))})")
        if state.verify is not None:
            for check in state.verify.checks:
                if check.slot not in collected:
                    chk.err(state.verify.line, f"state {state.name!r}: verifies slot "
                            f"{check.slot!r} that no state collects")
    _check_field_scopes(wf, doc, chk)
    if doc.get("direction") == "outbound":
        _check_opening(wf, states_doc, chk)
    if chk.problems:
        return
    reached = _walk(wf, chk, states_doc, phi_vars)
    for name, state in wf.states.items():
        if name not in reached:
            chk.err(state.line, f"state {name!r} is unreachable from {wf.start!r}")


def _check_field_scopes(wf: Workflow, doc: LocatedDict, chk: _Checker) -> None:
    prompts_doc = doc["prompts"]
    for prompt in wf.prompts.values():
        for path in fields(prompt.text):
            needed = FIELD_SCOPES.get(path.split(".", 1)[0])
            if needed is not None and needed not in wf.scope:
                chk.err(prompts_doc.line_of(prompt.id), f"prompt {prompt.id!r} reads {{{path}}} "
                        f"but the workflow's scope lacks {needed}")
    for state in wf.states.values():
        if state.verify is None:
            continue
        for check in state.verify.checks:
            needed = FIELD_SCOPES.get(check.field.split(".", 1)[0])
            if needed is not None and needed not in wf.scope:
                chk.err(state.verify.line, f"state {state.name!r} checks {check.field} but "
                        f"the workflow's scope lacks {needed}")


def _check_opening(wf: Workflow, states_doc: LocatedDict, chk: _Checker) -> None:
    """47 CFR 64.1200(b): an artificial-voice call names the organisation, gives a
    callback number and offers the opt-out at its start."""
    start = wf.states[wf.start]
    text = " ".join(wf.prompts[p].text for p in start.say if p in wf.prompts)
    lacking = [what for what, ok in (
        ("{org_name}", "{org_name}" in text),
        ("{callback_number}", "{callback_number}" in text),
        ("an opt-out offer (say stop or press 9)", "stop" in text.lower() and "9" in text),
    ) if not ok]
    if lacking:
        chk.err(_say_line(states_doc, start), f"outbound opening {wf.start!r} lacks "
                                              f"{', '.join(lacking)}")


def _say_line(states_doc: LocatedDict, state: State) -> int:
    body = states_doc.get(state.name)
    if isinstance(body, LocatedDict):
        for key in ("say", "no_input", "no_match"):
            if key in body:
                return body.line_of(key)
    return state.line


def _walk(wf: Workflow, chk: _Checker, states_doc: LocatedDict,
          phi_vars: Iterable[str]) -> set[str]:
    """Breadth-first over (state, verified); report PHI prompts reachable unverified."""
    phi_vars = set(phi_vars)
    starts = [wf.start] + ([wf.on_max_attempts] if wf.on_max_attempts else []) + (
        [wf.inbound_start] if wf.inbound_start else [])
    queue: deque[tuple[str, bool]] = deque((s, False) for s in starts)
    seen: set[tuple[str, bool]] = set(queue)
    reported: set[tuple[str, str]] = set()
    while queue:
        name, verified = queue.popleft()
        state = wf.states[name]
        if not verified:
            for pid in state.prompt_ids():
                prompt = wf.prompts.get(pid)
                if prompt is None or (state.name, pid) in reported:
                    continue
                if prompt.phi or any(needs_verification(p, wf.phi_fields, phi_vars)
                                     for p in fields(prompt.text)):
                    reported.add((state.name, pid))
                    chk.err(_say_line(states_doc, state), f"state {name!r}: prompt {pid!r} "
                            "speaks PHI and is reachable before the caller is verified")
        for target, _, passes in state.targets():
            node = (target, verified or passes)
            if node not in seen:
                seen.add(node)
                queue.append(node)
    return {name for name, _ in seen}
