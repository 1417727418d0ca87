"""The whitelist of actions a workflow may run, and the data each one touches.

Minimum necessary (45 CFR 164.502(b)): every action names the scopes it reads or
writes; a workflow declares its scope; an action outside it is refused when the
workflow is loaded and again at run time. The host executes actions; the engine
only asks for them.
"""

from __future__ import annotations

from dataclasses import dataclass

SCOPES = frozenset({
    "patient:identity",       # first/last name, DOB, phone: for verification
    "patient:demographics",   # address, contact details
    "patient:insurance",      # carrier and member ID
    "appointment:read",
    "appointment:write",
    "calendar:read",          # providers' free slots
    "intake:write",           # reason for visit
    "screening:write",        # questionnaire answers
    "prescription:read",
    "prescription:write",
    "clinical_notes:read",
})


@dataclass(frozen=True)
class ActionSpec:
    name: str
    reads: frozenset[str]
    writes: frozenset[str]
    result_phi: bool  # the result names PHI (may be spoken only after verification)
    args: frozenset[str] = frozenset()

    @property
    def scopes(self) -> frozenset[str]:
        """Every scope the workflow must hold to run this action."""
        return self.reads | self.writes


def _spec(name: str, *, reads: tuple[str, ...] = (), writes: tuple[str, ...] = (),
          result_phi: bool = False, args: tuple[str, ...] = ()) -> ActionSpec:
    unknown = set(reads + writes) - SCOPES
    if unknown:
        raise ValueError(f"action {name}: unknown scopes {sorted(unknown)}")
    return ActionSpec(name, frozenset(reads), frozenset(writes), result_phi, frozenset(args))


ACTIONS: dict[str, ActionSpec] = {
    s.name: s
    for s in (
        _spec("find_free_slots", reads=("calendar:read",),
              args=("preference", "limit", "provider")),
        _spec("confirm_appointment", reads=("appointment:read",), writes=("appointment:write",)),
        _spec("cancel_appointment", reads=("appointment:read",), writes=("appointment:write",)),
        _spec("reschedule_appointment", reads=("appointment:read", "calendar:read"),
              writes=("appointment:write",), args=("choice",)),
        _spec("book_appointment", reads=("calendar:read",), writes=("appointment:write",),
              args=("choice",)),
        _spec("save_demographics", writes=("patient:demographics",),
              args=("name", "dob", "phone", "zip")),
        _spec("save_insurance", writes=("patient:insurance",), args=("carrier", "member_id")),
        _spec("save_visit_reason", writes=("intake:write",), args=("reason",)),
        _spec("save_screening", writes=("screening:write",), args=("qualified", "answers")),
        _spec("lookup_refill", reads=("prescription:read",), result_phi=True),
        _spec("request_refill", writes=("prescription:write",), args=("pharmacy",)),
        _spec("refill_not_needed", writes=("prescription:write",)),
        _spec("read_clinical_notes", reads=("clinical_notes:read",), result_phi=True),
        # The clinic's address by text to the patient's number on record (not PHI); the
        # promise is kept in the conversation memory (issue 17).
        _spec("text_address", reads=("patient:identity",)),
    )
}
