"""The operator console in headless Debian Chromium against a real ``carrier serve`` (issue
15): sign-in with password and TOTP, a role refused a page, a live call from a real SIP
peer (SIPp) appearing and ending while the page is open (and one a supervisor hangs up),
the schedule CSV import reporting its bad rows and loading nothing, and the one-click
signed audit export that ``carrier audit verify`` accepts, and a staff task opened with a
reason and marked done. One browser and one node for the module; the tests run in order
(each signs in as its own operator)."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import pyotp
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from agent.callback import create_callback_task
from carrier.records.store import Records
from tests.conftest import TEST_KEK
from tests.console.browser.conftest import Account, needs_browser, wait_file
from tests.ops_runtime.rig import CALLER, Node

pytestmark = [pytest.mark.postgres, pytest.mark.peer, needs_browser, pytest.mark.timeout(240)]


def el(page: Any, element_id: str, limit: float = 20) -> Any:
    """The element, once the page that has it is there (navigation is asynchronous)."""
    return WebDriverWait(page, limit).until(
        ec.presence_of_element_located((By.ID, element_id)))


def url(node: Node, path: str) -> str:
    return f"https://127.0.0.1:{node.console_port}{path}"


def sign_in(page: Any, node: Node, who: Account, next_path: str = "/") -> None:
    page.get(url(node, f"/login?next={next_path}"))
    el(page, "name").send_keys(who.name)
    page.find_element(By.ID, "password").send_keys(who.password)
    page.find_element(By.ID, "totp").send_keys(pyotp.TOTP(who.totp_secret).now())
    page.find_element(By.ID, "sign-in").click()
    el(page, "logout")


def sign_out(page: Any) -> None:
    page.find_element(By.ID, "logout").click()
    el(page, "login-notice")


def rows(page: Any) -> list[Any]:
    return page.find_elements(By.CSS_SELECTOR, "tr.live-call")


def test_sign_in_needs_the_password_and_the_totp_code(page: Any, node: Node,
                                                      operator: Callable[[str], Account]
                                                      ) -> None:
    who = operator("supervisor")
    page.get(url(node, "/calls/live"))
    el(page, "login-form")
    assert "/login" in page.current_url  # not signed in: sent to the form
    page.find_element(By.ID, "name").send_keys(who.name)
    page.find_element(By.ID, "password").send_keys(who.password)
    page.find_element(By.ID, "sign-in").click()  # no code
    assert el(page, "login-error").is_displayed()
    sign_in(page, node, who, "/calls/live")
    assert page.current_url.endswith("/calls/live")
    assert el(page, "live-calls").is_displayed()
    assert page.find_element(By.TAG_NAME, "h1").text == "Live calls"


def test_a_role_is_refused_a_page_it_must_not_see(page: Any, node: Node) -> None:
    nav = page.find_element(By.TAG_NAME, "nav").text
    assert "Live calls" in nav
    assert "Audit" not in nav
    assert "Consent" not in nav
    page.get(url(node, "/audit"))
    assert el(page, "forbidden").text == "Not allowed"
    assert not page.find_elements(By.ID, "export")


def test_a_live_call_appears_and_ends_while_the_page_is_open(page: Any, node: Node) -> None:
    page.get(url(node, "/calls/live"))
    el(page, "live-rows")
    page.execute_script("window.stillTheSamePage = true;")
    caller = node.call("uac_hold.xml", hold_ms=5000)
    wait = WebDriverWait(page, 20, poll_frequency=0.2)
    wait.until(lambda p: len(rows(p)) == 1)
    row = rows(page)[0]
    assert row.find_element(By.CSS_SELECTOR, ".caller").text == "+1******0199"
    assert CALLER not in page.page_source  # the number is masked
    assert row.find_element(By.CSS_SELECTOR, ".state").text == "up"
    # SIPp's INVITE carries no Identity: the gateway's STIR/SHAKEN verdict, shown as is
    assert row.find_element(By.CSS_SELECTOR, ".verstat").text == "No-TN-Validation"
    assert row.find_element(By.CSS_SELECTOR, "button.hangup").is_displayed()
    assert row.find_element(By.CSS_SELECTOR, "button.transfer").is_displayed()
    wait.until(lambda p: not rows(p))  # SIPp hangs up; the table follows by itself
    assert page.execute_script("return window.stillTheSamePage === true;")
    caller.wait(timeout=30)
    assert caller.returncode == 0


def test_a_supervisor_hangs_up_a_live_call(page: Any, node: Node) -> None:
    caller = node.call("uac_hold.xml", hold_ms=60000)
    wait = WebDriverWait(page, 20, poll_frequency=0.2)
    wait.until(lambda p: len(rows(p)) == 1)
    rows(page)[0].find_element(By.CSS_SELECTOR, "button.hangup").click()
    assert "hung up" in el(page, "message").text
    wait.until(lambda p: not rows(p))
    caller.wait(timeout=30)  # our BYE ended SIPp's call long before its 60 s hold
    sign_out(page)


async def _count(node: Node, sql: str) -> int:
    conn = await asyncpg.connect(node.db_url)
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


def test_a_schedule_csv_with_bad_rows_is_reported_and_nothing_loaded(
        page: Any, node: Node, operator: Callable[[str], Account], tmp_path: Path) -> None:
    sign_in(page, node, operator("scheduler"), "/patients")
    counts = "SELECT (SELECT count(*) FROM patients) * 1000000 + count(*) FROM sched_appointments"
    before = asyncio.run(_count(node, counts))
    bad = tmp_path / "schedule.csv"
    bad.write_text(  # the format of carrier schedule import (docs/feeds.md)
        "mrn,first_name,last_name,phone,dob,appointment_id,start\n"
        "B1,Ann,Synthetic,+15555550141,1980-01-01,BA1,2030-01-07T09:00\n"
        "B2,Bo,Synthetic,not a number,1981-02-02,BA2,2030-01-07T10:00\n"
        "B3,Cy,Synthetic,+15555550143,1982-13-01,BA3,2030-01-07T11:00\n")
    el(page, "import-file").send_keys(str(bad))
    page.find_element(By.ID, "import").click()
    el(page, "import-problems")
    problems = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
                for tr in page.find_elements(By.CSS_SELECTOR, "tr.problem")]
    assert [p[:2] for p in problems] == [["3", "phone"], ["4", "dob"]]
    assert "nothing was loaded" in page.find_element(By.ID, "error").text
    assert asyncio.run(_count(node, counts)) == before  # no patient, no appointment
    sign_out(page)


def test_one_click_audit_export_verifies_with_the_cli(
        page: Any, node: Node, operator: Callable[[str], Account], downloads: Path) -> None:
    sign_in(page, node, operator("auditor"), "/audit")
    el(page, "export").click()
    bundle = wait_file(downloads, "audit-*.jsonl")
    done = node.carrier("audit", "verify", str(bundle), timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "valid" in done.stdout
    # and the page verifies it too, when uploaded
    page.find_element(By.ID, "verify-file").send_keys(str(bundle))
    page.find_element(By.ID, "verify").click()
    result = el(page, "verify-result")
    assert result.text.startswith("Valid.")


def test_the_figures_page_draws_its_charts(page: Any, node: Node) -> None:
    page.get(url(node, "/figures"))
    el(page, "figures")
    charts = page.find_elements(By.CSS_SELECTOR, "svg.chart")
    assert len(charts) == 5
    assert all(c.size["width"] > 100 for c in charts)  # laid out, not hidden
    sign_out(page)


async def _callback_task(node: Node, spool: Path, call_id: str = "call-ui-1") -> int:
    """A call-back task as the agent files it after a failed transfer."""
    records = await Records.open(node.db_url, TEST_KEK, spool)
    try:
        return await create_callback_task(
            records, queue="front_desk", patient_id="p-0042", call_id=call_id,
            number="+15555550142", now=dt.datetime.now(dt.UTC))
    finally:
        await records.close()


def test_a_task_note_at_the_box_s_limit_with_line_breaks_is_taken(
        page: Any, node: Node, tmp_path: Path) -> None:
    """Chromium counts a line break as one character against the note's maxlength and
    sends it as CRLF, two. Before, the server held the raw form field to the same 1000:
    a note the box took (990 letters, 10 line breaks) was refused with 422 and lost.
    Now the server counts line breaks as the box does."""
    done = node.carrier("user", "add", "ui-notes", "--role", "scheduler")
    assert done.returncode == 0, done.stderr
    password = re.search(r"one-time password: (\S+)", done.stdout)
    secret = re.search(r"secret=([A-Z2-7]+)", done.stdout)
    assert password, done.stdout
    assert secret, done.stdout
    task = asyncio.run(_callback_task(node, tmp_path / "spool", call_id="call-ui-2"))
    sign_in(page, node, Account("ui-notes", password.group(1), secret.group(1)),
            f"/tasks/{task}")
    el(page, "done-note").send_keys(("x" * 98 + "\n") * 10 + "y" * 20)  # 1010 typed
    note = page.execute_script("return document.getElementById('done-note').value")
    assert len(note) == 1000  # what the box kept ...
    assert note.count("\n") == 10  # ... with its line breaks counted once
    page.find_element(By.ID, "mark-done").click()
    assert el(page, "message").text == f"Task {task} marked done."
    sign_out(page)


def test_a_staff_task_is_opened_with_a_reason_and_marked_done(
        page: Any, node: Node, operator: Callable[[str], Account], tmp_path: Path) -> None:
    task = asyncio.run(_callback_task(node, tmp_path / "spool"))
    sign_in(page, node, operator("compliance"), "/tasks")
    row = el(page, "staff-tasks").find_element(By.CSS_SELECTOR, f'tr[data-task="{task}"]')
    assert "+15555550142" not in page.page_source  # the list names no number
    row.find_element(By.TAG_NAME, "a").click()
    el(page, "details-form")
    page.find_element(By.ID, "show-details").click()  # the default reason: working it
    assert el(page, "task-number").text == "+15555550142"
    el(page, "done-note").send_keys("called back, booked")
    page.find_element(By.ID, "mark-done").click()
    assert el(page, "message").text == f"Task {task} marked done."
    assert not page.find_elements(By.CSS_SELECTOR, f'tr[data-task="{task}"]')
    done = asyncio.run(_count(node, "SELECT count(*) FROM audit_log WHERE action ="
                                    " 'staff_task.done' AND actor = 'console:ui-compliance'"))
    assert done == 1
    sign_out(page)
