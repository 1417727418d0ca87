"""Build the voice agent's shared runtime; seed the demo clinic into the records store.

``carrier/app.py`` loads this module by the name in ``agent.handler`` settings, so
the carrier never imports the agent: it calls ``setup(settings, records)`` once at
start, passes the returned runtime to every call in ``context["runtime"]``, and
calls ``teardown(runtime)`` at exit.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from agent.demo import demo_call
from agent.handler import AgentRuntime, patient_uuid
from agent.memory import PostgresMemoryStore
from agent.scheduling.postgres import PostgresCalendar
from agent.speech import (
    EndpointConfig,
    PromptCache,
    SpeechToText,
    StreamingConfig,
    SttConfig,
    TextToSpeech,
    whisper_model_dir,
)
from agent.speech.models import piper_voice_paths
from agent.workflow.loader import load_all
from agent.workflow.records import ClinicFileSource
from carrier.records.store import Channel, ConsentKind, PatientAddress, Records

log = logging.getLogger("agent.runtime")

__all__ = ["demo_call", "seed_demo", "setup", "teardown"]


async def setup(settings: Any, records: Records, *, speech: bool = True) -> AgentRuntime:
    cdir = Path(settings.config_dir)
    source = ClinicFileSource(cdir / settings.clinic_file)
    clinic = source.clinic()
    tz = ZoneInfo(clinic.timezone)
    workflows = load_all(cdir / "workflows")
    calendar = PostgresCalendar(records.pool, tz=tz)
    stt: Any = None
    tts: Any = None
    if speech:
        sp = settings.speech
        model_dir = whisper_model_dir(settings.path(sp.stt_model_dir, "models/whisper-base"))
        stt = SpeechToText(SttConfig(model_dir=model_dir, device=sp.stt_device,
                                     compute_type=sp.stt_compute_type, workers=sp.stt_workers))
        await stt.start()
        cache = PromptCache(settings.path(sp.tts_cache_dir, "tts-cache"),
                            piper_voice_paths().voice_id)
        tts = TextToSpeech(cache)
        await tts.start()
    sp = settings.speech
    endpoint = EndpointConfig(aggressiveness=sp.vad_aggressiveness, hangover_ms=sp.hangover_ms,
                              min_speech_ms=sp.min_speech_ms,
                              max_utterance_ms=sp.max_utterance_ms)
    streaming = StreamingConfig(pause_ms=sp.early_pause_ms,
                                complete_hangover_ms=sp.complete_hangover_ms)
    return AgentRuntime(
        endpoint=endpoint, streaming=streaming, records=records, stt=stt, tts=tts,
        workflows=workflows, clinic=clinic,
        calendar=calendar, memory=PostgresMemoryStore(records.pool),
        routes=dict(settings.agent.routes), human_queue=settings.agent.human_queue,
        queues=dict(settings.agent.queues), record_audio=settings.agent.record_audio,
    )


async def teardown(rt: AgentRuntime) -> None:
    if rt.stt is not None:
        await rt.stt.close()
    if rt.tts is not None:
        await rt.tts.close()


async def seed_demo(settings: Any, records: Records, now: dt.datetime) -> dict[str, str]:
    """Load the demo clinic (synthetic) into Postgres once; returns clinic id -> record id.

    Patients go in encrypted with a stable id derived from the clinic file's id, their
    consent is granted as the file says, and the calendar gets providers, free slots and
    the appointments (relative to today).
    """
    cdir = Path(settings.config_dir)
    source = ClinicFileSource(cdir / settings.clinic_file)
    ids: dict[str, str] = {}
    for p in source._data["patients"]:
        pid = patient_uuid(str(p["id"]))
        ids[str(p["id"])] = str(pid)
        if await records.patient_exists(pid):
            continue
        dob = dt.date.fromisoformat(str(p["dob"])) if p.get("dob") else None
        where = p.get("address") or {}
        await records.add_patient(
            f"{p['first_name']} {p['last_name']}", str(p["phone"]), dob=dob,
            member_id=str(p.get("member_id") or "") or None, actor="seed:demo",
            reason="demo clinic", patient_id=pid,
            address=PatientAddress(where.get("state"), where.get("time_zone")))
        if (p.get("consent") or {}).get("voice") == "written":
            await records.consent_grant(pid, Channel.VOICE, ConsentKind.TCPA_EXPRESS_WRITTEN,
                                        source="demo_clinic", evidence_ref="config/clinic.yaml",
                                        actor="seed:demo")
    have = await records.pool.fetchval("SELECT count(*) FROM sched_providers")
    if not have:
        providers, slots, appointments = source.calendar_data(now)
        appts = [dataclasses.replace(a, patient_id=ids.get(a.patient_id, a.patient_id))
                 for a in appointments]
        cal = PostgresCalendar(records.pool, tz=ZoneInfo(source.clinic().timezone))
        await cal.load(providers, slots, appts, now)
    return ids
