"""Issue 12: screening is started by inbound routing (a DID routed to health_screening in
settings): the caller hears an inbound opening, a known caller verifies first, and an
unknown caller is screened with the answers kept unlinked."""

from __future__ import annotations

from pathlib import Path

from agent.contract import workflow_for
from agent.workflow.effects import Say, Utterance
from agent.workflow.engine import Conversation
from agent.workflow.records import caller_facts
from carrier.call import Direction
from carrier.plugin import CallContext
from carrier.settings import load_settings
from tests.workflow.helpers import NOW
from tests.workflow.test_engine_rules import RECORD, SHIPPED
from tests.workflow.test_shipped_workflows import QUALIFIED

ROOT = Path(__file__).resolve().parents[2]
SCREENING_LINE = "+15550100102"


def test_a_did_routed_to_health_screening_in_settings() -> None:
    settings = load_settings(ROOT / "config", env={})
    routes = dict(settings.agent.routes)
    assert workflow_for(CallContext(Direction.INBOUND), SCREENING_LINE, routes=routes,
                        default="patient_intake",
                        known=SHIPPED) == "health_screening"


def _inbound(record: dict, turns: list[str]) -> tuple[Conversation, list[Say]]:  # type: ignore[type-arg]
    record = {**record, "caller": caller_facts(outbound=False, stir_status="passed",
                                               verstat="TN-Validation-Passed",
                                               attestation="A")}
    conv = Conversation(SHIPPED["health_screening"], record, call_id="in-1")
    said = [e for e in conv.start(NOW) if isinstance(e, Say)]
    for turn in turns:
        said += [e for e in conv.handle(Utterance(turn), NOW) if isinstance(e, Say)]
    return conv, said


def test_inbound_known_caller_verifies_then_is_screened() -> None:
    conv, said = _inbound(RECORD, ["March fifth nineteen eighty", *QUALIFIED[:2]])
    assert said[0].prompt_id == "inbound_opening"
    assert "calling for" not in said[0].text
    assert [s.prompt_id for s in said[1:3]] == ["ask_dob", "intro"]
    assert conv.verified
    assert "q02" in conv.path


def test_inbound_unknown_caller_is_screened_unverified() -> None:
    unknown = {k: v for k, v in RECORD.items() if k not in ("patient", "appointment")}
    conv, said = _inbound(unknown, QUALIFIED[:2])
    assert [s.prompt_id for s in said[:3]] == ["inbound_opening", "unknown_caller", "intro"]
    assert not conv.verified  # so its answers are saved unlinked (ActionHost)
    assert "q02" in conv.path
