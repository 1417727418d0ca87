"""The staff task part of the carrier <-> application contract (:mod:`carrier.plugin`).

The hosted application keeps a queue of tasks for people (a call-back after a failed
transfer, a refill request, an opt-out typed in an unverified web chat, ...) in its own
tables. The console works that queue only through :class:`StaffTaskDesk`, which the
application offers as its ``staff_tasks`` attribute (:func:`staff_tasks_of`); the carrier
never names the table.

* :class:`StaffTask`: what may be listed (ids, times, the application's words; no PHI).
* :class:`StaffTaskDetails`: one task with its decrypted details (the number to call, the
  prescription of a refill, the closing note): PHI, returned only by ``read_task``, which
  writes the audit entry (who, which task, why) before it returns.
* :class:`UnknownStaffTask` / :class:`StaffTaskAlreadyDone` / :class:`StaffTaskUnreadable`:
  the refusals of ``read_task`` / ``close_task``, as one line an operator can act on (no
  PHI).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from carrier.errors import OperatorError

OPEN, DONE = "open", "done"
STATUSES = (OPEN, DONE)


def utc_text(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@dataclass(frozen=True)
class StaffTask:
    """What may be listed: ids and words the application chose, no PHI."""

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
        return {"id": self.id, "created_at": utc_text(self.created_at), "kind": self.kind,
                "status": self.status, "queue": self.queue, "call_id": self.call_id,
                "patient_id": self.patient_id, "prescription_id": self.prescription_id,
                "done_at": utc_text(self.done_at) if self.done_at else None,
                "done_by": self.done_by}


@dataclass(frozen=True)
class StaffTaskDetails:
    """One task with its decrypted details: PHI."""

    row: StaffTask
    details: str | None  # the number to call (call-backs, opt-out requests)
    note: str | None  # the note of whoever closed it
    medication: str | None  # the prescription of a refill task
    pharmacy: str | None


class UnknownStaffTask(OperatorError):
    def __init__(self, task_id: int) -> None:
        super().__init__(f"no staff task with id {task_id}")
        self.task_id = task_id


class StaffTaskAlreadyDone(OperatorError):
    def __init__(self, row: StaffTask) -> None:
        when = utc_text(row.done_at) if row.done_at else "an unknown time"
        super().__init__(f"staff task {row.id} is already done (by {row.done_by or 'unknown'}"
                         f" at {when})")
        self.row = row


class StaffTaskUnreadable(OperatorError):
    """A task's encrypted field the configured keys cannot open (names the field, never
    its content)."""


@runtime_checkable
class StaffTaskDesk(Protocol):
    """The application's staff task queue as operators work it."""

    async def list_tasks(self, *, status: str | None = OPEN, kind: str | None = None,
                         newest_first: bool = False, limit: int | None = None
                         ) -> Sequence[StaffTask]:
        """``status`` None: every task; oldest first unless ``newest_first``."""
        ...

    def describe(self, kind: str) -> str:
        """What a task of ``kind`` asks staff to do, in plain words (never PHI)."""
        ...

    async def task(self, task_id: int) -> StaffTask:
        """One task as it may be listed (no details, nothing to audit);
        :class:`UnknownStaffTask` when there is none."""
        ...

    async def read_task(self, task_id: int, *, actor: str, reason: str = "operator"
                        ) -> StaffTaskDetails:
        """The task decrypted; audited (``actor``, the task, ``reason``) before it returns."""
        ...

    async def close_task(self, task_id: int, *, actor: str, note: str | None,
                         now: dt.datetime) -> StaffTask:
        """Mark an open task done (who, when, the note encrypted); audited."""
        ...


def staff_tasks_of(app: object) -> StaffTaskDesk | None:
    """The application's ``staff_tasks`` desk, or None when it keeps no staff tasks."""
    desk = getattr(app, "staff_tasks", None)
    return desk if isinstance(desk, StaffTaskDesk) else None
