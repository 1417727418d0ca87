"""Patients and appointments (role ``scheduler``). Every read of a patient is a PHI view,
audited by the records facade with the operator, the patient and the reason."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from carrier.console.api.common import ERRORS, LOOKUP, NOT_FOUND, PhiFree, Reason, context
from carrier.console.auth import Operator, Role, require
from carrier.console.lookups import spend_lookup
from carrier.console.problems import Problem
from carrier.records.crypto import normalize_e164
from carrier.records.languages import SUPPORTED, language_code
from carrier.records.patients import Patient, PatientAddress

router = APIRouter(tags=["patients"])
Scheduler = Annotated[Operator, Depends(require(Role.SCHEDULER))]
PHONE = r"^\+?[0-9 ().-]{7,20}$"
FIRST_DOB = dt.date(1900, 1, 1)


class NewPatient(BaseModel):
    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
    phone: str = Field(pattern=PHONE)
    dob: dt.date | None = None
    member_id: str | None = Field(default=None, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")
    state: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    time_zone: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z_/+-]+$")
    language: str | None = Field(default=None, max_length=32,
                                 description="preferred language: " + ", ".join(SUPPORTED))


class PatientOut(BaseModel):
    id: UUID
    name: str
    phone: str
    dob: dt.date | None
    member_id: str | None
    language: str | None = Field(description="preferred language (ISO 639-1); null: not known")
    language_source: str | None = Field(
        default=None, description="whose word the preferred language is: feed, patient, staff")
    ehr_language: str | None = Field(
        default=None, description="the language the EHR feeds last gave, any (ISO 639)")
    interpreter_needed: bool = Field(
        default=False, description="the EHR names a language the clinic does not call in")

    @classmethod
    def of(cls, p: Patient) -> PatientOut:
        return cls(id=p.id, name=p.name, phone=p.phone, dob=p.dob, member_id=p.member_id,
                   language=p.language, language_source=p.language_source,
                   ehr_language=p.ehr_language,
                   interpreter_needed=interpreter_needed(p.ehr_language))


class LanguageChange(BaseModel):
    language: str | None = Field(max_length=32, description="one of " + ", ".join(SUPPORTED)
                                 + " (or its name); null: not known")
    reason: Annotated[str, PhiFree] = Field(default="patient asked", min_length=1,
                                            max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")


class LanguageOut(BaseModel):
    id: UUID
    language: str | None


class Created(BaseModel):
    id: UUID


class AppointmentOut(BaseModel):
    id: str
    patient_id: str
    starts_at: dt.datetime
    state: str


def _check_fields(body: NewPatient, today: dt.date) -> None:
    """What the model's patterns cannot see: a name of spaces, a date of birth that has not
    come yet, a time zone no one has (stored, it would refuse every call to the patient as
    'window.zone_unknown' without anyone told). Details name the field, never its value."""
    if not body.name.strip():
        raise Problem(422, "name is empty")
    if body.dob is not None and not FIRST_DOB <= body.dob <= today:
        raise Problem(422, f"dob must be between {FIRST_DOB.isoformat()} and today")
    if body.time_zone is not None:
        try:
            ZoneInfo(body.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise Problem(422, "time_zone is not an IANA time zone name") from None


def interpreter_needed(ehr_language: str | None) -> bool:
    """The EHR says the patient speaks a language the clinic's calls and texts are not in."""
    return ehr_language is not None and ehr_language not in SUPPORTED


def supported_language(text: str | None) -> str | None:
    """The code of a language the clinic supports (a code or a name: "es", "Spanish");
    None for none given; 422 naming the choices for anything else."""
    if text is None or not text.strip():
        return None
    code = language_code(text)
    if code is None:
        raise Problem(422, f"language must be one of {', '.join(SUPPORTED)}")
    return code


def _phone(text: str) -> str:
    try:
        return normalize_e164(text)
    except ValueError:
        raise Problem(422, "phone is not a dialable number") from None


@router.post("/patients", status_code=201, response_model=Created, responses=ERRORS)
async def add_patient(request: Request, body: NewPatient, op: Scheduler) -> Created:
    """Register a patient (name, phone, date of birth and member id are encrypted)."""
    records = context(request).need_records()
    _check_fields(body, context(request).now().date())
    language = supported_language(body.language)
    address = PatientAddress(body.state, body.time_zone) if body.state or body.time_zone else None
    try:
        if address is not None:
            address.check()
    except ValueError as exc:  # the message names the field, never the patient
        raise Problem(422, str(exc)) from None
    pid = await records.add_patient(body.name, _phone(body.phone), dob=body.dob,
                                    member_id=body.member_id, actor=op.actor,
                                    reason="console: registration", address=address,
                                    language=language)
    return Created(id=pid)


class PatientSearch(BaseModel):
    phone: str = Field(pattern=PHONE)
    reason: Annotated[str, PhiFree] = Field(min_length=1, max_length=200,
                                            pattern=r"^[^\x00-\x1f\x7f]+$",
                                            description="why (for the audit log)")


@router.post("/patients/search", response_model=list[PatientOut], responses=LOOKUP)
async def find_patients(request: Request, body: PatientSearch, op: Scheduler
                        ) -> list[PatientOut]:
    """Patients with this phone number (a PHI view: audited with ``reason``). A POST: the
    number travels in the body, never in a URL that proxies and browsers keep in logs."""
    records = context(request).need_records()
    await spend_lookup(context(request), op.actor)
    found = await records.find_patients_by_phone(_phone(body.phone), actor=op.actor,
                                                 reason=body.reason)
    return [PatientOut.of(p) for p in found]


@router.get("/patients/{patient_id}", response_model=PatientOut, responses=NOT_FOUND)
async def get_patient(request: Request, patient_id: UUID, op: Scheduler,
                      reason: Reason) -> PatientOut:
    """One patient (a PHI view: audited with ``reason``)."""
    records = context(request).need_records()
    p = await records.get_patient(patient_id, actor=op.actor, reason=reason)
    if p is None:
        raise Problem(404, "no such patient")
    return PatientOut.of(p)


@router.put("/patients/{patient_id}/language", response_model=LanguageOut,
            responses=NOT_FOUND)
async def set_language(request: Request, patient_id: UUID, body: LanguageChange,
                       op: Scheduler) -> LanguageOut:
    """The patient's preferred language for calls and texts (audited with ``reason`` and
    the code it was); 422 for a language the clinic does not support."""
    records = context(request).need_records()
    language = supported_language(body.language)
    if not await records.set_patient_language(patient_id, language, actor=op.actor,
                                              reason=f"console: {body.reason}"):
        raise Problem(404, "no such patient")
    return LanguageOut(id=patient_id, language=language)


@router.get("/appointments", response_model=list[AppointmentOut], responses=ERRORS)
async def upcoming_appointments(
        request: Request, op: Scheduler,
        days: Annotated[int, Query(ge=1, le=90)] = 14) -> list[AppointmentOut]:
    """Appointments in the next ``days`` days, as the hosted application reports them."""
    ctx = context(request)
    if ctx.appointments is None:
        raise Problem(503, "no appointment source in this console")
    now = ctx.now()
    facts = await ctx.appointments.upcoming(now, dt.timedelta(days=days))
    await ctx.audit(op.actor, "appointments.read", ("appointments", "upcoming"),
                    "console: schedule", {"days": days, "rows": len(facts)})
    return [AppointmentOut(id=f.id, patient_id=f.patient_id, starts_at=f.starts_at,
                           state=str(f.state.value)) for f in facts]
