"""The staff task queue (``staff_tasks``, migrations 0105 and 0115) as operators work it.

The agent's promises land there: a call-back after a failed transfer (``callback``), a
refill (``refill_request``) or a refill the patient says is not needed
(``refill_not_needed``), an opt-out typed in an unverified web chat
(``opt_out_request``). This module lists them (ids only, never the encrypted details),
reads one with its details decrypted (a PHI read, audited before it is returned), and
closes one (who, when, an encrypted note; audited). ``agent.staff_tasks_cli`` is the
``carrier tasks`` command over it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from carrier.errors import OperatorError
from carrier.records.crypto import DecryptError, UnknownKeyVersion
from carrier.records.store import Records

OPEN, DONE = "open", "done"
STATUSES = (OPEN, DONE)
TABLE = "staff_tasks"


@dataclass(frozen=True)
class TaskRow:
    """What may be listed: ids and words the agent chose, no PHI."""

    id: int
    created_at: dt.datetime
    kind: str
    status: str
    queue: str
    call_id: str | None
    patient_id: str | None
    prescription_id: str | None
    done_at: dt.datetime | None
    done_by: str | None

    def as_doc(self) -> dict[str, Any]:
        return {"id": self.id, "created_at": _utc(self.created_at), "kind": self.kind,
                "status": self.status, "queue": self.queue, "call_id": self.call_id,
                "patient_id": self.patient_id, "prescription_id": self.prescription_id,
                "done_at": _utc(self.done_at) if self.done_at else None,
                "done_by": self.done_by}


@dataclass(frozen=True)
class TaskDetails:
    """One task with its decrypted details: PHI, for ``carrier tasks show`` only."""

    row: TaskRow
    details: str | None  # the number to call (call-backs, opt-out requests)
    note: str | None  # the note of whoever closed it
    medication: str | None  # the prescription of a refill task
    pharmacy: str | None


class UnknownTask(OperatorError):
    def __init__(self, task_id: int) -> None:
        super().__init__(f"no staff task with id {task_id}")


class AlreadyDone(OperatorError):
    def __init__(self, row: TaskRow) -> None:
        when = f"{_utc(row.done_at)}" if row.done_at else "an unknown time"
        super().__init__(f"staff task {row.id} is already done (by {row.done_by or 'unknown'}"
                         f" at {when})")


def _utc(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _row(r: Any) -> TaskRow:
    return TaskRow(int(r["id"]), r["created_at"], r["kind"], r["status"], r["queue"],
                   r["call_id"], r["patient_id"], r["prescription_id"], r["done_at"],
                   r["done_by"])


async def list_tasks(records: Records, *, status: str | None = OPEN,
                     kind: str | None = None) -> list[TaskRow]:
    """Tasks oldest first (the order they are to be worked in); ``status`` None: all."""
    rows = await records.pool.fetch(
        "SELECT id, created_at, kind, status, queue, call_id, patient_id, prescription_id,"
        " done_at, done_by FROM staff_tasks WHERE ($1::text IS NULL OR status = $1)"
        " AND ($2::text IS NULL OR kind = $2) ORDER BY created_at, id", status, kind)
    return [_row(r) for r in rows]


async def _get(db: Any, task_id: int) -> Any:
    row = await db.fetchrow(
        "SELECT id, created_at, kind, status, queue, call_id, patient_id, prescription_id,"
        " done_at, done_by, details_ct, note_ct FROM staff_tasks WHERE id = $1", task_id)
    if row is None:
        raise UnknownTask(task_id)
    return row


def _decrypt(records: Records, ct: bytes | None, table: str, column: str,
             row_id: object) -> str | None:
    if ct is None:
        return None
    try:
        return records.keys.decrypt_str(bytes(ct), table, column, str(row_id))
    except (DecryptError, UnknownKeyVersion) as exc:
        raise OperatorError(f"{table}.{column} of {row_id} cannot be decrypted with the"
                            f" configured keys ({exc.__class__.__name__})") from None


async def read_task(records: Records, task_id: int, *, actor: str) -> TaskDetails:
    """The task and its decrypted details; the read is audited before they are returned."""
    r = await _get(records.pool, task_id)
    row = _row(r)
    medication = pharmacy = None
    if row.prescription_id is not None:
        rx = await records.pool.fetchrow(
            "SELECT medication_ct, pharmacy_ct FROM agent_prescriptions WHERE id = $1",
            row.prescription_id)
        if rx is not None:
            medication = _decrypt(records, rx["medication_ct"], "agent_prescriptions",
                                  "medication", row.prescription_id)
            pharmacy = _decrypt(records, rx["pharmacy_ct"], "agent_prescriptions", "pharmacy",
                                row.prescription_id)
    found = TaskDetails(row, _decrypt(records, r["details_ct"], TABLE, "details", task_id),
                        _decrypt(records, r["note_ct"], TABLE, "note", task_id),
                        medication, pharmacy)
    await records.audit(actor, "staff_task.read", ("staff_task", task_id), "operator",
                        {"kind": row.kind})
    return found


async def close_task(records: Records, task_id: int, *, actor: str, note: str | None,
                     now: dt.datetime) -> TaskRow:
    """Mark an open task done (who, when, the note encrypted); audited. A task already
    done, or none with that id, is refused (:class:`AlreadyDone`, :class:`UnknownTask`)."""
    note_ct = records.keys.encrypt(note, TABLE, "note", str(task_id)) if note else None
    async with records.pool.acquire() as conn, conn.transaction():
        r = await conn.fetchrow(
            "UPDATE staff_tasks SET status = 'done', done_at = $2, done_by = $3,"
            " note_ct = $4 WHERE id = $1 AND status = 'open' RETURNING id, created_at, kind,"
            " status, queue, call_id, patient_id, prescription_id, done_at, done_by",
            task_id, now, actor, note_ct)
        if r is None:
            raise AlreadyDone(_row(await _get(conn, task_id)))
    row = _row(r)
    await records.audit(actor, "staff_task.done", ("staff_task", task_id), "operator",
                        {"kind": row.kind, "noted": bool(note)}, at=now)
    return row
