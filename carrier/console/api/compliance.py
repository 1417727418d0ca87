"""Consent, do-not-call and retention (role ``compliance``), through the same records calls
as ``carrier consent``, ``carrier campaign dnc-import`` and ``carrier retention run``."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel, Field

from carrier.console.api.common import ERRORS, LOOKUP, NOT_FOUND, PhiFree, Reason, context
from carrier.console.api.patients import PHONE, _phone
from carrier.console.auth import Operator, Role, require
from carrier.console.lookups import spend_lookup
from carrier.console.problems import Problem
from carrier.dialer.ftc import ParseStats, iter_numbers, to_e164
from carrier.records.consent import Channel, ConsentKind
from carrier.upkeep import policy_for

router = APIRouter(tags=["compliance"])
Compliance = Annotated[Operator, Depends(require(Role.COMPLIANCE))]
TEXT = r"^[^\x00-\x1f\x7f]+$"
MAX_DNC_BYTES = 64 * 1024 * 1024


class GrantKind(enum.StrEnum):
    TCPA_EXPRESS = ConsentKind.TCPA_EXPRESS.value
    TCPA_EXPRESS_WRITTEN = ConsentKind.TCPA_EXPRESS_WRITTEN.value
    HIPAA_AUTHORIZATION = ConsentKind.HIPAA_AUTHORIZATION.value


class ConsentGrant(BaseModel):
    channel: Channel
    kind: GrantKind
    source: Annotated[str, PhiFree] = Field(min_length=1, max_length=200, pattern=TEXT)
    evidence: Annotated[str, PhiFree] = Field(min_length=1, max_length=200, pattern=TEXT)


class ConsentRevoke(BaseModel):
    channel: Channel
    kind: ConsentKind = ConsentKind.ALL
    source: Annotated[str, PhiFree] = Field(min_length=1, max_length=200, pattern=TEXT)
    evidence: Annotated[str, PhiFree] = Field(min_length=1, max_length=200, pattern=TEXT)


class LedgerEntry(BaseModel):
    seq: int
    entry_id: UUID
    at: dt.datetime
    event: str
    channel: str
    kind: str
    source: str
    evidence: str
    actor: str


class ConsentNow(BaseModel):
    channel: str
    kind: str
    granted: bool


class ConsentView(BaseModel):
    patient_id: UUID
    history: list[LedgerEntry]
    now: list[ConsentNow]


class Recorded(BaseModel):
    entry_id: UUID


async def _known(records: object, patient_id: UUID) -> None:
    if not await records.patient_exists(patient_id):  # type: ignore[attr-defined]
        raise Problem(404, "no such patient")


@router.get("/patients/{patient_id}/consent", response_model=ConsentView, responses=NOT_FOUND)
async def show_consent(request: Request, patient_id: UUID, op: Compliance,
                       reason: Reason) -> ConsentView:
    """The patient's consent ledger and what holds now (audited with ``reason``)."""
    records = context(request).need_records()
    await _known(records, patient_id)
    history = await records.consent_history(patient_id)
    now = await records.consent_status(patient_id)
    await records.audit(op.actor, "consent.read", ("patient", patient_id), reason)
    return ConsentView(
        patient_id=patient_id,
        history=[LedgerEntry(seq=e.seq, entry_id=e.entry_id, at=e.at, event=e.event,
                             channel=e.channel, kind=e.kind, source=e.source,
                             evidence=e.evidence_ref, actor=e.actor) for e in history],
        now=[ConsentNow(channel=c, kind=k, granted=g) for (c, k), g in sorted(now.items())])


@router.post("/patients/{patient_id}/consent/grant", status_code=201,
             response_model=Recorded, responses=NOT_FOUND)
async def grant_consent(request: Request, patient_id: UUID, body: ConsentGrant,
                        op: Compliance) -> Recorded:
    records = context(request).need_records()
    await _known(records, patient_id)
    entry = await records.consent_grant(patient_id, body.channel, ConsentKind(body.kind.value),
                                        source=body.source, evidence_ref=body.evidence,
                                        actor=op.actor)
    return Recorded(entry_id=entry)


@router.post("/patients/{patient_id}/consent/revoke", status_code=201,
             response_model=Recorded, responses=NOT_FOUND)
async def revoke_consent(request: Request, patient_id: UUID, body: ConsentRevoke,
                         op: Compliance) -> Recorded:
    records = context(request).need_records()
    await _known(records, patient_id)
    entry = await records.consent_revoke(patient_id, body.channel, body.kind,
                                         source=body.source, evidence_ref=body.evidence,
                                         actor=op.actor)
    return Recorded(entry_id=entry)


class DncAdd(BaseModel):
    phone: str = Field(pattern=PHONE)
    source: Annotated[str, PhiFree] = Field(min_length=1, max_length=200, pattern=TEXT)
    reason: Annotated[str, PhiFree] = Field(default="patient asked", min_length=1,
                                            max_length=200, pattern=TEXT)


class DncState(BaseModel):
    org: bool
    national: bool
    national_imported_at: dt.datetime | None
    listed: bool


class DncImported(BaseModel):
    imported: int
    bad_lines: int
    first_bad_lines: list[int]


@router.post("/dnc", status_code=201, response_model=DncState, responses=ERRORS)
async def add_dnc(request: Request, body: DncAdd, op: Compliance) -> DncState:
    """Put a number on the organisation's do-not-call list."""
    records = context(request).need_records()
    phone = _phone(body.phone)
    await records.dnc_add(phone, source=body.source, actor=op.actor, reason=body.reason)
    return await _dnc_state(records, phone)


class DncLookup(BaseModel):
    phone: str = Field(pattern=PHONE)


@router.post("/dnc/status", response_model=DncState, responses=LOOKUP)
async def dnc_status(request: Request, body: DncLookup, op: Compliance) -> DncState:
    """Whether a number is on the organisation's or the national do-not-call list. A POST:
    the number travels in the body, never in a URL that proxies and browsers log. A lookup
    by number (the organisation's list is people who asked the clinic to stop): it spends
    one of the operator's lookups (429 past the hour's budget) and is audited."""
    records = context(request).need_records()
    phone = _phone(body.phone)
    await spend_lookup(context(request), op.actor)
    state = await _dnc_state(records, phone)
    await context(request).audit(op.actor, "dnc.status", ("dnc", "number"), "console",
                                 {"listed": state.listed})
    return state


async def _dnc_state(records: object, phone: str) -> DncState:
    s = await records.dnc_status(phone)  # type: ignore[attr-defined]
    return DncState(org=s.org, national=s.national,
                    national_imported_at=s.national_imported_at, listed=s.listed)


@router.post("/dnc/national", status_code=201, response_model=DncImported,
             responses={**ERRORS, 413: ERRORS[401]}, max_body_size=MAX_DNC_BYTES,
             openapi_extra={"requestBody": {"required": True, "content": {
                 "text/plain": {"schema": {"type": "string"}}}}})
async def import_national_dnc(request: Request, op: Compliance,
                              copy_date: dt.date | None = None) -> DncImported:
    """Replace the national registry copy of the area codes an FTC download holds
    (text/plain: one number a line); other area codes stay. ``copy_date``: the
    download's date (the gate ages each area code's copy by its own)."""
    records = context(request).need_records()
    today = context(request).now().date()
    if copy_date is not None and copy_date > today:
        raise Problem(422, "copy_date is in the future: the gate ages the copy by this date")
    raw = await request.body()
    if len(raw) > MAX_DNC_BYTES:
        raise Problem(413, "the file is larger than the registry could be")
    stats = ParseStats()
    numbers = [to_e164(n) for n in iter_numbers(raw.decode("ascii", "replace").splitlines(),
                                                 stats)]
    if not numbers:
        raise Problem(422, "no numbers in the FTC format found")
    day = copy_date or today
    at = dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC)
    rows = await records.import_national_dnc(numbers, source="ftc-registry", actor=op.actor,
                                             at=at)
    return DncImported(imported=rows, bad_lines=stats.bad_count,
                       first_bad_lines=stats.bad_lines[:20])


class RetentionOut(BaseModel):
    table: str
    cutoff: dt.datetime
    rows: int
    skipped: bool
    with_table: str = ""
    """Deleted with this table's rows (a call record's transcripts), else empty."""


class RetentionPolicyOut(BaseModel):
    audit_days: int
    consent_days: int
    targets: dict[str, int]


@router.get("/retention", response_model=RetentionPolicyOut, responses=ERRORS)
async def retention_policy(request: Request, op: Compliance) -> RetentionPolicyOut:
    """The policy ``carrier serve`` applies every day (from the ``retention`` settings)."""
    ctx = context(request)
    policy = policy_for(ctx.settings, ctx.application)
    return RetentionPolicyOut(audit_days=policy.audit_days, consent_days=policy.consent_days,
                              targets={t.table: t.days for t in policy.targets})


@router.post("/retention/run", response_model=list[RetentionOut], responses=ERRORS)
async def run_retention_now(request: Request, op: Compliance,
                            confirm: Annotated[bool, Body(embed=True)]) -> list[RetentionOut]:
    """Purge what the policy says has expired, now (each purge audited)."""
    if not confirm:
        raise Problem(422, "set confirm to true to purge")
    from carrier.records.dbedge import UNAVAILABLE  # noqa: PLC0415
    from carrier.records.retention import run_retention  # noqa: PLC0415

    ctx = context(request)
    policy = policy_for(ctx.settings, ctx.application)
    try:
        results = await run_retention(ctx.need_records(), policy, now=ctx.now(),
                                      actor=op.actor)
    except UNAVAILABLE as exc:  # each table is purged with its audit entry, or not at all
        raise Problem(503, f"records database unreachable ({type(exc).__name__}): the tables"
                           " purged before are audited, the rest untouched; run again") from None
    return [RetentionOut(table=r.table, cutoff=r.cutoff, rows=r.rows, skipped=r.skipped,
                         with_table=r.with_table) for r in results]
