"""A crash inside the workflow of a web chat leaves no PHI in the log, and none in what the
patient's page is told.

The calendar fails while confirming with an exception whose text and traceback locals
hold the patient's name and date of birth (what a parser's ``ValueError`` or an adapter's
error message quotes). Every logger is at DEBUG through ``logs.setup`` (what
``carrier serve`` installs). The chat ends; the log names the error's class only.
"""

from __future__ import annotations

import io
import json
from typing import Any

import httpx
import pytest

from agent.handler import AgentRuntime
from tests.privacy import phi_scan
from tests.privacy.phi_scan import LogTap, find
from tests.webchat.conftest import serving

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]
debug_log = phi_scan.debug_log  # the fixture


async def test_a_crash_in_the_workflow_logs_no_phi(
        text_runtime: AgentRuntime, debug_log: io.StringIO,
        monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(appointment_id: str, status: Any, *args: Any, **kw: Any) -> None:
        name, dob = "Testa Patientson", "03/05/1980"  # locals a traceback would show
        raise ValueError(f"cannot set status for {name}, born {dob}")

    monkeypatch.setattr(text_runtime.calendar, "set_status", broken)
    tap = LogTap()
    tap.install()
    try:
        async with serving(text_runtime) as (_server, base), \
                httpx.AsyncClient(base_url=base) as web:
            r = await web.post("/api/session", json={"mode": "text", "phone": "555-010-0123"})
            opened = r.json()
            sid, hdr = opened["session"], {"X-Webchat-Token": opened["token"]}
            bodies = [r.text]
            for text in ("yes", "March 5th 1980", "Testa Patientson", "confirm", "hello"):
                r = await web.post(f"/api/session/{sid}/message", json={"text": text},
                                   headers=hdr)
                bodies.append(r.text)
    finally:
        tap.remove()
    records = tap.take()
    assert any(r.exc_info and r.exc_info[0] is ValueError for r in records), \
        "the crash did not happen"
    out = debug_log.getvalue()
    assert find(out) == [], out
    assert all(json.loads(line) for line in out.splitlines())
    # what the page was told after the crash quotes nothing of the exception
    assert not any("cannot set status" in b for b in bodies)
    # the log's own text (message and fields) of every record, the exception aside
    assert phi_scan.scan_records(
        [r for r in records if not r.exc_info]) == []
