"""Issue 16 "Done when", the refill leg on a real SIP call: a MedicationRequest polled from
the local FHIR R4 server is what the refill reminder speaks about; a pjsua2 patient phone
(synthetic voice from the project's Piper) asks for the refill by voice; the request is a
staff task in the agent's queue and a FHIR Task written back to the source.

Everything real on 127.0.0.1: the FHIR server (SMART Backend Services auth), the poller, our
SIP gateway, RTP, STIR/SHAKEN, Whisper and Piper, the embedded Postgres."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from agent.handler import AgentRuntime, VoiceCallHandler
from agent.scheduling.prescriptions import PostgresRefillDesk
from carrier.call import Call
from carrier.feeds.fhir_client import client_from_settings
from carrier.feeds.fhir_poll import FhirPoller
from carrier.feeds.store import FeedStore
from carrier.feeds.writeback import OutcomeRecorder, Writeback
from carrier.plugin import CallContext, CallOutcome
from carrier.records.store import Records
from carrier.settings import Settings
from carrier.stir_setup import StirRuntime
from tests.agent.conftest import (  # noqa: F401 - fixtures used by name
    TraceKeeper,
    agent,
    demo_ids,
    runtime,
    settings,
)
from tests.e2e.harness import (  # noqa: F401 - the stir fixture
    answer_outbound,
    dial,
    gateway,
    speak_when_agent_pauses,
    stir,
    write_wav,
)
from tests.feeds.fhir_r4_server import FhirR4Server
from tests.feeds.test_fhir_feed import keys, server, settings_for, valid  # noqa: F401
from tests.peers.client import PjsuaPeer, needs_pjsua2

pytestmark = [pytest.mark.pjsua2, needs_pjsua2, pytest.mark.postgres, pytest.mark.models,
              pytest.mark.slow, pytest.mark.timeout(300)]
# The date of birth the reminder test speaks (Whisper hears it reliably over G.711).
SCRIPT = ["Hello?", "Yes, speaking.", "March fifth, nineteen eighty.",
          "Yes please, send the refill."]


class ObservedAgent:
    """The voice agent as the gateway calls it, keeping the call's spoken turns."""

    def __init__(self, voice: VoiceCallHandler) -> None:
        self.agent = voice
        self.keeper = TraceKeeper()

    async def __call__(self, call: Call, context: CallContext) -> CallOutcome:
        return await self.agent(call, context, observer=self.keeper)


async def test_refill_reminder_call_names_the_feed_medication_and_files_tasks(
        settings: Settings, runtime: AgentRuntime, agent: VoiceCallHandler,  # noqa: F811
        records: Records,
        stir: StirRuntime, server: FhirR4Server, keys: tuple[Path, bytes],  # noqa: F811
        tmp_path: Path) -> None:
    from agent.scheduling.feed_apply import FeedCalendar  # noqa: PLC0415

    server.put(valid({"resourceType": "Patient", "id": "p9",
                      "name": [{"family": "McSample", "given": ["Fakey"]}],
                      "telecom": [{"system": "phone", "value": "+15550100129"}],
                      "birthDate": "1980-03-05"}))
    server.put(valid({"resourceType": "MedicationRequest", "id": "rx9", "status": "active",
                      "intent": "order", "subject": {"reference": "Patient/p9"},
                      "medicationCodeableConcept": {"text": "atorvastatin twenty milligrams"},
                      "dispenseRequest": {"performer": {"display": "Elm Street Pharmacy"}}}))
    client = client_from_settings(settings_for(server, keys[0]))
    polled = await FhirPoller(client, FeedStore(records, FeedCalendar(records))).poll_once(
        dt.datetime.now(dt.UTC))
    assert polled.get("MedicationRequest:applied") == 1, polled
    pid = str(await records.pool.fetchval("SELECT patient_id FROM feed_patients"))

    wavs = [await write_wav(runtime, t, tmp_path / f"r{i}.wav") for i, t in enumerate(SCRIPT)]
    observed = ObservedAgent(agent)
    handler = OutcomeRecorder(observed, Writeback(records, {"fhir": client}), try_for=10.0)
    async with (PjsuaPeer.start("udp", user="patient", auto_answer=200,
                                log_dir=tmp_path) as phone,
                gateway(settings, phone.ports["udp"], handler, records, stir) as gw):
        call, handle = await dial(gw, phone, to="+15550100129")
        result = await answer_outbound(
            phone, gw, call, handle, {"purpose": "refill", "patient_id": pid},
            lambda: speak_when_agent_pauses(phone, handle, wavs, first_immediately=True,
                                            until_hangup=True), within_s=120)

    turns = [t for trace in observed.keeper.traces for t in trace.turns]
    spoken = " ".join(text for who, text in turns if who == "agent")
    assert "atorvastatin twenty milligrams" in spoken, turns
    assert "Elm Street Pharmacy" in spoken, turns
    assert result.detail == "refill_requested", (result, turns)
    [task] = await PostgresRefillDesk(records).open_tasks("pharmacy")
    assert (task.patient_id, task.prescription_id) == (pid, "feed:fhir:rx9")
    row = await records.pool.fetchrow("SELECT kind, status FROM feed_outbox")
    assert (row["kind"], row["status"]) == ("refill_request", "sent")
    [fhir_task] = server.resources["Task"].values()
    valid(fhir_task)
    assert fhir_task["for"]["identifier"]["value"] == "p9"
    assert fhir_task["code"]["coding"][0]["code"] == "refill_request"
