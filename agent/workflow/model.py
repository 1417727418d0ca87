"""The parsed form of a workflow: frozen dataclasses built by the loader.

A state does, in order: optional skip (when memory already knows the answer), its
prompts, then exactly one of: listen for ``accept`` inputs, run an ``action``,
``verify`` identity, ``branch`` on conditions, go to ``next``, ``end`` the call, or
``transfer`` it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Record fields that may be spoken before the caller is verified: the outbound call
# asks for the patient by first name only (STANDARDS / issue 6).
PUBLIC_FIELDS = frozenset({"org_name", "callback_number", "patient.first_name", "queue_name"})
# Roots whose values are never record PHI: caller's own words, offers, memory flags.
NON_RECORD_ROOTS = frozenset({"slots", "offers", "attempt", "memory"})
RECORD_PHI_ROOTS = frozenset({"patient", "appointment", "provider", "prescription", "insurance",
                              "screening", "clinical"})


@dataclass(frozen=True)
class Prompt:
    id: str
    text: str
    phi: bool  # marked in YAML: speaks PHI whatever its fields
    line: int
    interruptible: bool = True


@dataclass(frozen=True)
class Condition:
    """A predicate over variables: {var, op, value} or all/any/not of others."""

    op: str  # eq ne in gte lte gt lt set all any not count_gte
    var: str | None = None
    value: Any = None
    children: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class SlotSpec:
    name: str
    type: str
    options: str | None = None  # variable holding the offered options, for type "choice"


@dataclass(frozen=True)
class Accept:
    goto: str
    line: int
    intent: str | None = None
    dtmf: str | None = None
    slot: SlotSpec | None = None
    any_text: bool = False
    set_vars: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class ActionCall:
    name: str
    line: int
    args: tuple[tuple[str, Any], ...] = ()
    save_as: str | None = None
    on: tuple[tuple[str, str], ...] = ()  # result status -> state


@dataclass(frozen=True)
class VerifyCheck:
    slot: str
    field: str
    kind: str  # dob | name | first_name | equals | last4


@dataclass(frozen=True)
class Verify:
    checks: tuple[VerifyCheck, ...]
    ok: str
    fail: str
    locked: str
    max_failures: int
    line: int
    step_up: str | None = None  # generated (agent.workflow.stepup): a second factor


@dataclass(frozen=True)
class BranchRule:
    goto: str
    when: Condition | None
    line: int


@dataclass(frozen=True)
class State:
    name: str
    line: int
    say: tuple[str, ...] = ()
    accept: tuple[Accept, ...] = ()
    action: ActionCall | None = None
    verify: Verify | None = None
    branch: tuple[BranchRule, ...] = ()
    next: str | None = None
    end: str | None = None
    transfer: str | None = None
    no_input: tuple[str, ...] = ()
    no_match: tuple[str, ...] = ()
    max_attempts: int | None = None
    outcome: str | None = None
    skip_if_known: tuple[str, str] | None = None  # (slot collected before, state to go to)
    hints: tuple[str, ...] = ()

    def targets(self) -> list[tuple[str, int, bool]]:
        """(target state, line, passes verification) for every transition out."""
        out: list[tuple[str, int, bool]] = [(a.goto, a.line, False) for a in self.accept]
        if self.action is not None:
            out += [(goto, self.action.line, False) for _, goto in self.action.on]
        if self.verify is not None:
            v = self.verify
            out += [(v.ok, v.line, True), (v.fail, v.line, False), (v.locked, v.line, False)]
            if v.step_up is not None:
                out.append((v.step_up, v.line, False))
        out += [(b.goto, b.line, False) for b in self.branch]
        if self.next is not None:
            out.append((self.next, self.line, False))
        if self.skip_if_known is not None:
            out.append((self.skip_if_known[1], self.line, False))
        return out

    def prompt_ids(self) -> tuple[str, ...]:
        return self.say + self.no_input + self.no_match


@dataclass(frozen=True)
class Workflow:
    id: str
    source: str
    scope: frozenset[str]
    start: str
    states: Mapping[str, State]
    prompts: Mapping[str, Prompt]
    max_attempts: int = 3
    transfer_queue: str = "front_desk"
    on_max_attempts: str | None = None
    description: str = ""
    phi_fields: frozenset[str] = field(default_factory=frozenset)
    inbound_start: str | None = None  # where an inbound call starts, if not at ``start``


def resolve(path: str, scopes: Mapping[str, Any]) -> Any:
    """Dotted lookup through mappings and sequences; None when absent."""
    cur: Any = scopes
    for part in path.split("."):
        if isinstance(cur, Mapping):
            cur = cur.get(part)
        elif isinstance(cur, (list, tuple)) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return None
        if cur is None:
            return None
    return cur


def _compare(value: Any, op: str, want: Any) -> bool:  # noqa: PLR0911 - one exit per operator
    if op == "eq":
        return bool(value == want)
    if op == "ne":
        return bool(value != want)
    if op == "in":
        return value in want
    if op == "set":
        return (value is not None) == bool(want)
    if value is None or (isinstance(value, (dt.date, dt.time))
                         and not isinstance(want, type(value))):
        return False
    try:
        if op == "gte":
            return bool(value >= want)
        if op == "lte":
            return bool(value <= want)
        if op == "gt":
            return bool(value > want)
        if op == "lt":
            return bool(value < want)
    except TypeError:
        return False
    raise ValueError(f"unknown condition operator {op!r}")


def evaluate(cond: Condition, scopes: Mapping[str, Any]) -> bool:
    if cond.op == "all":
        return all(evaluate(c, scopes) for c in cond.children)
    if cond.op == "any":
        return any(evaluate(c, scopes) for c in cond.children)
    if cond.op == "not":
        return not evaluate(cond.children[0], scopes)
    if cond.op == "count_gte":
        return sum(evaluate(c, scopes) for c in cond.children) >= int(cond.value)
    assert cond.var is not None
    if cond.op == "same_as":
        value = resolve(cond.var, scopes)
        return value is not None and value == resolve(str(cond.value), scopes)
    return _compare(resolve(cond.var, scopes), cond.op, cond.value)
