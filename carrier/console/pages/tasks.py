"""Staff tasks: the queue the hosted application's promises land in ("I will let your care
team know": call-backs, refill requests, opt-out requests from unverified chats), worked
through its :class:`carrier.plugin_tasks.StaffTaskDesk`, as the API and ``carrier tasks``
work it.

* ``/tasks``: newest first, open ones unless the filter says done or all, by kind; ids,
  kinds and times (patient ids with times: an audited view, as the coming appointments).
* ``/tasks/{id}``: the task (its row audited as the list is); its details (the number to
  call, the prescription, the closing note) only once the operator says why (a PHI view,
  audited by the application with who, which task and why, as a call's transcript); a
  link to the call or chat it came from when there is a call record and the operator's
  role may open it.
* ``POST /tasks/{id}/done``: marks it done (who, when, the note encrypted), audited; a
  task already done says by whom and when and changes nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from carrier.console.api.tasks import MAX_ID, MAX_LIST, listed
from carrier.console.pages.common import PAGES, console, guard, page
from carrier.console.roles import Operator
from carrier.plugin_tasks import (
    STATUSES,
    StaffTaskAlreadyDone,
    StaffTaskDesk,
    StaffTaskUnreadable,
    UnknownStaffTask,
    staff_tasks_of,
)

router = APIRouter(include_in_schema=False)
PATH = "/tasks"
CALLS = "/calls"
REASONS = ("working the task", "patient request", "complaint", "incident review")
MAX_NOTE = 1000


def _desk(request: Request) -> StaffTaskDesk | None:
    return staff_tasks_of(console(request).application)


def _task_id(text: str) -> int | None:
    return int(text) if text.isdigit() and 0 < int(text) <= MAX_ID else None


@router.get(PATH)
async def tasks_page(request: Request, op: Annotated[Operator, Depends(guard(PATH))]
                     ) -> Response:
    q = request.query_params
    status = q.get("status") or "open"
    status = status if status in (*STATUSES, "all") else "open"
    kind = (q.get("kind") or "").strip()[:40]
    rows: list[Any] = []
    if _desk(request) is not None:
        rows = await listed(console(request), op, None if status == "all" else status,
                            kind or None, "console: staff tasks page")
    done = _task_id(q.get("done") or "")
    desk = _desk(request)
    return page(request, "tasks.html", op, title="Staff tasks", rows=rows, status=status,
                describe=desk.describe if desk is not None else str,
                kind=kind, statuses=(*STATUSES, "all"), limit=MAX_LIST,
                available=_desk(request) is not None,
                message=f"Task {done} marked done." if done else None)


async def _call_link(request: Request, op: Operator, call_id: str | None) -> str | None:
    """The page of the call or chat a task came from, when it has a call record and this
    operator's role may open call records."""
    if not call_id or op.role not in PAGES[CALLS].roles:
        return None
    records = console(request).records
    if records is None:
        return None
    if await records.call_detail(call_id) is None and await records.call_record(call_id) is None:
        return None
    return call_id


async def _show(request: Request, op: Operator, task_id: int, reason: str, *,
                error: str | None = None, status_code: int = 200) -> Response:
    desk = _desk(request)
    if desk is None:
        return page(request, "task.html", op, status_code=503, title="Staff task",
                    task=None, error="This console's application keeps no staff tasks.")
    # The row itself (ids, kind, times) is one the list shows; the details need a reason.
    found = None
    try:
        if reason in REASONS:
            found = await desk.read_task(task_id, actor=op.actor,
                                         reason=f"console: {reason}")
            row = found.row
        else:  # ids, kind and times, as the list shows them: audited as the list is
            row = await desk.task(task_id)
            await console(request).audit(op.actor, "staff_task.view", ("staff_task", row.id),
                                         "console: staff task page", {"kind": row.kind})
    except UnknownStaffTask:
        return page(request, "task.html", op, status_code=404, title="Staff task not found",
                    task=None, error="No staff task with this id.")
    except StaffTaskUnreadable as exc:  # names the field, never its content
        return page(request, "task.html", op, status_code=503, title="Staff task",
                    task=None, error=f"Not shown: {exc}.")
    return page(request, "task.html", op, status_code=status_code,
                title=f"Staff task {row.id}", task=row, found=found, reasons=REASONS,
                what=desk.describe(row.kind),
                reason=reason if found else "", call=await _call_link(request, op, row.call_id),
                error=error, max_note=MAX_NOTE)


@router.get(PATH + "/{task_id}")
async def task_page(request: Request, task_id: str,
                    op: Annotated[Operator, Depends(guard(PATH))]) -> Response:
    number = _task_id(task_id)
    if number is None:
        return page(request, "task.html", op, status_code=404, title="Staff task not found",
                    task=None, error="No staff task with this id.")
    return await _show(request, op, number, (request.query_params.get("reason") or "").strip())


@router.post(PATH + "/{task_id}/done")
async def mark_done(request: Request, task_id: str,
                    op: Annotated[Operator, Depends(guard(PATH))], *,
                    note: Annotated[str, Form(max_length=2 * MAX_NOTE)] = "") -> Response:
    number = _task_id(task_id)
    desk = _desk(request)
    if number is None or desk is None:
        return await _show(request, op, number or 0, "")
    # Line breaks count once, as the box's maxlength counts them (a browser sends CRLF).
    text = note.replace("\r\n", "\n").strip()
    if len(text) > MAX_NOTE:
        return await _show(request, op, number, "", status_code=422,
                           error=f"Not marked done: the note is over {MAX_NOTE} characters.")
    if any((ord(c) < 32 and c not in "\r\n\t") or ord(c) == 127 for c in text):
        return await _show(request, op, number, "", status_code=422,
                           error="Not marked done: the note has control characters.")
    try:
        await desk.close_task(number, actor=op.actor, note=text or None,
                              now=console(request).now())
    except UnknownStaffTask:
        return await _show(request, op, number, "")
    except StaffTaskAlreadyDone as exc:
        return await _show(request, op, number, "", status_code=409,
                           error=f"Not changed: {exc}.")
    return RedirectResponse(f"{PATH}?done={number}", status_code=303)
