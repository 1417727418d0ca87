"""Identity checks of a ``verify`` state, and the patient's identifiers for redaction.

Pure functions of what the caller said and the patient's record: no I/O, no clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from agent.grammar.slots import names_match
from agent.redact import KnownIdentifiers
from agent.workflow.model import Verify, VerifyCheck, Workflow, resolve


def check_identity(check: VerifyCheck, said: Any, record: Mapping[str, Any]) -> bool:  # noqa: PLR0911 - one exit per verification kind
    """Does the slot value the caller gave (``said``) match the record's field?"""
    if said is None:
        return False
    if check.kind in ("name", "first_name"):
        first = resolve(f"{check.field}.first_name", record)
        last = resolve(f"{check.field}.last_name", record)
        if not isinstance(first, str):
            return False
        return names_match(str(said), first, str(last) if check.kind == "name" else None)
    want = resolve(check.field, record)
    if want is None:
        return False
    if check.kind == "dob":
        expected = want if isinstance(want, dt.date) else as_date(str(want))
        return expected is not None and said == expected
    norm_said = "".join(ch for ch in str(said).upper() if ch.isalnum())
    norm_want = "".join(ch for ch in str(want).upper() if ch.isalnum())
    if check.kind == "last4":
        return len(norm_said) >= 4 and norm_want.endswith(norm_said[-4:])
    return norm_said == norm_want


def known_identifiers(record: Mapping[str, Any]) -> KnownIdentifiers:
    """The patient's own identifiers in ``record`` (what redaction must catch verbatim)."""
    patient = record.get("patient")
    if not isinstance(patient, Mapping):
        return KnownIdentifiers()
    name = f"{patient.get('first_name', '')} {patient.get('last_name', '')}".strip()
    return KnownIdentifiers(
        names=(name,) if name else (), dob=as_date(str(patient.get("dob", ""))),
        phones=tuple(str(patient[k]) for k in ("phone",) if patient.get(k)),
        member_ids=tuple(str(patient[k]) for k in ("member_id",) if patient.get(k)),
        mrns=tuple(str(patient[k]) for k in ("mrn",) if patient.get(k)))


def as_date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None


def caller_unverified(record: Mapping[str, Any]) -> bool:
    """True when the record says the caller's number was not verified (live inbound
    calls); records without caller facts (simulator, outbound) keep one factor."""
    caller = record.get("caller")
    return isinstance(caller, Mapping) and caller.get("verified") is False


def needs_step_up(verify: Verify, record: Mapping[str, Any]) -> str | None:
    """The step-up state to enter after ``verify`` passed, or None when one factor will do."""
    if verify.step_up is None or not caller_unverified(record):
        return None
    return verify.step_up


def start_state(workflow: Workflow, record: Mapping[str, Any]) -> str:
    """An inbound call starts at the workflow's ``inbound_start`` when it has one (a
    screening line: no "calling for <name>" opening to someone who called us)."""
    caller = record.get("caller")
    inbound = isinstance(caller, Mapping) and caller.get("direction") == "inbound"
    return workflow.inbound_start if inbound and workflow.inbound_start else workflow.start
