"""Consent and do-not-call: look up by number, grant, revoke, add to the organisation's
DNC list, with the consent ledger entries. The number travels in POST bodies only (never
in a URL, a history entry or a log line); every lookup is an audit entry (records)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from carrier.console.lookups import lookup_allowed, spend_lookup
from carrier.console.pages.common import (
    NOT_A_NUMBER,
    console,
    dialable,
    guard,
    page,
    records_of,
)
from carrier.console.roles import Operator
from carrier.records.consent import Channel, ConsentKind
from carrier.records.phi_text import phi_in, refusal

router = APIRouter(include_in_schema=False)
PATH = "/consent"
GRANTABLE = [k.value for k in ConsentKind if k is not ConsentKind.ALL]


async def _show(request: Request, op: Operator, phone: str, *, message: str | None = None,
                error: str | None = None, status_code: int = 200, spent: bool = False,
                changed: UUID | None = None, recorded: bool = False) -> Response:
    """The page, with the people on ``phone``: a lookup the operator's budget pays for
    unless ``spent`` already, or the form ``changed`` a patient on that number. After a
    change was ``recorded`` an exhausted budget leaves the people out, never refuses."""
    records = records_of(request)
    people: list[dict[str, Any]] = []
    dnc = None
    number = dialable(phone) if phone else None
    if phone and number is None:
        message, error, status_code = None, NOT_A_NUMBER, 422
    elif number is not None:
        found = await _people(request, op, number, spent=spent, changed=changed,
                              recorded=recorded)
        for p in found or ():
            # the ledger is a PHI view of its own, as the API's consent read is
            await records.audit(op.actor, "consent.read", ("patient", p.id), "consent lookup")
            people.append({"patient": p, "status": await records.consent_status(p.id),
                           "history": await records.consent_history(p.id)})
        if found is None:
            message = f"{message or ''} The people on this number are not shown: the hour's" \
                      " lookups are spent.".strip()
        dnc = await records.dnc_status(number)
    return page(request, "consent.html", op, status_code=status_code, title="Consent & DNC",
                phone=phone, people=people, dnc=dnc, channels=[c.value for c in Channel],
                kinds=GRANTABLE, message=message, error=error)


async def _people(request: Request, op: Operator, number: str, *, spent: bool,
                  changed: UUID | None, recorded: bool) -> list[Any] | None:
    """The patients on ``number``, paid for as :func:`_show` says; None: not shown."""
    def find() -> Any:
        return records_of(request).find_patients_by_phone(number, actor=op.actor,
                                                          reason="consent lookup")
    if spent:
        return list(await find())
    if changed is not None:
        found = list(await find())
        if changed in {p.id for p in found}:
            return found  # the page the operator had, after a change to one of them
        return found if await lookup_allowed(console(request), op.actor) else None
    if recorded:
        return list(await find()) if await lookup_allowed(console(request), op.actor) else None
    await spend_lookup(console(request), op.actor)  # nothing changed: a lookup as any
    return list(await find())


@router.get(PATH)
async def consent_page(request: Request, op: Annotated[Operator, Depends(guard(PATH))]
                       ) -> Response:
    return await _show(request, op, "")


@router.post(PATH)
async def lookup(request: Request, phone: Annotated[str, Form(max_length=32)],
                 op: Annotated[Operator, Depends(guard(PATH))]) -> Response:
    if phone.strip():
        await spend_lookup(console(request), op.actor)
    return await _show(request, op, phone.strip(), spent=True)


def _evidence_refused(text: str) -> str | None:
    """Why the evidence reference cannot go into the ledger (missing, or it looks like it
    holds PHI: the ledger keeps it in clear for good), or None."""
    if not text.strip():
        return "the evidence reference is missing"
    what = phi_in(text)
    return None if what is None else refusal("the evidence reference", what)


@router.post(PATH + "/{verb}")
async def change(request: Request, verb: str,
                 op: Annotated[Operator, Depends(guard(PATH))], *,
                 phone: Annotated[str, Form(max_length=32)],
                 patient_id: Annotated[str, Form()] = "", channel: Annotated[str, Form()] = "",
                 kind: Annotated[str, Form()] = "all",
                 evidence_ref: Annotated[str, Form(max_length=200)] = "") -> Response:
    records = records_of(request)
    phone = phone.strip()
    number = dialable(phone)
    if number is None:
        return await _show(request, op, phone)  # says the number is not one
    refused = None if verb == "dnc" else _evidence_refused(evidence_ref)
    if refused:
        return await _show(request, op, phone, error=f"Not recorded: {refused}.",
                           status_code=422)
    try:
        if verb == "dnc":
            await records.dnc_add(number, source="console", actor=op.actor,
                                  reason="operator request")
            return await _show(request, op, phone, message="Added to the do-not-call list.",
                               recorded=True)
        pid = UUID(patient_id)
        if verb not in ("grant", "revoke") or not await records.patient_exists(pid):
            # the API's check too: a ledger entry for nobody would be a false record
            what = "no such patient" if verb in ("grant", "revoke") else "unknown action"
            return await _show(request, op, phone, error=f"Not recorded: {what}.",
                               status_code=404)
        record = records.consent_grant if verb == "grant" else records.consent_revoke
        await record(pid, Channel(channel), ConsentKind(kind), source="console",
                     evidence_ref=evidence_ref.strip(), actor=op.actor)
    except ValueError as exc:
        return await _show(request, op, phone, error=f"Not recorded: {exc}.", status_code=422)
    return await _show(request, op, phone, message=f"Consent {verb} recorded.", changed=pid)
