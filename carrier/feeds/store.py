"""Applying what a schedule feed brings: one transaction per message, upserted by the
source's identifiers, PHI encrypted as the records facade encrypts it, every change audited.

``FeedStore.apply(item, now)`` (an :class:`FeedItem`: a patient and maybe one appointment
change, from HL7, CSV or FHIR) does, in one transaction on one connection:

1. claim ``(source, message id)`` in ``feed_messages``: a repeat is a no-op, reported as
   a duplicate (so the sender gets the same ACK again); a repeat whose content differs
   (keyed digest) is refused (:class:`ReusedMessageId`), not swallowed;
2. take the patient's advisory lock (``pg_advisory_xact_lock``), so changes for one patient
   apply one at a time across connections and processes (ordered per patient);
3. upsert the patient: found by keyed blind index of ``authority|mrn`` (``feed_patients``),
   created with the records' own ``encrypt_patient`` row, or its given fields re-encrypted
   unless the demographics on file were sent later (``source_ts``: a reordered older
   message does not put an old phone number back);
4. unless the appointment's last applied message was sent later (a stale, reordered one),
   hand the neutral change to the application (``ScheduleFeed.apply_schedule``) on the same
   connection, and remember its id in ``feed_appointments`` for the write-back.

Which message is later (steps 3 and 4) is decided by the sending time, in this order:
an HL7 MSH-7 with its UTC offset (or a FHIR ``meta.lastUpdated``, a CSV's import time) is
exact; an MSH-7 without one is the clinic's wall clock (``feeds.timezone``), and in the
hour that repeats when clocks go back it is the later reading unless that would be after
the message arrived (:func:`carrier.feeds.hl7_in.sent_time`); a message with no readable
sending time goes by arrival: it is applied over what is on file (it came last), and the
send time on file stays, so the next timed message is compared with the last timed one.
The control id (MSH-10) orders nothing: HL7 makes it unique, not sequential.

After the commit the changes are audited (``feed.patient.create`` / ``.update``,
``feed.appointment.<kind>``): ids and kinds only. ``carrier.feeds.bulk`` does the same for
a whole file in one transaction (the CSV import). Nothing is logged with PHI.
"""

from __future__ import annotations

import datetime as dt
import traceback
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID, uuid4

import asyncpg

from carrier.feeds.hl7_text import clean
from carrier.plugin import (
    ENDING_KINDS,
    PrescriptionChange,
    ScheduleChange,
    ScheduleChangeKind,
    ScheduleFeed,
)
from carrier.records.crypto import blind_index
from carrier.records.patients import LanguageFromFeed, PatientFields
from carrier.records.store import Channel, ConsentKind, Records

ACTOR = "feed"
# The send time kept for an appointment first heard of in a message without one: any
# message with a send time is later.
UNTIMED = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _older(sent: dt.datetime, version: int | None, ending: bool,
           last: asyncpg.Record) -> bool:
    """Whether a change sent at ``sent`` is older than the one applied (``last``): sent
    before it; or in the same second (MSH-7, and many servers' lastUpdated, have second
    precision) with a lower source version when both carry one (FHIR versionId), else
    when the one applied ended the appointment and this does not (a cancellation wins)."""
    if sent != last["source_ts"]:
        return bool(sent < last["source_ts"])
    if version is not None and last["source_version"] is not None:
        return bool(version < last["source_version"])
    return bool(last["ended"]) and not ending


def fault_origin(exc: BaseException) -> str:
    """Where an exception was raised (``store.py:173``): a place, never its text."""
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "unknown"


class FeedRejected(Exception):
    """An item the store cannot apply. ``field`` names what is missing or wrong (an HL7
    location such as ``PID^1^5``, or a CSV column); never a value."""

    def __init__(self, field: str, text: str) -> None:
        self.field = field
        self.text = text
        super().__init__(f"{field}: {text}")


class AmbiguousPatient(FeedRejected):
    """The identifier's cleaned form was more than one stored patient's (``feed_key_conflicts``,
    :mod:`carrier.feeds.rekey`): which one is meant is the clinic's to resolve."""

    def __init__(self, field: str) -> None:
        super().__init__(field, "patient identifier matches more than one patient on file;"
                                " not applied until the clinic resolves them")


class RetiredIdentifier(FeedRejected):
    """The identifier was merged away by an A40 (:mod:`carrier.feeds.merge`) and this item
    was sent after the merge: it names no one any more, so it is not applied to anyone."""

    def __init__(self, field: str) -> None:
        super().__init__(field, "patient identifier retired by a merge (A40); send the"
                                " surviving identifier, or a new one for a new patient")


class ReusedMessageId(FeedRejected):
    """The source already sent this message id with other content."""

    def __init__(self) -> None:
        super().__init__("MSH^1^10", "control id already used for a different message")


@dataclass(frozen=True)
class PatientIn:
    authority: str
    mrn: str
    name: str | None
    phone: str | None  # E.164
    dob: dt.date | None
    state: str | None = None
    language: str | None = None  # preferred, any language's code as said (language_tag)
    # The same patient's identifiers under other authorities, (authority, id): HL7 PID-3's
    # other MR repetitions. Any one on file finds the patient; the others are linked.
    alternates: tuple[tuple[str, str], ...] = ()
    # Fields the source deleted (HL7 null): cleared from the record (records' CLEARABLE:
    # "phone", "dob"), unless the demographics on file were sent later.
    cleared: tuple[str, ...] = ()

    def __repr__(self) -> str:  # never print PHI by accident
        return f"PatientIn(authority={self.authority!r})"

    def fields(self) -> PatientFields:
        """What this item gives of the patient's record (None: not given, kept)."""
        return PatientFields(self.name, self.phone, self.dob, self.state, self.language)


@dataclass(frozen=True)
class AppointmentIn:
    ref: str
    kind: ScheduleChangeKind
    starts_at: dt.datetime | None  # None: a cancellation (deletion, no-show) without times
    ends_at: dt.datetime | None
    provider_ref: str = "unassigned"
    provider_name: str = ""


@dataclass(frozen=True)
class PrescriptionIn:
    ref: str
    medication: str
    pharmacy: str
    refill_due: dt.date | None
    active: bool = True

    def __repr__(self) -> str:  # never print PHI by accident
        return f"PrescriptionIn(ref={self.ref!r})"


@dataclass(frozen=True)
class FeedItem:
    source: str
    message_id: str
    kind: str  # SIU^S12, ADT^A08, csv ...
    patient: PatientIn
    appointment: AppointmentIn | None
    sent_at: dt.datetime | None = None
    # Where name, phone and the patient identifier come from (named in a refusal).
    fields: tuple[str, ...] = ("PID^1^5", "PID^1^13", "PID^1^3")
    prescription: PrescriptionIn | None = None
    digest: bytes | None = None  # the content's hash (HL7): a reused message id is refused
    merge_from: tuple[str, str] | None = None  # ADT^A40: the prior (authority, MRN)
    # Whose numbering message_id is (HL7: MSH-3^MSH-4, each system counts its own);
    # "" = the source's.
    scope: str = ""
    # The source's version of the resource (FHIR meta.versionId, a whole number): orders
    # two changes sent in the same second. None: not known.
    version: int | None = None


@dataclass(frozen=True)
class Applied:
    duplicate: bool
    patient_id: UUID | None = None
    patient_created: bool = False
    appointment_id: str | None = None
    stale: bool = False
    language: LanguageFromFeed | None = None  # what the message's language did
    merged: bool = False  # A40: the prior identifier was re-linked to this patient
    cleared: tuple[str, ...] = ()  # fields the message deleted that held a value


class FeedStore:
    def __init__(self, records: Records, feed: ScheduleFeed | None, *,
                 phone_is_consent: bool = False, timeout: float = 10.0) -> None:
        self.records = records
        self.feed = feed
        self.phone_is_consent = phone_is_consent
        self.timeout = timeout
        self.rekeyed = False  # identifiers stored before keys were cleaned: re-keyed once

    async def ready(self, now: dt.datetime) -> None:
        """Before the first item: the identifiers stored before keys were cleaned
        re-keyed (:mod:`carrier.feeds.rekey`; a no-op once done)."""
        if not self.rekeyed:
            from carrier.feeds.rekey import rekey_identifiers  # noqa: PLC0415 - cycle

            await rekey_identifiers(self, now)
            self.rekeyed = True

    async def apply(self, item: FeedItem, now: dt.datetime) -> Applied:
        from carrier.feeds.merge import MergeRefused  # noqa: PLC0415 - cycle

        await self.ready(now)
        try:
            async with self.records.pool.acquire(timeout=self.timeout) as conn, \
                    conn.transaction():
                applied = await self._apply(conn, item, now)
        except MergeRefused as exc:  # rolled back; the clinic is told whom it is about
            for pid in exc.patients:
                await self.records.audit(ACTOR, "feed.patient.merge_refused", ("patient", pid),
                                         f"{item.kind} {item.source}/{item.message_id}",
                                         at=now)
            raise
        await self.audit(item, applied, now)
        return applied

    async def _apply(self, conn: asyncpg.Connection, item: FeedItem, now: dt.datetime
                     ) -> Applied:
        digest = None if item.digest is None else blind_index(
            self.records.keys.index_key, "feed-message:" + item.digest.hex())
        scope = item.scope or item.source
        claimed = await conn.fetchval(
            "INSERT INTO feed_messages (source, control_id, kind, received_at, digest)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING 1",
            scope, item.message_id, item.kind, now, digest)
        if claimed is None:
            prior = await conn.fetchval(
                "SELECT digest FROM feed_messages WHERE source = $1 AND control_id = $2",
                scope, item.message_id)
            if digest is not None and prior is not None and prior != digest:
                raise ReusedMessageId
            return Applied(duplicate=True)
        if item.merge_from is not None:
            from carrier.feeds.merge import relink  # noqa: PLC0415 - cycle

            pid, merged, language, cleared = await relink(self, conn, item, now)
            return Applied(False, pid, False, merged=merged, language=language,
                           cleared=cleared)
        pid, created, language, cleared = await self._patient(conn, item, now)
        appt, rx = item.appointment, item.prescription
        if (appt is not None or rx is not None) and self.feed is None:
            raise FeedRejected("SCH", "this application takes no schedule feed")
        if rx is not None:
            assert self.feed is not None
            await self.feed.apply_prescription(conn, PrescriptionChange(
                source=item.source, prescription_ref=rx.ref, patient_id=str(pid),
                medication=rx.medication, pharmacy=rx.pharmacy, refill_due=rx.refill_due,
                active=rx.active))
        if appt is None:
            return Applied(False, pid, created, language=language, cleared=cleared)
        assert self.feed is not None
        last = await conn.fetchrow(
            "SELECT source_ts, ended, source_version FROM feed_appointments"
            " WHERE source = $1 AND ref = $2 FOR UPDATE", item.source, appt.ref)
        ending = appt.kind in ENDING_KINDS
        # No send time: by arrival (applied), the last send time on file kept.
        sent = item.sent_at or (last["source_ts"] if last is not None else UNTIMED)
        if last is not None and item.sent_at is not None and _older(
                sent, item.version, ending, last):
            return Applied(False, pid, created, stale=True, language=language,
                           cleared=cleared)
        change = ScheduleChange(
            source=item.source, appointment_ref=appt.ref, patient_id=str(pid),
            kind=appt.kind, starts_at=appt.starts_at, ends_at=appt.ends_at, changed_at=now,
            provider_ref=appt.provider_ref, provider_name=appt.provider_name)
        app_id = await self.feed.apply_schedule(conn, change)
        await conn.execute(
            "INSERT INTO feed_appointments (source, ref, app_id, patient_id, source_ts, ended,"
            " source_version) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (source, ref)"
            " DO UPDATE SET app_id = EXCLUDED.app_id, patient_id = EXCLUDED.patient_id,"
            " source_ts = EXCLUDED.source_ts, ended = EXCLUDED.ended,"
            " source_version = EXCLUDED.source_version", item.source, appt.ref,
            app_id, pid, sent, ending, item.version)
        return Applied(False, pid, created, app_id, language=language, cleared=cleared)

    async def end_appointment(self, source: str, ref: str, message_id: str,
                              sent: dt.datetime, now: dt.datetime) -> Applied:
        """The source deleted appointment ``ref`` (a FHIR delete names no patient: the
        appointment's own feed row says whose it is). One never applied is left alone; a
        repeat (``message_id``) is a duplicate."""
        async with self.records.pool.acquire(timeout=self.timeout) as conn, \
                conn.transaction():
            claimed = await conn.fetchval(
                "INSERT INTO feed_messages (source, control_id, kind, received_at)"
                " VALUES ($1, $2, 'delete', $3) ON CONFLICT DO NOTHING RETURNING 1",
                source, message_id, now)
            if claimed is None:
                return Applied(duplicate=True)
            row = await conn.fetchrow(
                "SELECT patient_id, source_ts FROM feed_appointments WHERE source = $1"
                " AND ref = $2 FOR UPDATE", source, ref)
            if row is None or self.feed is None or sent < row["source_ts"]:
                return Applied(False)
            app_id = await self.feed.apply_schedule(conn, ScheduleChange(
                source=source, appointment_ref=ref, patient_id=str(row["patient_id"]),
                kind=ScheduleChangeKind.DELETED, starts_at=None, ends_at=None,
                changed_at=now))
            await conn.execute("UPDATE feed_appointments SET source_ts = $3, ended = true,"
                               " source_version = NULL WHERE source = $1 AND ref = $2",
                               source, ref, sent)
        await self.records.audit(ACTOR, f"feed.appointment.{ScheduleChangeKind.DELETED}",
                                 ("appointment", app_id), f"delete {source}/{message_id}",
                                 at=now)
        return Applied(False, row["patient_id"], False, app_id)

    def patient_key(self, authority: str, mrn: str) -> bytes:
        """The keyed blind index of ``authority|mrn`` in their cleaned form (control
        characters as spaces, runs of spaces one, trimmed: as HL7 fields are read)."""
        return blind_index(self.records.keys.index_key, f"{clean(authority)}|{clean(mrn)}")

    async def _patient(self, conn: asyncpg.Connection, item: FeedItem, now: dt.datetime
                       ) -> tuple[UUID, bool, LanguageFromFeed | None, tuple[str, ...]]:
        """(the patient, whether created, what its language did, the fields cleared)."""
        p = item.patient
        bidx = self.patient_key(p.authority, p.mrn)
        alt = {k: ident for ident in p.alternates
               if (k := self.patient_key(*ident)) != bidx}
        # Serialise on the patient (ordered per patient), before looking them up; one
        # order for all of a message's identifiers, so two messages cannot deadlock.
        for key in sorted({bidx, *alt}):
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))",
                               "feed-patient:" + key.hex())
        row = await conn.fetchrow(
            "SELECT patient_id, source_ts FROM feed_patients WHERE ref_bidx = $1", bidx)
        unlinked: dict[bytes, tuple[str, str]] = {}
        if alt:  # PID-3's other MR identifiers: one patient, found by any of them
            on_file = await conn.fetch(
                "SELECT ref_bidx, patient_id, source_ts FROM feed_patients"
                " WHERE ref_bidx = ANY($1::bytea[])", list(alt))
            if len({r["patient_id"] for r in on_file} | (
                    {row["patient_id"]} if row is not None else set())) > 1:
                raise AmbiguousPatient(item.fields[-1])
            linked = {bytes(r["ref_bidx"]) for r in on_file}
            unlinked = {k: ident for k, ident in alt.items() if k not in linked}
            if row is None and on_file:
                row = on_file[0]
                unlinked[bidx] = (p.authority, p.mrn)
        if row is None:
            if await conn.fetchval("SELECT 1 FROM feed_key_conflicts WHERE ref_bidx = $1"
                                   " LIMIT 1", bidx):
                raise AmbiguousPatient(item.fields[-1])
            merged = await conn.fetchrow(
                "SELECT patient_id, merged_at FROM feed_merged WHERE ref_bidx = $1", bidx)
            if merged is not None:  # an identifier an A40 merged away (carrier.feeds.merge)
                if (item.sent_at or now) > merged["merged_at"]:
                    raise RetiredIdentifier(item.fields[-1])
                return merged["patient_id"], False, None, ()  # sent before it: a late one
            pid = await self._create(conn, item, bidx, now)
            await self._link(conn, unlinked, pid, now, item.sent_at)
            return pid, True, None, ()
        pid, sent = row["patient_id"], item.sent_at
        await self._link(conn, unlinked, pid, now, row["source_ts"])
        if not (p.name or p.phone or p.dob or p.state or p.language or p.cleared):
            return pid, False, None, ()  # names the patient only (a FHIR Appointment ...)
        if row["source_ts"] is not None and sent is not None and sent < row["source_ts"]:
            return pid, False, None, ()  # sent before the demographics on file: stale, kept
        language = await self._update(conn, pid, p)
        cleared = await self.records.clear_patient_fields_on(conn, pid, p.cleared)
        # No send time: by arrival (applied), the last send time on file kept. Every
        # identifier of the patient's: the demographics on file are theirs, not one key's.
        await conn.execute("UPDATE feed_patients SET source_ts = COALESCE($2, source_ts),"
                           " updated_at = $3 WHERE patient_id = $1", pid, sent, now)
        return pid, False, language, cleared

    async def _create(self, conn: asyncpg.Connection, item: FeedItem, bidx: bytes,
                      now: dt.datetime) -> UUID:
        p = item.patient
        if not p.name:
            raise FeedRejected(item.fields[0], "patient name required for a new patient")
        if not p.phone:
            raise FeedRejected(item.fields[1], "phone number required for a new patient")
        pid = uuid4()
        await self.records.create_patients_on(
            conn, [(pid, p.fields())], now)
        keys = self.records.keys
        await conn.execute(
            "INSERT INTO feed_patients (ref_bidx, authority, ref_ct, patient_id, updated_at,"
            " source_ts) VALUES ($1, $2, $3, $4, $5, $6)", bidx, p.authority,
            keys.encrypt(p.mrn, "feed_patients", "ref_ct", bidx.hex()), pid, now,
            item.sent_at)
        return pid

    async def _link(self, conn: asyncpg.Connection, keys: dict[bytes, tuple[str, str]],
                    pid: UUID, now: dt.datetime, sent: dt.datetime | None) -> None:
        """More identifiers ((authority, id) by key) of patient ``pid``."""
        await conn.executemany(
            "INSERT INTO feed_patients (ref_bidx, authority, ref_ct, patient_id, updated_at,"
            " source_ts) VALUES ($1, $2, $3, $4, $5, $6)",
            [(key, authority, self.records.keys.encrypt(mrn, "feed_patients", "ref_ct",
                                                        key.hex()), pid, now, sent)
             for key, (authority, mrn) in keys.items()])

    async def _update(self, conn: asyncpg.Connection, pid: UUID, p: PatientIn
                      ) -> LanguageFromFeed | None:
        """Re-encrypt the fields the message carries; the others stay as they are (a
        person's choice of language too, unless the EHR's changed: the records' rule)."""
        languages = await self.records.update_patients_on(conn, [(pid, p.fields())])
        return languages[0] if languages else None

    async def audit(self, item: FeedItem, applied: Applied, now: dt.datetime, *,
                     queued: bool = False) -> None:
        if applied.duplicate or applied.patient_id is None:
            return
        pid = applied.patient_id
        what = "feed.patient.create" if applied.patient_created else "feed.patient.update"
        # Control ids are often long digit runs: they go in the reason, not the details
        # (which refuse anything that looks like a phone or member number).
        reason = f"{item.kind} {item.source}/{item.message_id}"
        await self.records.audit(ACTOR, what, ("patient", pid), reason, at=now, queued=queued)
        await self._audit_language(applied.language, reason, now, queued=queued)
        await self.records.audit_cleared(ACTOR, pid, applied.cleared, reason, at=now,
                                         queued=queued)
        if applied.merged:
            await self.records.audit(ACTOR, "feed.patient.merge", ("patient", pid), reason,
                                     at=now, queued=queued)
        if applied.patient_created and self.phone_is_consent and item.patient.phone:
            # The clinic's setting says a number given at registration is the patient's
            # prior express consent to informational (healthcare) calls on it.
            await self.records.consent_grant(
                pid, Channel.VOICE, ConsentKind.TCPA_EXPRESS, source=f"feed:{item.source}",
                evidence_ref=f"{item.kind}:{item.message_id}", actor=ACTOR, at=now)
        if applied.appointment_id is not None or applied.stale:
            appt = item.appointment
            assert appt is not None
            action = "feed.appointment.stale" if applied.stale else f"feed.appointment.{appt.kind}"
            await self.records.audit(ACTOR, action,
                                     ("appointment", applied.appointment_id or appt.ref),
                                     reason, at=now, queued=queued)

    async def _audit_language(self, lang: LanguageFromFeed | None, reason: str,
                              now: dt.datetime, *, queued: bool) -> None:
        """A feed's language that changed the preference or what the EHR says ("vi": calls
        in English, an interpreter for staff), or that a person's choice outlived
        (``.held``, with whose choice was kept); an unchanged one is not news."""
        if lang is None or (lang.kept is None and lang.now == lang.was
                            and lang.given == lang.was_feed):
            return  # nothing new: neither the preference nor what the EHR says
        details = {"language": lang.given if lang.kept else lang.now or "-",
                   "was": lang.was or "-", "source": ACTOR, "ehr": lang.given}
        if lang.kept is not None:
            details["kept"] = lang.kept
        action = "patient.language.held" if lang.kept else "patient.language"
        await self.records.audit(ACTOR, action, ("patient", lang.patient_id), reason,
                                 details, at=now, queued=queued)
