"""A whole text exchange leaves no PHI behind (the leak detector, tests/privacy/phi_scan.py).

A reminder goes out, the patient asks to reschedule, gives the date of birth, then texts
STOP; every logger of the process is at DEBUG meanwhile. No record (message, arguments,
exception text), no file under the test's folder (the spool), no plaintext table row and
no metric label may carry the patient's name, number or date of birth in any format.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.privacy.phi_scan import LogTap, sweep
from tests.sms.conftest import Stack
from tests.sms.test_replies_e2e import reminded

pytestmark = pytest.mark.postgres


@pytest.fixture
def tap() -> Iterator[LogTap]:
    t = LogTap()
    t.install()
    try:
        yield t
    finally:
        t.remove()


async def test_a_text_exchange_with_stop_leaves_no_phi(
        stack: Stack, pool: asyncpg.Pool, db_url: str, tmp_path: Path, tap: LogTap) -> None:
    await reminded(stack, pool, "p1")
    await stack.text_from_phone("R")
    assert "date of birth" in (await stack.smsc.wait("submit"))["text"]
    await stack.text_from_phone("March 5, 1980")
    await stack.smsc.wait("submit")
    await stack.text_from_phone("STOP")
    assert "unsubscribed" in (await stack.smsc.wait("submit"))["text"]
    await stack.reminders.settled(stack.patient)
    assert tap.records  # the tap saw the exchange
    leaks = await sweep(tap, db_url, tmp_path)
    assert not leaks, "\n".join(map(str, leaks))
