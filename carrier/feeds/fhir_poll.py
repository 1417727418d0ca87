"""Polling a FHIR R4 server for schedule changes (``_lastUpdated``), into the feed store.

Each poll reads, per resource type, what changed since the stored cursor
(``feed_cursors``, itself included: ``ge``), page by page: Patient (upserted by
identifier), Practitioner (names for providers), Schedule and Slot (read and counted: the
local calendar keeps no copy of a remote one), Appointment (one :class:`FeedItem` each, as
an SIU would bring it) and MedicationRequest (the prescriptions refill calls speak about).
Each resource version is one item with its own id (``Type/id/_history/version``), so a
re-read is a no-op. A resource that cannot be mapped is skipped and counted, never
half-applied.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import Counter
from typing import Any

import asyncpg

from carrier.feeds.fhir_client import FhirClient, FhirHttpError, instant
from carrier.feeds.store import (
    AppointmentIn,
    FeedItem,
    FeedRejected,
    FeedStore,
    PatientIn,
    PrescriptionIn,
    fault_origin,
)
from carrier.plugin import ENDING_KINDS, ScheduleChangeKind
from carrier.records.crypto import InvalidPhoneNumber, normalize_e164
from carrier.records.languages import language_tag

log = logging.getLogger(__name__)
ORDER = ("Patient", "Practitioner", "Schedule", "Slot", "Appointment", "MedicationRequest")
APPOINTMENT_KIND = {
    "booked": ScheduleChangeKind.BOOKED, "cancelled": ScheduleChangeKind.CANCELLED,
    "noshow": ScheduleChangeKind.NO_SHOW, "entered-in-error": ScheduleChangeKind.DELETED,
    # Not a confirmed visit, so not one to remind anyone of: "to be scheduled/confirmed in
    # the future", "not yet finalised", "some participants have not accepted". Each ends
    # a booking (no reminder); booked (again), it is booked.
    "waitlist": ScheduleChangeKind.CANCELLED, "proposed": ScheduleChangeKind.CANCELLED,
    "pending": ScheduleChangeKind.CANCELLED,
}
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MAX_MINUTES = 31 * 24 * 60  # a longer minutesDuration is a server's error


def _ref(res: dict[str, Any], prefix: str, *keys: str) -> str | None:
    node: Any = res
    for key in keys:
        node = node.get(key, {}) if isinstance(node, dict) else {}
    text = node.get("reference", "") if isinstance(node, dict) else ""
    # Relative (Patient/p1), absolute (https://host/fhir/Patient/p1) or versioned
    # (Patient/p1/_history/2): the id after the type.
    parts = str(text).split("?", 1)[0].split("/")
    if "_history" in parts:
        parts = parts[:parts.index("_history")]
    return parts[-1] if len(parts) >= 2 and parts[-2] == prefix and parts[-1] else None


def _updated(res: dict[str, Any], now: dt.datetime) -> dt.datetime:
    """``meta.lastUpdated``; ``now`` when the server gave none it could be read by."""
    try:
        return instant(res["meta"]["lastUpdated"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return now


def _deletion(entry: dict[str, Any], rtype: str, now: dt.datetime
              ) -> tuple[list[str], dt.datetime] | None:
    """(url parts, when) of a history entry that deletes an ``rtype``; None for any other
    entry, or one the server wrote so that it cannot be read (skipped, not a stuck poll)."""
    try:
        request, response = entry.get("request", {}), entry.get("response", {})
        parts = str(request.get("url", "")).split("/")
        if request.get("method") != "DELETE" or len(parts) < 2 or parts[0] != rtype:
            return None
        return parts, instant(response.get("lastModified") or now.isoformat())
    except (AttributeError, TypeError, ValueError) as exc:
        log.info("fhir: a %s history entry skipped (%s)", rtype, exc.__class__.__name__)
        return None


def _version(res: dict[str, Any]) -> str:
    meta = res.get("meta", {})
    return str(meta.get("versionId") or meta.get("lastUpdated") or "0")


def _version_number(res: dict[str, Any]) -> int | None:
    """``meta.versionId`` when it is a whole number (orders versions stamped in the same
    second); None otherwise (a server's opaque version orders nothing)."""
    text = str(res.get("meta", {}).get("versionId") or "")
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def patient_in(res: dict[str, Any], source: str) -> PatientIn:
    """Patient -> the feed's patient: keyed by the source and the resource id (the
    server's own identity for it), with name, phone, birth date and state when given.
    An update replaces the whole resource: no phone in ``telecom`` (an unreadable one is
    one) and no ``birthDate`` say the EHR removed them, so they are cleared."""
    name = (res.get("name") or [{}])[0]
    given = " ".join(name.get("given", []))
    full = " ".join(p for p in (given, name.get("family", "")) if p) or None
    phone = None
    for tel in res.get("telecom", []):
        if tel.get("system") == "phone":
            try:
                phone = normalize_e164(tel.get("value", ""))
                break
            except InvalidPhoneNumber:
                continue
    dob = dt.date.fromisoformat(res["birthDate"]) if len(res.get("birthDate", "")) == 10 \
        else None
    state = ((res.get("address") or [{}])[0].get("state") or "").upper()
    has_phone = any(isinstance(t, dict) and t.get("system") in ("phone", "sms")
                    for t in _list(res.get("telecom")))
    cleared = (() if has_phone else ("phone",)) + (() if "birthDate" in res else ("dob",))
    return PatientIn(source, res["id"], full, phone, dob,
                     state if len(state) == 2 and state.isalpha() else None,
                     preferred_language(res), cleared=cleared)


def preferred_language(res: dict[str, Any]) -> str | None:
    """Patient.communication: the one marked ``preferred`` (else the only one), read from
    its coding's code (BCP 47 "es-MX", "vi": any language, ``language_tag``) or text (a
    language's English name, "Vietnamese"); None when it names none."""
    told = [c for c in _list(res.get("communication")) if isinstance(c, dict)]
    chosen = [c for c in told if c.get("preferred") is True] or (told if len(told) == 1
                                                                  else [])
    for entry in chosen[:1]:
        concept = entry.get("language")
        if not isinstance(concept, dict):
            return None  # a server's malformed resource: the stored language stays
        for coding in _list(concept.get("coding")):
            code = language_tag(str(coding.get("code") or "")) \
                if isinstance(coding, dict) else None
            if code is not None:
                return code
        return language_tag(str(concept.get("text") or ""))
    return None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


class FhirPoller:
    def __init__(self, client: FhirClient, store: FeedStore, *, source: str = "fhir",
                 page: int = 50, tz: dt.tzinfo = dt.UTC) -> None:
        self.client = client
        self.tz = tz  # of an appointment time a server sent without its offset
        self.store = store
        self.source = source
        self.page = page
        self.providers: dict[str, str] = {}

    async def poll_once(self, now: dt.datetime) -> Counter[str]:
        counts: Counter[str] = Counter()
        for rtype in ORDER:
            since = await self._cursor(rtype)
            newest = since
            # ``ge``: a server that keeps lastUpdated to the second may write more in the
            # cursor's second after the last poll; re-reading that second is a no-op (each
            # version is claimed once), and is not counted.
            params = {"_lastUpdated": f"ge{since.isoformat()}", "_count": str(self.page),
                      "_sort": "_lastUpdated"}
            held: dt.datetime | None = None  # the first resource a fault of ours held back
            async for res in self.client.search(rtype, params):
                updated = _updated(res, now)
                newest = max(newest, updated)
                result = await self._one(rtype, res, now)
                if result == "failed":
                    held = updated if held is None else min(held, updated)
                if updated > since or result == "applied":
                    counts[f"{rtype}:{result}"] += 1
            # Not past a resource that failed on our side: the next poll reads it again
            # (the ones after it are duplicates then), so a fixed bug loses no change.
            newest = newest if held is None else min(newest, held)
            if newest > since:
                await self._save_cursor(rtype, newest)
        await self._deletions("Appointment", now, counts)
        return counts

    async def _save_cursor(self, resource: str, newest: dt.datetime) -> None:
        await self.store.records.pool.execute(
            "INSERT INTO feed_cursors (source, resource, last_updated) VALUES ($1, $2, $3)"
            " ON CONFLICT (source, resource) DO UPDATE SET last_updated ="
            " EXCLUDED.last_updated", self.source, resource, newest)

    async def _deletions(self, rtype: str, now: dt.datetime, counts: Counter[str]) -> None:
        """Deleted resources never come back from a search: the type's history names them.
        A server without type-level history (or failing it) is skipped this time."""
        key = f"{rtype}/_history"
        since = newest = await self._cursor(key)
        held: dt.datetime | None = None  # as in poll_once: not past a deletion that failed
        try:
            async for entry in self.client.history(rtype, since):
                deleted = _deletion(entry, rtype, now)
                if deleted is None:
                    continue
                parts, when = deleted
                newest = max(newest, when)
                try:
                    applied = await self.store.end_appointment(
                        self.source, parts[1], "/".join(parts), when, now)
                except Exception as exc:  # noqa: BLE001 - as in _one: this deletion only
                    log.error("fhir: %s deletion not applied: internal fault (%s at %s)",  # noqa: TRY400
                              rtype, exc.__class__.__name__, fault_origin(exc))
                    held = when if held is None else min(held, when)
                    continue
                if not applied.duplicate and applied.appointment_id is not None:
                    counts[f"{rtype}:deleted"] += 1
        except FhirHttpError as exc:
            log.info("fhir: %s history not read (%d)", rtype, exc.status)
            return
        if held is not None:
            newest = min(newest, held - dt.timedelta(microseconds=1))
        if newest > since:
            await self._save_cursor(key, newest)

    async def _cursor(self, rtype: str) -> dt.datetime:
        value = await self.store.records.pool.fetchval(
            "SELECT last_updated FROM feed_cursors WHERE source = $1 AND resource = $2",
            self.source, rtype)
        return value or EPOCH

    async def _one(self, rtype: str, res: dict[str, Any], now: dt.datetime) -> str:
        try:
            item = self._read(rtype, res)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError,
                OverflowError) as exc:
            # A resource the server got wrong (no id, a date that is none, a name that is
            # a string): skipped and counted, so the poll goes on past it.
            log.info("fhir: %s skipped (%s)", rtype, exc.__class__.__name__)
            return "skipped"
        if item is None or isinstance(item, str):
            return item or "skipped"
        try:
            applied = await self.store.apply(item, now)
        except FeedRejected as exc:
            log.info("fhir: %s skipped (%s)", rtype, exc.field)
            return "skipped"
        except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError) as exc:
            # The database refuses this content as such (rolled back): reading it again
            # next poll would be refused again, so it is skipped, not retried for ever.
            log.warning("fhir: %s refused by the database (%s)", rtype,
                        exc.__class__.__name__)
            return "skipped"
        except Exception as exc:  # noqa: BLE001 - the edge: a fault costs this resource only
            # A bug of ours or the application's (rolled back): this poll goes on past it,
            # the cursor stays before it (read again next poll); class and place only (its
            # text may hold a name).
            log.error("fhir: %s not applied: internal fault (%s at %s)", rtype,  # noqa: TRY400
                      exc.__class__.__name__, fault_origin(exc))
            return "failed"
        return "duplicate" if applied.duplicate else "applied"

    def _read(self, rtype: str, res: dict[str, Any]) -> FeedItem | str | None:
        """The item a resource brings; "read" for those only read; None: not mappable."""
        if rtype == "Practitioner":
            name = (res.get("name") or [{}])[0]
            self.providers[res["id"]] = " ".join(
                [*name.get("prefix", []), *name.get("given", []), name.get("family", "")]
            ).strip()
            return "read"
        if rtype in ("Schedule", "Slot"):
            return "read"
        # Text that is no Unicode (a lone surrogate from "\ud800") cannot be encrypted or
        # stored: UnicodeEncodeError, a ValueError, skips the resource here.
        json.dumps(res, ensure_ascii=False).encode()
        return self._item(rtype, res)

    def _item(self, rtype: str, res: dict[str, Any]) -> FeedItem | None:
        mid = f"{rtype}/{res['id']}/_history/{_version(res)}"
        sent = instant(res["meta"]["lastUpdated"]) if "lastUpdated" in res.get("meta", {}) \
            else None
        if rtype == "Patient":
            return FeedItem(self.source, mid, "fhir:Patient", patient_in(res, self.source),
                            None, sent, ("Patient.name", "Patient.telecom"))
        if rtype == "Appointment":
            return self._appointment(res, mid, sent)
        pid = _ref(res, "Patient", "subject")
        if pid is None:
            return None
        med = res.get("medicationCodeableConcept", {})
        medication = med.get("text") or next(
            (c.get("display") for c in med.get("coding", []) if c.get("display")), None)
        if not medication:
            return None
        dispense = res.get("dispenseRequest", {})
        pharmacy = dispense.get("performer", {}).get("display") or "your pharmacy"
        end = dispense.get("validityPeriod", {}).get("end")
        rx = PrescriptionIn(res["id"], medication, pharmacy,
                            dt.date.fromisoformat(end[:10]) if end else None,
                            active=res.get("status") == "active")
        return FeedItem(self.source, mid, "fhir:MedicationRequest",
                        PatientIn(self.source, pid, None, None, None), None, sent,
                        ("Patient.name", "Patient.telecom"), prescription=rx)

    def _appointment(self, res: dict[str, Any], mid: str, sent: dt.datetime | None
                     ) -> FeedItem | None:
        kind = APPOINTMENT_KIND.get(res.get("status", ""))
        pid = next((_ref(p, "Patient", "actor") for p in res.get("participant", [])
                    if _ref(p, "Patient", "actor")), None)
        if kind is None or pid is None or ("start" not in res and kind not in ENDING_KINDS):
            return None
        start = end = None  # a cancelled (noshow, entered-in-error) one may have no times
        if "start" in res:
            start = instant(res["start"], self.tz)
            minutes = int(res.get("minutesDuration", 30))
            if not 0 < minutes <= MAX_MINUTES:
                raise ValueError("minutesDuration out of range")
            end = instant(res["end"], self.tz) if "end" in res \
                else start + dt.timedelta(minutes=minutes)
            if end <= start:
                raise ValueError("an appointment that ends before it starts")
        doc = next((_ref(p, "Practitioner", "actor") for p in res.get("participant", [])
                    if _ref(p, "Practitioner", "actor")), None) or "unassigned"
        return FeedItem(self.source, mid, "fhir:Appointment",
                        PatientIn(self.source, pid, None, None, None),
                        AppointmentIn(res["id"], kind, start, end, doc,
                                      self.providers.get(doc, "")), sent,
                        ("Patient.name", "Patient.telecom"), version=_version_number(res))
