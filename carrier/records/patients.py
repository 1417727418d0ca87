"""Patients: PHI encrypted per cell, found by keyed blind index, every access audited.

* ``add_patient`` / ``get_patient`` / ``find_patients_by_phone``: PHI is AES-256-GCM encrypted
  per cell (``KeyRing``); phone lookup is by keyed blind index. Reads raise
  ``RecordsUnavailable`` when the database cannot be reached (a caller degrades to an
  unknown-caller path); pass ``queued=True`` to log the read without waiting for a commit.
* ``set_patient_address`` / ``patient_address``: the state (two letters) and IANA time zone
  the dialer's calling rules need; neither is a Safe Harbor identifier, stored in clear.
* ``set_patient_language`` / ``Patient.language``: the preferred language (ISO 639-1, one
  of ``carrier.records.languages.SUPPORTED``); in clear, every change audited with the
  old and new code and whose word it is (``language_source``: feed, patient, staff).
  Precedence: a person's choice (the verified patient's on a call or text, an operator's
  in the console) outlives a later feed value the EHR has not changed since
  (``language_feed``, the value the feeds last sent); a feed value that differs from it
  is the EHR's news and applies. A feed may name a language the clinic does not call in
  ("vi"): kept as what the EHR said (``Patient.ehr_language``, for staff: an interpreter
  may be needed) while the calls fall back to English. ``update_patients_on`` reports
  each (``LanguageFromFeed``) for the feed's audit (``patient.language`` / ``.held``).
* ``clear_patient_fields`` / ``clear_patient_fields_on``: delete a phone number, birth
  date or member id from a record (an EHR deleted it: reminder calls must not go on to a
  number it removed); audited as ``patient.clear`` with the field names only, never a
  value. No number on file reads as ``Patient.phone == ""``: no caller is matched to it
  and the dialer refuses the patient ("no phone number on file"). A name cannot be cleared.
* ``patient_exists``: whether an id is known (loaders that must not add twice).
* ``patient_ids_at``: the ids of every patient whose record carries a number (by blind
  index, nothing decrypted): the dialer's caps count calls to the number, not the patient.
* ``create_patients_on`` / ``update_patients_on``: the same rows written on a connection
  the caller holds in its transaction (the schedule feeds upsert a message's patient and
  its appointment atomically): the feeds never write ``patients`` with SQL of their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from carrier.records.audit import AuditLog, now_or
from carrier.records.crypto import UnknownKeyVersion, normalize_e164
from carrier.records.languages import SUPPORTED

if TYPE_CHECKING:
    import asyncpg


@dataclass(frozen=True)
class Patient:
    id: UUID
    name: str
    phone: str  # E.164; "" when no number is on file (an EHR deleted it)
    dob: date | None
    member_id: str | None
    language: str | None = None  # preferred, ISO 639-1 ("es"); None: not known
    language_source: str | None = None  # whose word: feed, patient, staff
    ehr_language: str | None = None  # what the feeds last said, any language ("vi")

    def __repr__(self) -> str:  # never print PHI by accident
        return f"Patient(id={self.id})"


@dataclass(frozen=True)
class PatientAddress:
    """Where a patient lives, as coarse as the calling rules need."""

    state: str | None  # two upper-case letters, e.g. "CA"
    time_zone: str | None  # IANA name, e.g. "America/Los_Angeles"

    def check(self) -> None:
        """Raise ``ValueError`` (naming the field, never the value) for a state or zone the
        dialer cannot use: a zone it cannot read would refuse every call to the patient,
        silently. Writes check; reads do not (a row stored before this still reads)."""
        if self.state is not None and not (len(self.state) == 2 and self.state.isupper()):
            raise ValueError("state must be two upper-case letters")
        if self.time_zone is not None:
            try:
                ZoneInfo(self.time_zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError("time_zone is not a known IANA time zone") from None


@dataclass(frozen=True)
class PatientFields:
    """A patient's fields as a feed brings them; None: not given (a stored value stays)."""

    name: str | None = None
    phone: str | None = None  # E.164
    dob: date | None = None
    state: str | None = None
    language: str | None = None  # any language's code as the EHR says it (language_tag)

    def __repr__(self) -> str:  # never print PHI by accident
        return "PatientFields(...)"


@dataclass(frozen=True)
class LanguageFromFeed:
    """What a feed's language did to one patient: ``now`` is ``given`` unless a person's
    choice was kept (``kept``: 'patient' or 'staff', the EHR's value unchanged since)."""

    patient_id: UUID
    given: str  # the EHR's code, any language ("vi": no calls in it, English instead)
    was: str | None
    now: str | None
    kept: str | None
    was_feed: str | None = None  # what the EHR said before


_INSERT_ON = (
    "INSERT INTO patients (id, phone_bidx, phone_ct, name_ct, dob_ct, member_id_ct,"
    " key_version, created_at, state, language, language_source, language_feed)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
    " CASE WHEN $11::text IS NULL THEN NULL ELSE 'feed' END, $11)")
_UPDATE_ON = (
    "UPDATE patients SET name_ct = COALESCE($2, name_ct), phone_ct = COALESCE($3, phone_ct),"
    " phone_bidx = COALESCE($4, phone_bidx), dob_ct = COALESCE($5, dob_ct),"
    " state = COALESCE($6, state) WHERE id = $1")
# A person's choice is held against a feed value equal to the feed's last one (or the
# feed's first after the choice: no sign the EHR changed); otherwise the feed's applies.
_FEED_LANGUAGE = (
    "UPDATE patients p SET"
    " language = CASE WHEN x.held THEN p.language ELSE x.ours END,"
    " language_source = CASE WHEN x.held OR (p.language IS NOT DISTINCT FROM x.ours"
    "  AND p.language_source IS NOT NULL) THEN p.language_source ELSE 'feed' END,"
    " language_feed = x.given"
    " FROM (SELECT o.id, g.given, g.ours, o.language AS was, o.language_source AS was_source,"
    "  o.language_feed AS was_feed,"
    "  (o.language_source IN ('patient', 'staff') AND o.language IS DISTINCT FROM g.ours"
    "   AND (o.language_feed IS NULL OR o.language_feed = g.given)) AS held"
    "  FROM unnest($1::uuid[], $2::text[], $3::text[]) AS g(id, given, ours)"
    "  JOIN patients o ON o.id = g.id FOR UPDATE OF o) x"
    " WHERE p.id = x.id RETURNING p.id, x.given, x.was, p.language, x.held, x.was_source,"
    " x.was_feed")


# The fields that may be cleared, and their columns (a fixed list: no caller's text in SQL).
CLEARABLE: Mapping[str, tuple[str, ...]] = {
    "phone": ("phone_ct", "phone_bidx"), "dob": ("dob_ct",), "member_id": ("member_id_ct",)}


class Patients(AuditLog):
    def encrypt_patient(
        self, pid: UUID, name: str, phone: str, dob: date | None, member_id: str | None
    ) -> tuple[Any, ...]:
        """The row tuple stored for a patient (also used by bulk loaders)."""
        e164 = normalize_e164(phone)
        k = self.keys
        return (
            pid,
            k.phone_index(e164),
            k.encrypt(e164, "patients", "phone_ct", pid),
            k.encrypt(name, "patients", "name_ct", pid),
            None if dob is None else k.encrypt(dob.isoformat(), "patients", "dob_ct", pid),
            None if member_id is None else k.encrypt(member_id, "patients", "member_id_ct", pid),
            k.active_version,
        )

    async def add_patient(
        self,
        name: str,
        phone: str,
        *,
        dob: date | None = None,
        member_id: str | None = None,
        actor: str,
        reason: str,
        at: datetime | None = None,
        patient_id: UUID | None = None,
        address: PatientAddress | None = None,
        language: str | None = None,
    ) -> UUID:
        # A caller may fix the id (a stable id derived from an EHR or demo id).
        pid = patient_id or uuid4()
        row = self.encrypt_patient(pid, name, phone, dob, member_id)
        where = address or PatientAddress(None, None)
        where.check()
        await self.pool.execute(
            "INSERT INTO patients (id, phone_bidx, phone_ct, name_ct, dob_ct, member_id_ct,"
            " key_version, created_at, state, time_zone, language, language_source)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,"
            " CASE WHEN $11::text IS NULL THEN NULL ELSE 'staff' END)",
            *row,
            now_or(at),
            where.state,
            where.time_zone,
            _supported(language),
        )
        await self.audit(actor, "patient.create", ("patient", pid), reason,
                         {"language": language, "source": "staff"} if language else None,
                         at=at)
        return pid

    async def create_patients_on(self, conn: asyncpg.Connection,
                                 new: Sequence[tuple[UUID, PatientFields]], at: datetime
                                 ) -> None:
        """Add patients on the caller's connection (its transaction); each needs a name and
        a phone. Not audited here: the caller audits what its transaction meant."""
        def seal() -> list[tuple[Any, ...]]:
            rows = []
            for pid, f in new:
                if not f.name or not f.phone:
                    raise ValueError("a new patient needs a name and a phone")
                tag = _tag(f.language)
                rows.append((*self.encrypt_patient(pid, f.name, f.phone, f.dob, None), at,
                             f.state, _ours(tag), tag))
            return rows

        # a file's worth of AES-GCM takes seconds: off the event loop (SIP, RTP, console)
        rows = await asyncio.to_thread(seal) if new else []
        if rows:
            await conn.executemany(_INSERT_ON, rows)

    async def update_patients_on(self, conn: asyncpg.Connection,
                                 changes: Sequence[tuple[UUID, PatientFields]]
                                 ) -> list[LanguageFromFeed]:
        """Re-encrypt the fields each change gives, on the caller's connection; the fields
        it does not give stay as stored. A language given is the feed's (see the module's
        precedence); what each did is returned for the caller's audit."""
        k = self.keys

        def seal() -> list[tuple[Any, ...]]:
            rows = []
            for pid, f in changes:
                if f == PatientFields():
                    continue
                rows.append((
                    pid,
                    None if not f.name else k.encrypt(f.name, "patients", "name_ct", pid),
                    None if not f.phone else k.encrypt(f.phone, "patients", "phone_ct", pid),
                    None if not f.phone else k.phone_index(f.phone),
                    None if f.dob is None else k.encrypt(f.dob.isoformat(), "patients",
                                                         "dob_ct", pid),
                    f.state or None,
                ))
            return rows

        rows = await asyncio.to_thread(seal) if changes else []
        if rows:
            await conn.executemany(_UPDATE_ON, rows)
        given = {pid: _tag(f.language) for pid, f in changes if f.language}
        if not given:
            return []
        out = await conn.fetch(_FEED_LANGUAGE, list(given), list(given.values()),
                               [_ours(t) for t in given.values()])
        return [LanguageFromFeed(r["id"], r["given"], r["was"], r["language"],
                                 r["was_source"] if r["held"] else None, r["was_feed"])
                for r in out]

    async def clear_patient_fields_on(self, conn: asyncpg.Connection, patient_id: UUID,
                                      fields: Sequence[str]) -> tuple[str, ...]:
        """Clear ``fields`` (names in :data:`CLEARABLE`) of one patient on the caller's
        connection (its transaction); the ones that held a value are returned, for the
        caller's audit (:meth:`audit_cleared`). ``ValueError`` for another field name."""
        unknown = [f for f in fields if f not in CLEARABLE]
        if unknown:
            raise ValueError("only phone, dob and member_id can be cleared")
        names = sorted(set(fields))
        if not names:
            return ()
        sets = ", ".join(f"{col} = NULL" for f in names for col in CLEARABLE[f])
        had = ", ".join(f"{CLEARABLE[f][0]} IS NOT NULL AS {f}" for f in names)
        row = await conn.fetchrow(
            f"UPDATE patients p SET {sets} FROM (SELECT id, {had} FROM patients"  # noqa: S608 - fixed names
            " WHERE id = $1 FOR UPDATE) o WHERE p.id = o.id RETURNING o.*", patient_id)
        return () if row is None else tuple(f for f in names if row[f])

    async def audit_cleared(self, actor: str, patient_id: UUID, cleared: Sequence[str],
                            reason: str, *, at: datetime | None = None,
                            queued: bool = False) -> None:
        """The audit of fields cleared: their names, never a value."""
        if cleared:
            await self.audit(actor, "patient.clear", ("patient", patient_id), reason,
                             {"fields": ",".join(cleared)}, at=at, queued=queued)

    async def clear_patient_fields(self, patient_id: UUID, fields: Sequence[str], *,
                                   actor: str, reason: str) -> tuple[str, ...]:
        """Clear ``fields`` of a patient (see :meth:`clear_patient_fields_on`), audited;
        the ones that held a value."""
        async with self.pool.acquire() as conn, conn.transaction():
            cleared = await self.clear_patient_fields_on(conn, patient_id, fields)
        await self.audit_cleared(actor, patient_id, cleared, reason)
        return cleared

    async def set_patient_address(
        self, patient_id: UUID, address: PatientAddress, *, actor: str, reason: str
    ) -> bool:
        """Record where a patient lives; False when there is no such patient."""
        address.check()
        status = await self.pool.execute(
            "UPDATE patients SET state = $2, time_zone = $3 WHERE id = $1",
            patient_id,
            address.state,
            address.time_zone,
        )
        found = bool(status.endswith(" 1"))
        await self.audit(actor, "patient.address", ("patient", patient_id), reason,
                         {"found": found})
        return found

    async def set_patient_language(self, patient_id: UUID, language: str | None, *,
                                   actor: str, reason: str, source: str = "staff",
                                   queued: bool = False) -> bool:
        """Record the patient's preferred language (None: not known, no one's choice);
        False when there is no such patient. ``source``: 'staff' (an operator) or
        'patient' (the verified patient's own choice). Audited with the code it was, the
        code it is now and the source."""
        _supported(language)
        if source not in ("staff", "patient"):
            raise ValueError("language source must be staff or patient")
        row = await self.pool.fetchrow(
            "UPDATE patients p SET language = $2,"
            " language_source = CASE WHEN $2::text IS NULL THEN NULL ELSE $3 END"
            " FROM (SELECT id, language FROM patients WHERE id = $1 FOR UPDATE) old"
            " WHERE p.id = old.id RETURNING old.language",
            patient_id, language, source)
        details: dict[str, Any] = {"found": row is not None, "language": language or "-",
                                   "source": source}
        if row is not None:
            details["was"] = row["language"] or "-"
        await self.audit(actor, "patient.language", ("patient", patient_id), reason, details,
                         queued=queued)
        return row is not None

    async def patient_language(self, patient_id: UUID) -> str | None:
        """The patient's preferred language (None: not known, or no such patient); nothing
        is decrypted (a text's language is chosen before any PHI is read)."""
        lang = await self._read(lambda conn: conn.fetchval(
            "SELECT language FROM patients WHERE id = $1", patient_id,
            timeout=self.read_timeout))
        return None if lang is None else str(lang)

    async def patient_address(self, patient_id: UUID) -> PatientAddress | None:
        """The patient's state and time zone (None: no such patient, or neither known)."""
        row = await self._read(lambda conn: conn.fetchrow(
            "SELECT state, time_zone FROM patients WHERE id = $1", patient_id,
            timeout=self.read_timeout))
        if row is None or (row["state"] is None and row["time_zone"] is None):
            return None
        return PatientAddress(row["state"], row["time_zone"])

    async def patient_exists(self, patient_id: UUID) -> bool:
        return bool(await self.pool.fetchval("SELECT 1 FROM patients WHERE id = $1", patient_id))

    async def _decrypt_patient(self, row: Mapping[str, Any]) -> Patient:
        try:
            return self._decode(row)
        except UnknownKeyVersion:
            await self.reload_keys()  # another process rotated the data key
            return self._decode(row)

    def _decode(self, row: Mapping[str, Any]) -> Patient:
        pid = row["id"]
        k = self.keys

        def opt(col: str) -> str | None:
            return (
                None if row[col] is None else k.decrypt_str(bytes(row[col]), "patients", col, pid)
            )

        dob = opt("dob_ct")
        return Patient(
            id=pid,
            name=k.decrypt_str(bytes(row["name_ct"]), "patients", "name_ct", pid),
            phone=opt("phone_ct") or "",
            dob=None if dob is None else date.fromisoformat(dob),
            member_id=opt("member_id_ct"),
            language=row.get("language"),
            language_source=row.get("language_source"),
            ehr_language=row.get("language_feed"),
        )

    async def get_patient(
        self, patient_id: UUID, *, actor: str, reason: str, queued: bool = False
    ) -> Patient | None:
        row = await self._read(lambda conn: conn.fetchrow(
            "SELECT * FROM patients WHERE id = $1", patient_id, timeout=self.read_timeout))
        await self.audit(
            actor, "patient.read", ("patient", patient_id), reason, {"found": row is not None},
            queued=queued,
        )
        return None if row is None else await self._decrypt_patient(row)

    async def find_patients_by_phone(
        self, phone: str, *, actor: str, reason: str, queued: bool = False
    ) -> list[Patient]:
        rows = await self._read(lambda conn: conn.fetch(
            "SELECT * FROM patients WHERE phone_bidx = $1 ORDER BY created_at",
            self.keys.phone_index(phone), timeout=self.read_timeout))
        patients = [await self._decrypt_patient(r) for r in rows]
        await self.audit(
            actor,
            "patient.lookup",
            ("patient", ",".join(str(p.id) for p in patients) or "-"),
            reason,
            {"matches": len(patients)},
            queued=queued,
        )
        return patients

    async def patient_ids_at(self, phone: str) -> list[UUID]:
        """Ids of the patients whose record carries ``phone`` (no PHI is decrypted)."""
        rows = await self._read(lambda conn: conn.fetch(
            "SELECT id FROM patients WHERE phone_bidx = $1 ORDER BY created_at",
            self.keys.phone_index(phone), timeout=self.read_timeout))
        return [r["id"] for r in rows]


def _tag(language: str | None) -> str | None:
    """A feed's language code (any language: ``language_tag``); ``ValueError`` for one
    that is no code (a caller's bug)."""
    if language is not None and not (2 <= len(language) <= 3 and language.isalpha()
                                     and language.islower() and language.isascii()):
        raise ValueError("a feed's language must be an ISO 639 code")
    return language


def _ours(tag: str | None) -> str | None:
    """The language the clinic calls in for the EHR's ``tag`` (None: English)."""
    return tag if tag in SUPPORTED else None


def _supported(language: str | None) -> str | None:
    """``language`` when the clinic supports it (None passes); ``ValueError`` otherwise
    (naming the field: the code is no PHI, but a wrong one is a caller's bug)."""
    if language is not None and language not in SUPPORTED:
        raise ValueError(f"language must be one of {', '.join(SUPPORTED)}")
    return language
