"""Staff tasks in the console (page and API) over the agent's own queue: the tasks the
agent's code paths create (a call-back after a failed transfer, an unverified chat's
opt-out request, a refill request), listed newest first, one shown with its details only
with a reason (audited), marked done once (who, when; audited). Before, the queue was
reachable only through ``carrier tasks`` on the server."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable
from types import SimpleNamespace

import pytest

from agent.callback import create_callback_task
from agent.endings import OPT_OUT_REQUEST
from agent.scheduling.prescriptions import PostgresRefillDesk, Prescription
from agent.staff_tasks import RecordsStaffTasks
from carrier.console.app import ConsoleContext
from carrier.records.calls import CallRecord
from carrier.records.store import Records
from tests.console.conftest import Clock, SignedIn, _client

pytestmark = pytest.mark.postgres
SignIn = Callable[..., Awaitable[SignedIn]]
NUMBER = "+15555550142"
OWNER = "+15555550177"


async def _tasks(console: ConsoleContext, clock: Clock) -> dict[str, int]:
    """Three tasks as the agent makes them, a minute apart: callback, opt-out, refill."""
    records: Records = console.records
    console.application = SimpleNamespace(staff_tasks=RecordsStaffTasks(records))
    at = clock() - dt.timedelta(hours=1)
    await records.record_call(CallRecord("call-7f3a", "inbound", at, at, outcome="ended"), [])
    callback = await create_callback_task(records, queue="front_desk", patient_id="p-0042",
                                          call_id="call-7f3a", number=NUMBER, now=at)
    opt_out = await create_callback_task(
        records, queue="front_desk", patient_id=None, call_id="chat-9b1c", number=OWNER,
        now=at + dt.timedelta(minutes=1), kind=OPT_OUT_REQUEST)
    desk = PostgresRefillDesk(records)
    rx = Prescription("rx-1", "p-0042", "Testamol 5 mg", "Synthetic Pharmacy")
    await desk.load([rx], at)
    refill = (await desk.request(rx, call_id="call-8e2d", now=at + dt.timedelta(minutes=2))).id
    return {"callback": int(callback), "opt_out": int(opt_out), "refill": int(refill)}


async def _audit(console: ConsoleContext, action: str) -> list[tuple[str, str, str]]:
    await console.records.drain_spool()
    rows = await console.records.pool.fetch(
        "SELECT actor, record_id, reason FROM audit_log WHERE action = $1 ORDER BY seq", action)
    return [(r["actor"], r["record_id"], r["reason"]) for r in rows]


async def test_the_api_lists_shows_with_a_reason_and_closes_once(
        console: ConsoleContext, signin: SignIn, clock: Clock) -> None:
    ids = await _tasks(console, clock)
    s = await signin("scheduler")
    r = await s.client.get("/api/v1/staff-tasks")
    assert r.status_code == 200, r.text
    listed = r.json()
    assert [t["id"] for t in listed] == [ids["refill"], ids["opt_out"], ids["callback"]]
    for phi in (NUMBER, OWNER, "Testamol"):
        assert phi not in r.text
    kinds = await s.client.get("/api/v1/staff-tasks", params={"kind": "opt_out_request"})
    assert [t["id"] for t in kinds.json()] == [ids["opt_out"]]

    bare = await s.client.get(f"/api/v1/staff-tasks/{ids['refill']}")
    assert bare.status_code == 422  # no reason, no PHI
    one = await s.client.get(f"/api/v1/staff-tasks/{ids['refill']}",
                             params={"reason": "patient asked"})
    assert one.status_code == 200
    assert (one.json()["medication"], one.json()["pharmacy"]) == ("Testamol 5 mg",
                                                                 "Synthetic Pharmacy")
    missing = await s.client.get("/api/v1/staff-tasks/999999", params={"reason": "x"})
    assert missing.status_code == 404

    done = await s.client.post(f"/api/v1/staff-tasks/{ids['callback']}/done",
                               json={"note": "called back, booked"}, headers=s.headers())
    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["done_by"]) == ("done", "console:op-scheduler")
    assert done.json()["done_at"].startswith(clock().strftime("%Y-%m-%dT%H:%M"))
    again = await s.client.post(f"/api/v1/staff-tasks/{ids['callback']}/done",
                                json={}, headers=s.headers())
    assert again.status_code == 409
    assert "by console:op-scheduler" in again.json()["detail"]
    no_csrf = await s.client.post(f"/api/v1/staff-tasks/{ids['opt_out']}/done", json={})
    assert no_csrf.status_code == 403
    still = await s.client.get("/api/v1/staff-tasks")
    assert [t["id"] for t in still.json()] == [ids["refill"], ids["opt_out"]]
    closed = await s.client.get("/api/v1/staff-tasks", params={"status": "done"})
    assert [t["id"] for t in closed.json()] == [ids["callback"]]

    assert await _audit(console, "staff_task.read") == [
        ("console:op-scheduler", str(ids["refill"]), "patient asked")]
    assert await _audit(console, "staff_task.done") == [
        ("console:op-scheduler", str(ids["callback"]), "operator")]
    assert len(await _audit(console, "staff_tasks.list")) == 4  # every list view


async def test_the_page_shows_details_with_a_reason_and_marks_a_task_done(
        console: ConsoleContext, signin: SignIn, clock: Clock) -> None:
    ids = await _tasks(console, clock)
    s = await signin("supervisor")
    listed = await s.client.get("/tasks")
    assert listed.status_code == 200
    assert listed.text.index(f'data-task="{ids["refill"]}"') < listed.text.index(
        f'data-task="{ids["callback"]}"')  # newest first
    assert NUMBER not in listed.text
    assert "Send the refill the patient asked for." in listed.text  # what each asks

    task = await s.client.get(f"/tasks/{ids['callback']}")
    assert task.status_code == 200
    assert NUMBER not in task.text  # not without a reason
    assert 'href="/calls/call-7f3a"' in task.text  # the call it came from, for a supervisor
    shown = await s.client.get(f"/tasks/{ids['callback']}",
                               params={"reason": "working the task"})
    assert NUMBER in shown.text
    chat = await s.client.get(f"/tasks/{ids['opt_out']}")
    assert 'id="task-call"' not in chat.text  # no call record for it: no dead link
    assert "Confirm with the number&#39;s owner" in chat.text

    closed = await s.client.post(f"/tasks/{ids['callback']}/done",
                                 data={"csrf_token": s.csrf, "note": "called back"})
    assert closed.status_code == 303
    assert closed.headers["location"] == f"/tasks?done={ids['callback']}"
    after = await s.client.get("/tasks")
    assert f'data-task="{ids["callback"]}"' not in after.text
    assert f"Task {ids['callback']} marked done." in (
        await s.client.get(closed.headers["location"])).text
    again = await s.client.post(f"/tasks/{ids['callback']}/done",
                                data={"csrf_token": s.csrf})
    assert again.status_code == 409
    assert "already done (by console:op-supervisor" in again.text
    noted = await s.client.get(f"/tasks/{ids['callback']}",
                               params={"reason": "incident review"})
    assert "called back" in noted.text

    assert await _audit(console, "staff_task.read") == [
        ("console:op-supervisor", str(ids["callback"]), "console: working the task"),
        ("console:op-supervisor", str(ids["callback"]), "console: incident review")]
    assert await _audit(console, "staff_task.done") == [
        ("console:op-supervisor", str(ids["callback"]), "operator")]
    assert await _audit(console, "staff_task.view") == [  # the rows without details
        ("console:op-supervisor", str(ids["callback"]), "console: staff task page"),
        ("console:op-supervisor", str(ids["opt_out"]), "console: staff task page"),
        ("console:op-supervisor", str(ids["callback"]), "console: staff task page")]


async def test_a_scheduler_gets_no_link_to_a_page_their_role_may_not_open(
        console: ConsoleContext, signin: SignIn, clock: Clock) -> None:
    ids = await _tasks(console, clock)
    s = await signin("scheduler")
    task = await s.client.get(f"/tasks/{ids['callback']}")
    assert task.status_code == 200
    assert 'id="task-call"' not in task.text
    assert "call-7f3a" in task.text


async def test_a_stale_form_marks_nothing_done(console: ConsoleContext, signin: SignIn,
                                              clock: Clock) -> None:
    ids = await _tasks(console, clock)
    s = await signin("compliance")
    r = await s.client.post(f"/tasks/{ids['opt_out']}/done",
                            data={"csrf_token": "from-an-earlier-sign-in"})
    assert r.status_code == 403
    assert 'id="stale-form"' in r.text
    assert 'href="/tasks"' in r.text
    assert [t.id for t in await console.application.staff_tasks.list_tasks()] == [
        ids["callback"], ids["opt_out"], ids["refill"]]


async def test_odd_ids_and_notes_are_answered_not_crashed(
        console: ConsoleContext, signin: SignIn, clock: Clock) -> None:
    ids = await _tasks(console, clock)
    s = await signin("scheduler")
    for path in ("/tasks/abc", "/tasks/0", "/tasks/99999999999999999999999", "/tasks/424242"):
        r = await s.client.get(path)
        assert r.status_code == 404, path
    r = await s.client.post(f"/tasks/{ids['refill']}/done",
                            data={"csrf_token": s.csrf, "note": "bell\x07"})
    assert r.status_code == 422
    r = await s.client.post(f"/tasks/{ids['refill']}/done",
                            data={"csrf_token": s.csrf, "note": "x" * 1001})
    assert r.status_code == 422
    assert (await console.application.staff_tasks.task(ids["refill"])).status == "open"
    r = await s.client.get("/tasks", params={"status": "bogus", "kind": "<script>"})
    assert r.status_code == 200
    assert "<script>" not in r.text


async def test_a_note_the_box_took_is_taken_its_line_breaks_counted_once(
        console: ConsoleContext, signin: SignIn, clock: Clock) -> None:
    """A browser counts a line break once against the box's maxlength (1000) and sends it
    as CRLF: 1000 characters with ten line breaks arrive as 1010. They were refused (422)
    and the note lost; now the page counts as the box does (the browser test types it)."""
    ids = await _tasks(console, clock)
    s = await signin("scheduler")
    note = ("x" * 89 + "\r\n") * 10 + "y" * 100  # 1000 in the box, 1010 sent
    r = await s.client.post(f"/tasks/{ids['refill']}/done",
                            data={"csrf_token": s.csrf, "note": note})
    assert r.status_code == 303, r.text[:300]
    assert (await console.application.staff_tasks.task(ids["refill"])).status == "done"


async def test_without_a_desk_the_page_says_so_and_the_api_answers_503(
        console: ConsoleContext, signin: SignIn) -> None:
    s = await signin("scheduler")
    page = await s.client.get("/tasks")
    assert page.status_code == 200
    assert 'id="no-desk"' in page.text
    api = await s.client.get("/api/v1/staff-tasks")
    assert api.status_code == 503
    assert api.headers["content-type"] == "application/problem+json"


async def test_the_list_view_is_audited_with_its_row_count(
        console: ConsoleContext, signin: SignIn, clock: Clock) -> None:
    await _tasks(console, clock)
    async with _client(console):
        s = await signin("scheduler")
        await s.client.get("/tasks", params={"status": "all"})
    await console.records.drain_spool()
    rows = await console.records.pool.fetch(
        "SELECT actor, record_id, details FROM audit_log WHERE action = 'staff_tasks.list'")
    assert [(r["actor"], r["record_id"], json.loads(r["details"])["rows"]) for r in rows] == [
        ("console:op-scheduler", "all", 3)]


async def test_a_task_the_keys_cannot_open_is_a_clear_answer_not_a_crash(
        console: ConsoleContext, signin: SignIn, clock: Clock) -> None:
    """A details field the configured keys cannot decrypt (a key ring restored from the
    wrong backup): one line naming the field, no traceback, no 500."""
    ids = await _tasks(console, clock)
    await console.records.pool.execute(
        "UPDATE staff_tasks SET details_ct = details_ct || '\\x00'::bytea WHERE id = $1",
        ids["callback"])
    s = await signin("scheduler")
    api = await s.client.get(f"/api/v1/staff-tasks/{ids['callback']}",
                             params={"reason": "working the task"})
    assert api.status_code == 503
    assert "cannot be decrypted" in api.json()["detail"]
    page = await s.client.get(f"/tasks/{ids['callback']}",
                              params={"reason": "working the task"})
    assert page.status_code == 503
    assert "cannot be decrypted" in page.text
    assert NUMBER not in page.text
