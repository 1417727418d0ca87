"""Calendar backed by an EHR over FHIR R4 (Patient, Practitioner, Schedule, Slot, Appointment).

Mapping: Appointment.status booked + patient participant ``accepted`` is our
CONFIRMED (FHIR has no "confirmed" status), ``needs-action`` is BOOKED; cancelled,
noshow and fulfilled map to CANCELLED, MISSED, COMPLETED. A slot is taken with a
versioned ``PUT`` (``If-Match``), so a concurrent booking gets 412 -> ``SlotTaken``.
HTTP runs in a worker thread (``urllib``), one request at a time per call.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from agent.scheduling.model import (
    Appointment,
    AppointmentStatus,
    NotFound,
    Provider,
    SchedulingError,
    Slot,
    SlotTaken,
    matches,
)

_FROM_FHIR = {"booked": AppointmentStatus.BOOKED, "cancelled": AppointmentStatus.CANCELLED,
              "noshow": AppointmentStatus.MISSED, "fulfilled": AppointmentStatus.COMPLETED}
_TO_FHIR = {AppointmentStatus.BOOKED: "booked", AppointmentStatus.CONFIRMED: "booked",
            AppointmentStatus.CANCELLED: "cancelled", AppointmentStatus.MISSED: "noshow",
            AppointmentStatus.COMPLETED: "fulfilled"}
FHIR_JSON = "application/fhir+json"


class FhirError(SchedulingError):
    def __init__(self, status: int, what: str) -> None:
        self.status = status
        super().__init__(f"FHIR server answered {status} for {what}")


def _ref_id(ref: str | None, kind: str) -> str | None:
    if ref and ref.startswith(kind + "/"):
        return ref.split("/", 1)[1]
    return None


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


class FhirCalendar:
    def __init__(self, base_url: str, *, tz: dt.tzinfo, timeout: float = 5.0,
                 headers: dict[str, str] | None = None) -> None:
        self._base = base_url.rstrip("/")
        self._tz = tz
        self._timeout = timeout
        self._headers = dict(headers or {})

    # ---- HTTP -------------------------------------------------------------------------

    def _request_sync(self, method: str, path: str, body: dict[str, Any] | None,
                      extra: dict[str, str]) -> tuple[dict[str, Any], str | None]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": FHIR_JSON, **self._headers, **extra}
        if data is not None:
            headers["Content-Type"] = FHIR_JSON
        url = f"{self._base}/{path}"
        if not url.startswith(("http://", "https://")):
            raise SchedulingError("FHIR base URL must be http(s)")
        req = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=self._timeout) as resp:  # noqa: S310
                payload = resp.read()
                return (json.loads(payload) if payload else {}), resp.headers.get("ETag")
        except urllib.error.HTTPError as exc:
            what = f"{method} {path.split('?', 1)[0]}"
            if exc.code == 404:
                raise NotFound(what) from None
            if exc.code in (409, 412):
                raise SlotTaken(what) from None
            raise FhirError(exc.code, what) from None
        except urllib.error.URLError as exc:
            raise SchedulingError(f"FHIR server unreachable: {exc.reason}") from None

    async def _request(self, method: str, path: str, body: dict[str, Any] | None = None,
                       extra: dict[str, str] | None = None) -> tuple[dict[str, Any], str | None]:
        return await asyncio.to_thread(self._request_sync, method, path, body, extra or {})

    async def _search(self, kind: str, params: dict[str, str]) -> list[dict[str, Any]]:
        bundle, _ = await self._request("GET", f"{kind}?{urllib.parse.urlencode(params)}")
        return [e["resource"] for e in bundle.get("entry", []) if "resource" in e]

    # ---- reads ------------------------------------------------------------------------

    async def patient(self, patient_id: str) -> dict[str, Any]:
        res, _ = await self._request("GET", f"Patient/{urllib.parse.quote(patient_id)}")
        name = (res.get("name") or [{}])[0]
        phone = next((t.get("value") for t in res.get("telecom", [])
                      if t.get("system") == "phone"), None)
        return {"id": res.get("id"), "first_name": " ".join(name.get("given", [])),
                "last_name": name.get("family"), "dob": res.get("birthDate"), "phone": phone}

    async def save_patient(self, patient_id: str | None, *, first_name: str, last_name: str,
                           dob: dt.date | None = None, phone: str | None = None) -> str:
        """Create (``patient_id`` None) or update a Patient; returns its id."""
        body: dict[str, Any] = {"resourceType": "Patient",
                                "name": [{"given": first_name.split(), "family": last_name}]}
        if dob is not None:
            body["birthDate"] = dob.isoformat()
        if phone:
            body["telecom"] = [{"system": "phone", "value": phone}]
        if patient_id is None:
            created, _ = await self._request("POST", "Patient", body)
            return str(created["id"])
        current, etag = await self._request("GET", f"Patient/{urllib.parse.quote(patient_id)}")
        body = {**current, **body, "id": patient_id}
        await self._request("PUT", f"Patient/{patient_id}", body,
                            {"If-Match": etag} if etag else {})
        return patient_id

    async def providers(self) -> list[Provider]:
        out = []
        for res in await self._search("Practitioner", {}):
            name = (res.get("name") or [{}])[0]
            text = name.get("text") or " ".join([*name.get("prefix", []), *name.get("given", []),
                                                 name.get("family", "")]).strip()
            out.append(Provider(res["id"], text))
        return sorted(out, key=lambda p: p.id)

    def _to_appointment(self, res: dict[str, Any]) -> Appointment:
        patient_id = provider_id = None
        accepted = False
        for part in res.get("participant", []):
            ref = part.get("actor", {}).get("reference")
            patient_id = patient_id or _ref_id(ref, "Patient")
            provider_id = provider_id or _ref_id(ref, "Practitioner")
            if _ref_id(ref, "Patient") and part.get("status") == "accepted":
                accepted = True
        status = _FROM_FHIR.get(res.get("status", ""), AppointmentStatus.BOOKED)
        if status == AppointmentStatus.BOOKED and accepted:
            status = AppointmentStatus.CONFIRMED
        slot_id = _ref_id((res.get("slot") or [{}])[0].get("reference"), "Slot")
        if patient_id is None or provider_id is None:
            raise SchedulingError(f"appointment {res.get('id')} lacks patient or practitioner")
        return Appointment(res["id"], patient_id, provider_id, _instant(res["start"]),
                           _instant(res["end"]), status, slot_id)

    async def appointment(self, appointment_id: str) -> Appointment:
        res, _ = await self._request("GET", f"Appointment/{urllib.parse.quote(appointment_id)}")
        return self._to_appointment(res)

    async def appointments_for(self, patient_id: str) -> list[Appointment]:
        found = await self._search("Appointment", {"patient": f"Patient/{patient_id}"})
        return sorted((self._to_appointment(r) for r in found), key=lambda a: a.start)

    async def _schedule_provider(self) -> dict[str, str]:
        out = {}
        for res in await self._search("Schedule", {}):
            for actor in res.get("actor", []):
                pid = _ref_id(actor.get("reference"), "Practitioner")
                if pid:
                    out[res["id"]] = pid
        return out

    async def free_slots(self, *, after: dt.datetime, limit: int = 3,
                         day: dt.date | None = None, part_of_day: str | None = None,
                         provider_id: str | None = None) -> list[Slot]:
        owners = await self._schedule_provider()
        params = {"status": "free", "start": "gt" + after.astimezone(dt.UTC).isoformat(),
                  "_sort": "start", "_count": "200"}
        out = []
        for res in await self._search("Slot", params):
            sched = _ref_id(res.get("schedule", {}).get("reference"), "Schedule")
            owner = owners.get(sched or "")
            if owner is None:
                continue
            slot = Slot(res["id"], owner, _instant(res["start"]), _instant(res["end"]),
                        res.get("status") == "free")
            if matches(slot, after=after, day=day, part_of_day=part_of_day,
                       provider_id=provider_id, tz=self._tz):
                out.append(slot)
        return sorted(out, key=lambda s: (s.start, s.provider_id))[:limit]

    # ---- writes -----------------------------------------------------------------------

    async def book(self, patient_id: str, slot_id: str, now: dt.datetime) -> Appointment:
        slot, etag = await self._request("GET", f"Slot/{urllib.parse.quote(slot_id)}")
        if slot.get("status") != "free":
            raise SlotTaken(f"slot {slot_id}")
        owners = await self._schedule_provider()
        provider_id = owners.get(
            _ref_id(slot.get("schedule", {}).get("reference"), "Schedule") or "")
        if provider_id is None:
            raise SchedulingError(f"slot {slot_id} has no practitioner")
        slot["status"] = "busy"
        await self._request("PUT", f"Slot/{slot_id}", slot, {"If-Match": etag} if etag else {})
        body = {
            "resourceType": "Appointment", "status": "booked",
            "start": slot["start"], "end": slot["end"],
            "slot": [{"reference": f"Slot/{slot_id}"}],
            "created": now.astimezone(dt.UTC).isoformat(),
            "participant": [
                {"actor": {"reference": f"Patient/{patient_id}"}, "status": "needs-action"},
                {"actor": {"reference": f"Practitioner/{provider_id}"}, "status": "accepted"},
            ],
        }
        created, _ = await self._request("POST", "Appointment", body)
        return self._to_appointment(created)

    async def set_status(self, appointment_id: str, status: AppointmentStatus,
                         now: dt.datetime) -> Appointment:
        res, etag = await self._request("GET", f"Appointment/{urllib.parse.quote(appointment_id)}")
        res["status"] = _TO_FHIR[status]
        for part in res.get("participant", []):
            if _ref_id(part.get("actor", {}).get("reference"), "Patient"):
                part["status"] = "accepted" if status == AppointmentStatus.CONFIRMED else (
                    "declined" if status == AppointmentStatus.CANCELLED else part.get("status"))
        if status == AppointmentStatus.CANCELLED:
            res["cancellationDate"] = now.astimezone(dt.UTC).isoformat()
        updated, _ = await self._request("PUT", f"Appointment/{appointment_id}", res,
                                         {"If-Match": etag} if etag else {})
        appt = self._to_appointment(updated)
        if status == AppointmentStatus.CANCELLED and appt.slot_id:
            slot, slot_etag = await self._request("GET", f"Slot/{appt.slot_id}")
            slot["status"] = "free"
            await self._request("PUT", f"Slot/{appt.slot_id}", slot,
                                {"If-Match": slot_etag} if slot_etag else {})
        return appt

    async def reschedule(self, appointment_id: str, slot_id: str,
                         now: dt.datetime) -> Appointment:
        old = await self.appointment(appointment_id)
        new = await self.book(old.patient_id, slot_id, now)
        await self.set_status(appointment_id, AppointmentStatus.CANCELLED, now)
        return new
