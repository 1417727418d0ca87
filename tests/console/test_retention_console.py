"""The console's retention (``GET /api/v1/retention``, ``POST /api/v1/retention/run``)
applies the policy ``carrier serve`` applies, the hosted application's tables included
(tests/records/test_retention_coverage.py has the tables and the rows). Before, the
console's run skipped the application's tables (conversation memory, done staff tasks)
and its policy did not name them."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from agent.runtime import VoiceAgent
from carrier.console.app import ConsoleContext
from carrier.settings import RetentionSettings, Settings
from tests.console.conftest import SignedIn
from tests.records.test_retention_coverage import EXPIRING, LEFT, counts, seed

pytestmark = pytest.mark.postgres


async def test_the_console_runs_and_reports_the_same_policy(
        console: ConsoleContext, signin: Any) -> None:
    await seed(console.records.pool)
    console.settings = Settings(data_dir=console.settings.data_dir,
                                console=console.settings.console,
                                retention=RetentionSettings(transcript_days=30))
    console.application = SimpleNamespace(retained_tables=VoiceAgent().retained_tables)
    s: SignedIn = await signin("compliance")
    c = s.client
    policy = (await c.get("/api/v1/retention")).json()
    assert set(EXPIRING) <= set(policy["targets"])
    r = await c.post("/api/v1/retention/run", json={"confirm": True}, headers=s.headers())
    assert r.status_code == 200, r.text
    assert await counts(console.records.pool) == LEFT
