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
    scopes: frozenset[str]
    result_phi: bool  # the result names PHI (may be spoken only after verification)
    args: frozenset[str] = frozenset()


def _spec(name: str, scopes: set[str], *, result_phi: bool = False,
          args: tuple[str, ...] = ()) -> ActionSpec:
    return ActionSpec(name, frozenset(scopes), result_phi, frozenset(args))


ACTIONS: dict[str, ActionSpec] = {
    s.name: s
    for s in (
        _spec("find_free_slots", {"calendar:read"}, args=("preference", "limit", "provider")),
        _spec("confirm_appointment", {"appointment:write"}),
        _spec("cancel_appointment", {"appointment:write"}),
        _spec("reschedule_appointment", {"appointment:write", "calendar:read"}, args=("choice",)),
        _spec("book_appointment", {"appointment:write", "calendar:read"}, args=("choice",)),
        _spec("save_demographics", {"patient:demographics"},
              args=("name", "dob", "phone", "zip")),
        _spec("save_insurance", {"patient:insurance"}, args=("carrier", "member_id")),
        _spec("save_visit_reason", {"intake:write"}, args=("reason",)),
        _spec("save_screening", {"screening:write"}, args=("qualified", "answers")),
        _spec("lookup_refill", {"prescription:read"}, result_phi=True),
        _spec("request_refill", {"prescription:write"}, args=("pharmacy",)),
        _spec("read_clinical_notes", {"clinical_notes:read"}, result_phi=True),
    )
}
