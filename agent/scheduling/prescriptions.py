"""Prescriptions due for refill, and the staff tasks a refill request creates.

``RefillDesk`` is the port the workflow host uses: ``due`` finds the prescription a refill
call is about, ``request`` turns the patient's yes into a task for staff. Two
implementations: ``PostgresRefillDesk`` (tables from migration 0105; medication and
pharmacy encrypted with the records keys, every task audited) and ``MemoryRefillDesk``
(the simulator and unit tests). The clinic file's ``prescriptions`` seed the table until
the EHR feed replaces it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from carrier.records.sealed import SealedColumn
from carrier.records.store import Records

sealed_columns = (
    SealedColumn("agent_prescriptions", "medication_ct", "id", bound_column="medication"),
    SealedColumn("agent_prescriptions", "pharmacy_ct", "id", bound_column="pharmacy"))
"""``carrier.plugin.SealsColumns``: medication and pharmacy, encrypted per row."""

TASK_KIND = "refill_request"
# The patient said no refill is needed and why ("I already picked it up", "the doctor
# stopped it"): staff check the record.
NOT_NEEDED_KIND = "refill_not_needed"


@dataclass(frozen=True)
class Prescription:
    id: str
    patient_id: str
    medication: str
    pharmacy: str
    refill_due: dt.date | None = None

    def spoken(self) -> dict[str, Any]:
        """What the workflow's ``lookup_refill`` returns (``vars.rx``)."""
        return {"prescription_id": self.id, "medication": self.medication,
                "pharmacy": self.pharmacy}


@dataclass(frozen=True)
class StaffTask:
    id: int
    kind: str
    queue: str
    patient_id: str | None
    call_id: str | None
    prescription_id: str | None
    created_at: dt.datetime


class RefillDesk(Protocol):
    async def due(self, patient_id: str, now: dt.datetime) -> Prescription | None: ...

    async def request(self, rx: Prescription, *, call_id: str | None,
                      now: dt.datetime, kind: str = TASK_KIND) -> StaffTask: ...


def prescriptions_from(rows: Iterable[Mapping[str, Any]],
                       ids: Mapping[str, str] | None = None) -> list[Prescription]:
    """Clinic-file rows (``patient_id, medication, pharmacy[, id, refill_due]``), patient
    ids mapped through ``ids`` (clinic id -> record id) when given."""
    out = []
    for i, row in enumerate(rows):
        pid = str(row["patient_id"])
        due = row.get("refill_due")
        out.append(Prescription(
            id=str(row.get("id") or f"rx-{pid}-{i + 1}"),
            patient_id=(ids or {}).get(pid, pid), medication=str(row["medication"]),
            pharmacy=str(row["pharmacy"]),
            refill_due=dt.date.fromisoformat(str(due)) if due else None))
    return out


def _pick(candidates: Iterable[Prescription], today: dt.date) -> Prescription | None:
    """The prescription due soonest (those without a date count as due now)."""
    due = [rx for rx in candidates if rx.refill_due is None or rx.refill_due <= today
           + dt.timedelta(days=7)]
    return min(due, key=lambda rx: rx.refill_due or dt.date.min, default=None)


@dataclass
class MemoryRefillDesk:
    prescriptions: list[Prescription]
    queue: str = "pharmacy"
    tasks: list[StaffTask] = field(default_factory=list)

    async def due(self, patient_id: str, now: dt.datetime) -> Prescription | None:
        return _pick((rx for rx in self.prescriptions if rx.patient_id == patient_id),
                     now.date())

    async def request(self, rx: Prescription, *, call_id: str | None,
                      now: dt.datetime, kind: str = TASK_KIND) -> StaffTask:
        task = StaffTask(len(self.tasks) + 1, kind, self.queue, rx.patient_id, call_id,
                         rx.id, now)
        self.tasks.append(task)
        return task


class PostgresRefillDesk:
    def __init__(self, records: Records, *, queue: str = "pharmacy") -> None:
        self.records = records
        self.queue = queue

    async def load(self, prescriptions: Iterable[Prescription], now: dt.datetime) -> int:
        """Seed (or refresh) prescriptions; returns how many were written."""
        keys = self.records.keys
        n = 0
        async with self.records.pool.acquire() as conn, conn.transaction():
            for rx in prescriptions:
                await conn.execute(
                    "INSERT INTO agent_prescriptions (id, patient_id, medication_ct, pharmacy_ct,"
                    " refill_due, updated_at) VALUES ($1, $2, $3, $4, $5, $6)"
                    " ON CONFLICT (id) DO UPDATE SET patient_id = EXCLUDED.patient_id,"
                    " medication_ct = EXCLUDED.medication_ct, pharmacy_ct = EXCLUDED.pharmacy_ct,"
                    " refill_due = EXCLUDED.refill_due, updated_at = EXCLUDED.updated_at",
                    rx.id, rx.patient_id,
                    keys.encrypt(rx.medication, "agent_prescriptions", "medication", rx.id),
                    keys.encrypt(rx.pharmacy, "agent_prescriptions", "pharmacy", rx.id),
                    rx.refill_due, now)
                n += 1
        return n

    async def due(self, patient_id: str, now: dt.datetime) -> Prescription | None:
        rows = await self.records.pool.fetch(
            "SELECT * FROM agent_prescriptions WHERE patient_id = $1", patient_id)
        keys = self.records.keys
        found = [Prescription(
            r["id"], r["patient_id"],
            keys.decrypt_str(r["medication_ct"], "agent_prescriptions", "medication", r["id"]),
            keys.decrypt_str(r["pharmacy_ct"], "agent_prescriptions", "pharmacy", r["id"]),
            r["refill_due"]) for r in rows]
        return _pick(found, now.date())

    async def request(self, rx: Prescription, *, call_id: str | None,
                      now: dt.datetime, kind: str = TASK_KIND) -> StaffTask:
        """A task for staff (to send the refill, or to check a refill the patient says is
        not needed); the row and its audit entry are durable when this returns (the
        patient is then told)."""
        task_id = await self.records.pool.fetchval(
            "INSERT INTO staff_tasks (kind, queue, patient_id, call_id, prescription_id,"
            " created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            kind, self.queue, rx.patient_id, call_id, rx.id, now)
        await self.records.audit(
            "agent", "staff_task.created", ("staff_task", task_id), kind,
            # the call id is in the task row: a carrier's Call-ID of digits reads as a
            # phone number to the audit's PHI guard, which would refuse the entry
            {"queue": self.queue, "prescription_id": rx.id}, at=now)
        return StaffTask(int(task_id), kind, self.queue, rx.patient_id, call_id, rx.id, now)

    async def open_tasks(self, queue: str | None = None) -> list[StaffTask]:
        rows = await self.records.pool.fetch(
            "SELECT * FROM staff_tasks WHERE status = 'open' AND ($1::text IS NULL OR"
            " queue = $1) ORDER BY created_at, id", queue)
        return [StaffTask(r["id"], r["kind"], r["queue"], r["patient_id"], r["call_id"],
                          r["prescription_id"], r["created_at"]) for r in rows]
