"""Staff tasks (roles ``scheduler``, ``supervisor``, ``compliance``): the queue the hosted
application's promises land in (call-backs, refill requests, opt-out requests), worked
through its :class:`carrier.plugin_tasks.StaffTaskDesk`, as ``carrier tasks`` works it.

The list names ids, kinds and times (patient ids with times: a PHI view, audited as the
coming appointments are); one task's details (the number to call, the prescription) only
with a ``reason``, audited by the application before they are returned; closing a task is
audited with who and when.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from carrier.console.api.common import ERRORS, NOT_FOUND, Reason, context
from carrier.console.auth import Operator, Role, require
from carrier.console.problems import PROBLEM_SCHEMA, Problem
from carrier.plugin_tasks import (
    StaffTask,
    StaffTaskAlreadyDone,
    StaffTaskDesk,
    StaffTaskUnreadable,
    UnknownStaffTask,
    staff_tasks_of,
)

router = APIRouter(tags=["staff tasks"])
ROLES = (Role.SCHEDULER, Role.SUPERVISOR, Role.COMPLIANCE)
Staff = Annotated[Operator, Depends(require(*ROLES))]
MAX_ID = 2**63 - 1
TaskId = Annotated[int, Path(ge=1, le=MAX_ID, description="the task's id")]
KIND = r"^[a-z][a-z0-9_]{0,39}$"
NOTE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]+$"  # text, line breaks allowed
MAX_LIST = 500
CONFLICT = {**NOT_FOUND, 409: PROBLEM_SCHEMA}


class Shown(enum.StrEnum):
    OPEN = "open"
    DONE = "done"
    ALL = "all"


class StaffTaskOut(BaseModel):
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


class StaffTaskDetailsOut(StaffTaskOut):
    details: str | None = Field(description="the number to call (call-backs, opt-outs)")
    note: str | None = Field(description="the note of whoever closed it")
    medication: str | None
    pharmacy: str | None


class DoneIn(BaseModel):
    note: str | None = Field(default=None, min_length=1, max_length=1000, pattern=NOTE)


def desk_of(ctx: Any) -> StaffTaskDesk:
    """The hosted application's staff task desk (503 when it keeps none)."""
    desk = staff_tasks_of(ctx.application)
    if desk is None:
        raise Problem(503, "the hosted application keeps no staff tasks")
    return desk


def out(t: StaffTask) -> StaffTaskOut:
    return StaffTaskOut(id=t.id, created_at=t.created_at, kind=t.kind, status=t.status,
                        queue=t.queue, call_id=t.call_id, patient_id=t.patient_id,
                        prescription_id=t.prescription_id, done_at=t.done_at,
                        done_by=t.done_by)


async def listed(ctx: Any, op: Operator, status: str | None, kind: str | None,
                 reason: str) -> list[StaffTask]:
    """Newest first, at most ``MAX_LIST``; the view is audited (patient ids and times)."""
    rows = list(await desk_of(ctx).list_tasks(status=status, kind=kind, newest_first=True,
                                              limit=MAX_LIST))
    await ctx.audit(op.actor, "staff_tasks.list", ("staff_tasks", status or "all"), reason,
                    {"rows": len(rows)})
    return rows


@router.get("/staff-tasks", response_model=list[StaffTaskOut], responses=ERRORS)
async def list_staff_tasks(
        request: Request, op: Staff, status: Shown = Shown.OPEN,
        kind: Annotated[str | None, Query(pattern=KIND)] = None) -> list[StaffTaskOut]:
    """Staff tasks newest first (at most 500), open ones unless ``status`` says otherwise;
    ids and kinds only (an audited view)."""
    wanted = None if status is Shown.ALL else status.value
    rows = await listed(context(request), op, wanted, kind, "console: staff tasks")
    return [out(t) for t in rows]


@router.get("/staff-tasks/{task_id}", response_model=StaffTaskDetailsOut,
            responses=NOT_FOUND)
async def get_staff_task(request: Request, task_id: TaskId, op: Staff,
                         reason: Reason) -> StaffTaskDetailsOut:
    """One task with its details decrypted (a PHI view: audited with ``reason``)."""
    try:
        found = await desk_of(context(request)).read_task(task_id, actor=op.actor,
                                                          reason=reason)
    except UnknownStaffTask:
        raise Problem(404, "no such staff task") from None
    except StaffTaskUnreadable as exc:  # names the field, never its content
        raise Problem(503, str(exc)) from None
    return StaffTaskDetailsOut(**out(found.row).model_dump(), details=found.details,
                               note=found.note, medication=found.medication,
                               pharmacy=found.pharmacy)


@router.post("/staff-tasks/{task_id}/done", response_model=StaffTaskOut, responses=CONFLICT)
async def close_staff_task(request: Request, task_id: TaskId, op: Staff,
                           body: Annotated[DoneIn | None, Body()] = None) -> StaffTaskOut:
    """Mark an open task done (who and when; the note is stored encrypted); audited.
    409 when it is done already (the problem says by whom and when)."""
    ctx = context(request)
    note = body.note.strip() if body is not None and body.note else None
    try:
        row = await desk_of(ctx).close_task(task_id, actor=op.actor, note=note or None,
                                            now=ctx.now())
    except UnknownStaffTask:
        raise Problem(404, "no such staff task") from None
    except StaffTaskAlreadyDone as exc:
        raise Problem(409, str(exc)) from None
    return out(row)
