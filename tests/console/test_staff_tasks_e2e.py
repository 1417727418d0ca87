"""Staff tasks end to end, as a clinic works them: the voice agent as ``carrier serve``
hosts it (``agent.runtime.VoiceAgent``, started on a real database), a stranger's
"stop calling me" typed in an unverified web chat over real HTTP (the agent's own
workflow makes the ``opt_out_request`` task), then a compliance officer signs in to the
console over real HTTPS (password and TOTP), sees the task, opens it with a reason, marks
it done, and finds it gone from the open list and in the audit log; a supervisor follows
the task's link to the chat's call record."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from agent.runtime import VoiceAgent
from carrier.console.app import ConsoleContext
from carrier.console.server import client_context
from carrier.records.operators import Operators
from carrier.records.store import Records
from carrier.settings import Settings
from tests.console.conftest import Clock, code_at
from tests.webchat.conftest import settings
from tests.webchat.test_spanish_chat import chat

__all__ = ["settings"]  # the web chat's settings fixture (the shipped config, no speech)
pytestmark = [pytest.mark.postgres, pytest.mark.timeout(180)]
TYPED = "+15550100123"  # the demo patient's number, typed into the chat by anyone


@pytest.fixture
async def agent(settings: Settings, records: Records) -> AsyncIterator[VoiceAgent]:
    app = VoiceAgent()
    await app.start(settings, records, speech=False)  # seeds the demo clinic
    try:
        yield app
    finally:
        await app.stop()


async def test_staff_see_the_chat_s_opt_out_request_and_mark_it_done(
        agent: VoiceAgent, console: ConsoleContext, served: str, clock: Clock) -> None:
    assert agent.runtime is not None
    _, _ = await chat(agent.runtime, ["stop calling me"])
    console.application = agent  # as carrier serve builds its console
    issued = await Operators(console.records.pool, console.records.keys).add(
        "frontdesk", "compliance", now=clock())
    async with httpx.AsyncClient(base_url=served, verify=client_context(console.settings),
                                 follow_redirects=False) as c:
        r = await c.post("/login", data={"name": "frontdesk", "password": issued.password,
                                         "totp": code_at(issued, clock()),
                                         "csrf_token": await _login_token(c)})
        assert r.status_code == 303, r.text
        listed = await c.get("/tasks")
        assert listed.status_code == 200
        [task_id] = re.findall(r'data-task="(\d+)"', listed.text)
        assert "opt_out_request" in listed.text
        assert TYPED not in listed.text

        opened = await c.get(f"/tasks/{task_id}", params={"reason": "working the task"})
        assert opened.status_code == 200
        assert TYPED in opened.text  # the number to confirm with its owner
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', opened.text)
        assert csrf is not None
        done = await c.post(f"/tasks/{task_id}/done",
                            data={"csrf_token": csrf.group(1),
                                  "note": "owner confirmed by phone"})
        assert done.status_code == 303
        after = await c.get(done.headers["location"])
        assert f"Task {task_id} marked done." in after.text
        assert f'data-task="{task_id}"' not in after.text
        history = await c.get("/tasks", params={"status": "done"})
        assert f'data-task="{task_id}"' in history.text
        assert "by console:frontdesk" in history.text
    sup = await Operators(console.records.pool, console.records.keys).add(
        "shiftlead", "supervisor", now=clock())
    async with httpx.AsyncClient(base_url=served, verify=client_context(console.settings),
                                 follow_redirects=False) as c:
        r = await c.post("/api/v1/session", json={"name": "shiftlead", "password": sup.password,
                                                  "totp": code_at(sup, clock())})
        assert r.status_code == 200
        task = await c.get(f"/tasks/{task_id}")
        link = re.search(r'href="(/calls/[^"]+)" id="task-call"', task.text)
        assert link is not None  # the chat it came from has its call record
        chat_page = await c.get(link.group(1))
        assert chat_page.status_code == 200
        assert 'id="call-record"' in chat_page.text
    await console.records.drain_spool()
    rows = await console.records.pool.fetch(
        "SELECT actor, action, record_id, reason FROM audit_log WHERE action IN"
        " ('staff_task.created', 'staff_task.read', 'staff_task.done') ORDER BY seq")
    assert [(r["actor"], r["action"], r["record_id"]) for r in rows] == [
        ("agent", "staff_task.created", task_id),
        ("console:frontdesk", "staff_task.read", task_id),
        ("console:frontdesk", "staff_task.done", task_id)]
    assert rows[1]["reason"] == "console: working the task"


async def _login_token(c: httpx.AsyncClient) -> str:
    page = await c.get("/login")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)
