"""The staff task queue (``staff_tasks``, migrations 0105 and 0115) as operators work it.

The agent's promises land there: a call-back after a failed transfer (``callback``), a
refill (``refill_request``) or a refill the patient says is not needed
(``refill_not_needed``), an opt-out typed in an unverified web chat
(``opt_out_request``). This module lists them (ids only, never the encrypted details),
reads one with its details decrypted (a PHI read, audited before it is returned), and
closes one (who, when, an encrypted note; audited). ``agent.staff_tasks_cli`` is the
``carrier tasks`` command over it; :class:`RecordsStaffTasks` is the same queue as the
console works it (the application's ``staff_tasks``, ``carrier.plugin_tasks``). Done
tasks are purged with transcripts (``retained_tables``); open ones never are.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from carrier.plugin_tasks import (
    DONE,
    OPEN,
    STATUSES,
    StaffTask,
    StaffTaskAlreadyDone,
    StaffTaskDetails,
    StaffTaskUnreadable,
    UnknownStaffTask,
)
from carrier.records.crypto import DecryptError, UnknownKeyVersion
from carrier.records.sealed import SealedColumn
from carrier.records.store import Records

TABLE = "staff_tasks"
sealed_columns = (SealedColumn(TABLE, "details_ct", "id::text", bound_column="details"),
                  SealedColumn(TABLE, "note_ct", "id::text", bound_column="note"))
"""``carrier.plugin.SealsColumns``: the encrypted call-back number and the operator's note."""
retained_tables = ((TABLE, "done_at"),)
"""``carrier.plugin.RetainsText``: a task done longer ago than ``retention.transcript_days``
is purged with the transcripts; an open one (no ``done_at``) never is."""
TaskRow = StaffTask  # the names this module and ``carrier tasks`` have always used
TaskDetails = StaffTaskDetails
UnknownTask = UnknownStaffTask
AlreadyDone = StaffTaskAlreadyDone
__all__ = ["DONE", "OPEN", "STATUSES", "AlreadyDone", "RecordsStaffTasks", "TaskDetails",
           "TaskRow", "UnknownTask", "close_task", "list_tasks", "read_task", "retained_tables",
           "sealed_columns"]


def _row(r: Any) -> TaskRow:
    return TaskRow(int(r["id"]), r["created_at"], r["kind"], r["status"], r["queue"],
                   r["call_id"], r["patient_id"], r["prescription_id"], r["done_at"],
                   r["done_by"])


_SELECT = (
    "SELECT id, created_at, kind, status, queue, call_id, patient_id, prescription_id,"
    " done_at, done_by FROM staff_tasks WHERE ($1::text IS NULL OR status = $1)"
    " AND ($2::text IS NULL OR kind = $2)")
_LIST = {False: _SELECT + " ORDER BY created_at, id LIMIT $3",
         True: _SELECT + " ORDER BY created_at DESC, id DESC LIMIT $3"}


async def list_tasks(records: Records, *, status: str | None = OPEN,
                     kind: str | None = None, newest_first: bool = False,
                     limit: int | None = None) -> list[TaskRow]:
    """Tasks oldest first (the order they are to be worked in), or newest first (the
    console's list); ``status`` None: all; ``limit`` None: every one."""
    rows = await records.pool.fetch(_LIST[newest_first], status, kind, limit)
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
        raise StaffTaskUnreadable(f"{table}.{column} of {row_id} cannot be decrypted with the"
                            f" configured keys ({exc.__class__.__name__})") from None


async def read_task(records: Records, task_id: int, *, actor: str,
                    reason: str = "operator") -> TaskDetails:
    """The task and its decrypted details; the read is audited (with ``reason``, the why
    of this PHI view) before they are returned."""
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
    await records.audit(actor, "staff_task.read", ("staff_task", task_id), reason,
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


WHAT_TO_DO = {
    "callback": "Call the patient back: a transfer to staff failed, or an emergency was"
                " texted in a reminder thread.",
    "opt_out_request": "Confirm with the number's owner: an opt-out was typed in a web chat"
                       " that did not verify the patient.",
    "refill_request": "Send the refill the patient asked for.",
    "refill_not_needed": "Check the refill the patient said is not needed.",
}


class RecordsStaffTasks:
    """The queue on the records database, as the application offers it to the console
    (``carrier.plugin_tasks.StaffTaskDesk``)."""

    def __init__(self, records: Records) -> None:
        self.records = records

    async def list_tasks(self, *, status: str | None = OPEN, kind: str | None = None,
                         newest_first: bool = False, limit: int | None = None
                         ) -> list[TaskRow]:
        return await list_tasks(self.records, status=status, kind=kind,
                                newest_first=newest_first, limit=limit)

    def describe(self, kind: str) -> str:
        return WHAT_TO_DO.get(kind, kind.replace("_", " "))

    async def task(self, task_id: int) -> TaskRow:
        return _row(await _get(self.records.pool, task_id))

    async def read_task(self, task_id: int, *, actor: str, reason: str = "operator"
                        ) -> TaskDetails:
        return await read_task(self.records, task_id, actor=actor, reason=reason)

    async def close_task(self, task_id: int, *, actor: str, note: str | None,
                         now: dt.datetime) -> TaskRow:
        return await close_task(self.records, task_id, actor=actor, note=note, now=now)
