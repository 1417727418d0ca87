"""Where the simulator (and later the call handler) gets patient data: ``RecordSource``.

``ClinicFileSource`` reads the demo clinic file (config/clinic.yaml); the lead can
back the same interface with Postgres. ``build_record`` turns rows into the
template scope a workflow sees (spoken dates and times included).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from agent.scheduling import (
    Appointment,
    AppointmentStatus,
    Calendar,
    InMemoryCalendar,
    Provider,
    Slot,
    working_hour_slots,
)
from carrier.clinic_file import read_clinic_file


@dataclass(frozen=True)
class ClinicInfo:
    name: str
    callback_number: str
    timezone: str
    insurance_carriers: tuple[str, ...] = ()
    queues: Mapping[str, str] = field(default_factory=dict)
    address_line: str = ""
    """Street address, as texted to a patient who asks for it (not PHI)."""
    open_days: tuple[int, ...] = ()
    """Weekdays the clinic works (0 is Monday), from the file's ``hours``; with
    ``opens``/``closes`` ("09:00", "17:00") it answers "what are your hours?" (not PHI)."""
    opens: str = ""
    closes: str = ""


class RecordSource(Protocol):
    def clinic(self) -> ClinicInfo: ...

    def patient(self, patient_id: str) -> Mapping[str, Any] | None: ...

    def prescription(self, patient_id: str) -> Mapping[str, Any] | None: ...

    def calendar(self, now: dt.datetime) -> Calendar: ...


class ClinicFileSource:
    """The demo clinic YAML: clinic, providers, hours, patients, appointments."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._data: dict[str, Any] = read_clinic_file(path)  # ConfigError: file, key, why

    def clinic(self) -> ClinicInfo:
        c = self._data["clinic"]
        hours = self._data.get("hours") or {}
        return ClinicInfo(str(c["name"]), str(c["callback_number"]),
                          str(c.get("timezone", "America/New_York")),
                          tuple(self._data.get("insurance_carriers", [])),
                          address_line=str(c.get("address_line", "")),
                          open_days=tuple(int(d) for d in hours.get("weekdays", [0, 1, 2, 3, 4])),
                          opens=str(hours.get("start", "")), closes=str(hours.get("end", "")))

    def patient(self, patient_id: str) -> Mapping[str, Any] | None:
        for p in self._data["patients"]:
            if str(p["id"]) == patient_id:
                return dict(p)
        return None

    def prescription(self, patient_id: str) -> Mapping[str, Any] | None:
        for rx in self._data.get("prescriptions", []):
            if str(rx.get("patient_id")) == patient_id:
                return dict(rx)
        return None

    def calendar(self, now: dt.datetime) -> InMemoryCalendar:
        providers, slots, appointments = self.calendar_data(now)
        return InMemoryCalendar(providers, slots, appointments,
                                tz=ZoneInfo(self.clinic().timezone))

    def calendar_data(self, now: dt.datetime) -> tuple[list[Provider], list[Slot],
                                                        list[Appointment]]:
        """Providers, free slots from working hours, and appointments (to seed any calendar)."""
        tz = ZoneInfo(self.clinic().timezone)
        today = now.astimezone(tz).date()
        providers = [Provider(str(p["id"]), str(p["name"]), str(p.get("specialty", "")))
                     for p in self._data["providers"]]
        hours = self._data.get("hours", {})
        minutes = int(hours.get("slot_minutes", 30))
        appointments = []
        for a in self._data.get("appointments", []):
            if "start" in a:
                start = dt.datetime.fromisoformat(str(a["start"]))
                start = start if start.tzinfo else start.replace(tzinfo=tz)
            else:
                day = today + dt.timedelta(days=int(a["in_days"]))
                start = dt.datetime.combine(day, dt.time.fromisoformat(str(a["time"])), tz)
            appointments.append(Appointment(
                str(a["id"]), str(a["patient_id"]), str(a["provider_id"]), start,
                start + dt.timedelta(minutes=minutes), AppointmentStatus(str(a["status"]))))
        slots = working_hour_slots(
            providers, first_day=today, days=int(hours.get("days_ahead", 14)),
            start=dt.time.fromisoformat(str(hours.get("start", "09:00"))),
            end=dt.time.fromisoformat(str(hours.get("end", "17:00"))), minutes=minutes,
            weekdays=hours.get("weekdays", [0, 1, 2, 3, 4]), tz=tz,
            busy=[(a.provider_id, a.start) for a in appointments])
        return providers, slots, appointments


def spoken_day(when: dt.datetime) -> str:
    return f"{when.strftime('%A')}, {when.strftime('%B')} {when.day}"


def spoken_time(when: dt.datetime) -> str:
    hour = when.hour % 12 or 12
    suffix = "AM" if when.hour < 12 else "PM"
    return f"{hour}:{when.minute:02d} {suffix}" if when.minute else f"{hour} {suffix}"


def slot_label(start: dt.datetime, provider: str | None = None) -> str:
    text = f"{spoken_day(start)} at {spoken_time(start)}"
    return f"{text} with {provider}" if provider else text


def build_record(clinic: ClinicInfo, patient: Mapping[str, Any] | None,
                 appointment: Appointment | None, providers: Mapping[str, Provider],
                 *, prescription: Mapping[str, Any] | None = None,
                 queue_name: str = "our staff",
                 caller: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The scope workflow templates read: ``{org_name}``, ``{appointment.time}``, ...;
    ``caller`` (from `caller_facts`) says whether the caller's number was verified."""
    tz = ZoneInfo(clinic.timezone)
    record: dict[str, Any] = {
        "org_name": clinic.name,
        "callback_number": spoken_phone(clinic.callback_number),
        "queue_name": queue_name,
        "clinic": clinic_scope(clinic),
    }
    if caller is not None:
        record["caller"] = dict(caller)
    if patient is not None:
        record["patient"] = {k: (str(v) if isinstance(v, (dt.date, int)) else v)
                             for k, v in patient.items()}
    if appointment is not None:
        local = appointment.start.astimezone(tz)
        provider = providers.get(appointment.provider_id)
        record["appointment"] = {
            "id": appointment.id, "provider_id": appointment.provider_id,
            "day": spoken_day(local), "time": spoken_time(local),
            "provider": provider.name if provider else "your provider",
            "status": str(appointment.status), "start": local.isoformat(),
        }
    if prescription is not None:
        record["prescription"] = dict(prescription)
    return record


def clinic_scope(clinic: ClinicInfo) -> dict[str, str]:
    """What the clinic's own data says to anyone who asks (no PHI): ``{clinic.address_line}``,
    and ``{clinic.days}``, ``{clinic.opens}``, ``{clinic.closes}`` ("Monday to Friday", "9 AM",
    "5 PM") when the file gives its hours. Absent data is left out, never made up."""
    out = {"address_line": clinic.address_line} if clinic.address_line else {}
    if clinic.open_days and clinic.opens and clinic.closes:
        day = dt.date(2026, 1, 5)  # a Monday: only the time of day is spoken
        out["days"] = spoken_weekdays(clinic.open_days)
        for key, value in (("opens", clinic.opens), ("closes", clinic.closes)):
            out[key] = spoken_time(dt.datetime.combine(day, dt.time.fromisoformat(value)))
    return out


def spoken_weekdays(days: tuple[int, ...]) -> str:
    """(0, 1, 2, 3, 4) -> "Monday to Friday"; (0, 2, 4) -> "Monday, Wednesday and Friday"."""
    names = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
    ordered = sorted(set(days))
    if len(ordered) == len(names):
        return "every day"
    runs: list[list[int]] = []
    for d in ordered:
        if runs and d == runs[-1][-1] + 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    parts: list[str] = []
    for run in runs:
        parts += ([f"{names[run[0]]} to {names[run[-1]]}"] if len(run) >= 3
                  else [names[d] for d in run])
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def spoken_phone(number: str) -> str:
    digits = "".join(ch for ch in number if ch.isdigit())
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) != 10:
        return number
    return f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"


VERIFIED_VERSTAT = "TN-Validation-Passed"


def caller_facts(*, outbound: bool, stir_status: str, verstat: str,
                 attestation: str | None) -> dict[str, Any]:
    """What signalling proved about the caller's number (``carrier.call.CallerInfo``).

    Verified: a call we placed (we dialled the patient's own number), or an inbound call
    whose STIR/SHAKEN verification passed with full attestation (A), or that an upstream
    verifier marked ``TN-Validation-Passed``. Failed or absent verification, or partial
    attestation, leaves it unverified, and identity then needs a second factor."""
    verified = outbound or verstat == VERIFIED_VERSTAT or (
        stir_status == "passed" and attestation == "A")
    return {"verified": verified, "direction": "outbound" if outbound else "inbound",
            "stir_status": stir_status, "verstat": verstat,
            "attestation": attestation or ""}
