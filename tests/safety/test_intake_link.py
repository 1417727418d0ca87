"""Issue 12: intake answers are saved only to a verified patient, never to whoever owns
the caller ID."""

from __future__ import annotations

import asyncio

from agent.workflow.effects import Action
from agent.workflow.host import ActionHost, MemorySink
from agent.workflow.records import ClinicFileSource
from tests.workflow.helpers import CLINIC, NOW, run
from tests.workflow.test_shipped_workflows import DOB, INTAKE, QUALIFIED


def test_intake_by_the_caller_id_owner_is_kept_unlinked() -> None:
    # pat-1001 owns the calling number, but intake verifies no one
    result = run("patient_intake", INTAKE, patient="pat-1001")
    assert {k for _, k, _ in result.saved} == {"demographics", "insurance", "visit_reason"}
    assert {p for p, _, _ in result.saved} == {None}


def test_answers_after_verification_go_to_the_patient() -> None:
    result = run("health_screening", ["yes", DOB, *QUALIFIED], patient="pat-1001")
    assert [p for p, k, _ in result.saved if k == "screening"] == ["pat-1001"]


def test_host_links_only_when_the_conversation_verified() -> None:
    source = ClinicFileSource(CLINIC)
    verified = False
    sink = MemorySink()
    host = ActionHost(source.calendar(NOW), sink, patient_id="pat-1001", appointment_id=None,
                      tz=NOW.tzinfo, verified=lambda: verified)  # type: ignore[arg-type]
    action = Action("save_visit_reason", {"reason": "checkup"})
    assert asyncio.run(host.execute(action, NOW)).data == {"linked": False}
    verified = True
    assert asyncio.run(host.execute(action, NOW)).data == {"linked": True}
    assert [p for p, _, _ in sink.saved] == [None, "pat-1001"]
    # a host built without a verification source never links
    bare = ActionHost(source.calendar(NOW), sink, patient_id="pat-1001", appointment_id=None,
                      tz=NOW.tzinfo)  # type: ignore[arg-type]
    asyncio.run(bare.execute(action, NOW))
    assert sink.saved[-1][0] is None
