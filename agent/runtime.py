"""The voice agent as the carrier's hosted application (``carrier.plugin.Application``).

``carrier/app.py`` loads ``application`` (this module's :class:`VoiceAgent`) by the
name in the ``agent.application`` setting, so the carrier never imports the agent. It
calls ``start(settings, records)`` once (seed the demo clinic when ``agent.seed_demo``,
build the shared runtime: speech workers, workflows, calendar), hands
``application.handler`` every answered call, lets the dialer read
``application.appointments`` (the calendar as an ``AppointmentSource``), and calls
``stop()`` at exit. Which workflow serves a dial purpose, and what a workflow's outcome
means to the carrier, is decided in ``agent.contract``, never in the carrier. The
demo's scripted phone lives in the top-level ``demo`` package, outside the runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
from collections.abc import Mapping
from pathlib import Path
from zoneinfo import ZoneInfo

from agent import MIGRATIONS
from agent.callback import records_hand_off
from agent.handler import AgentRuntime, VoiceCallHandler, patient_uuid
from agent.i18n import load_overlays
from agent.language import RecordsLanguages
from agent.memory import PostgresMemoryStore
from agent.memory import retained_tables as memory_tables
from agent.memory import sealed_columns as memory_sealed
from agent.scheduling.feed_apply import FeedCalendar
from agent.scheduling.outreach import CalendarAppointments
from agent.scheduling.postgres import PostgresCalendar
from agent.scheduling.prescriptions import PostgresRefillDesk, prescriptions_from
from agent.scheduling.prescriptions import sealed_columns as rx_sealed
from agent.sms import WORKFLOW as SMS_WORKFLOW
from agent.sms import AddressTexter, TextReminders, records_patient_facts
from agent.speech import (
    EndpointConfig,
    PromptCache,
    SpeechToText,
    StreamingConfig,
    SttConfig,
    TextToSpeech,
    whisper_model_dir,
)
from agent.speech.espeak import SPANISH_VOICE, EspeakSpeech
from agent.speech.models import piper_voice_paths, quick_model_dir
from agent.speech.turn_end import TurnEndMode
from agent.staff_tasks import RecordsStaffTasks
from agent.staff_tasks import retained_tables as task_tables
from agent.staff_tasks import sealed_columns as task_sealed
from agent.webchat import TextChatHandler
from agent.workflow.loader import load_all
from agent.workflow.records import ClinicFileSource
from carrier.call import Call
from carrier.health import ComponentHealth
from carrier.metrics import Level
from carrier.plugin import (
    Application,
    AppointmentFact,
    AppointmentSource,
    AppointmentState,
    CallContext,
    CallHandler,
    CallOutcome,
    ChatHandler,
    ScheduleFeed,
    TextPort,
)
from carrier.records.store import Channel, ConsentKind, PatientAddress, Records
from carrier.settings import Settings, SpeechSettings
from carrier.sms.settings import check_reminders_for_clinic

log = logging.getLogger("agent.runtime")

__all__ = ["VoiceAgent", "application", "handler_for", "seed_demo", "setup", "teardown"]

class _NotStarted:
    """The appointment source and call handler before ``start``: a programming error."""

    async def upcoming(self, now: dt.datetime, horizon: dt.timedelta
                       ) -> list[AppointmentFact]:
        raise RuntimeError("the voice agent is not started")

    async def missed_since(self, since: dt.datetime) -> list[AppointmentFact]:
        raise RuntimeError("the voice agent is not started")

    async def state(self, appointment_id: str) -> AppointmentState | None:
        raise RuntimeError("the voice agent is not started")

    async def __call__(self, call: Call, context: CallContext) -> CallOutcome:
        raise RuntimeError("the voice agent is not started")


def handler_for(runtime: AgentRuntime) -> CallHandler:
    """The call handler the carrier gets for ``runtime`` (one per process)."""
    return VoiceCallHandler(runtime)


class VoiceAgent:
    """The application object ``carrier.app`` loads (``agent.runtime:application``)."""

    def __init__(self) -> None:
        self.runtime: AgentRuntime | None = None
        self._reviving: asyncio.Task[None] | None = None  # a new speech pool being started
        self.migrations: Path | None = MIGRATIONS
        self.retained_tables = (*memory_tables, *task_tables)  # carrier.plugin.RetainsText
        # carrier.plugin.RetainsEvidence: past appointments (patient ids with times) are
        # dialing evidence, kept retention.dial_evidence_days; one still ahead never goes
        self.evidence_tables = (("sched_appointments", "end_at"),)
        # carrier.plugin.RetainsSlots: past slots go after retention.slot_days, unless an
        # appointment (kept as evidence) still points at one
        self.slot_tables = (("sched_slots", "end_at", "NOT EXISTS (SELECT 1 FROM"
                             " sched_appointments a WHERE a.slot_id = sched_slots.id)"),)
        self.sealed_columns = (*memory_sealed, *task_sealed, *rx_sealed)  # SealsColumns
        self.appointments: AppointmentSource = _NotStarted()
        self.handler: CallHandler = _NotStarted()
        self.schedule_feed: ScheduleFeed | None = None  # carrier.plugin.schedule_feed_of
        self.staff_tasks: RecordsStaffTasks | None = None  # carrier.plugin_tasks

    async def start(self, settings: Settings, records: Records, *, speech: bool = True
                    ) -> None:
        if settings.agent.seed_demo:
            await seed_demo(settings, records, dt.datetime.now(dt.UTC))
        self.runtime = await setup(settings, records, speech=speech)
        self.appointments = CalendarAppointments(records.pool)
        self.schedule_feed = FeedCalendar(records)
        self.staff_tasks = RecordsStaffTasks(records)
        self.handler = handler_for(self.runtime)

    @property
    def chat_handler(self) -> ChatHandler:
        """Text chats of the patient web page (``carrier.webchat``), on this runtime."""
        if self.runtime is None:
            raise RuntimeError("the voice agent is not started")
        return TextChatHandler(self.runtime)

    async def stop(self) -> None:
        if self.runtime is not None:
            await teardown(self.runtime)
            self.runtime = None
        self.appointments = self.handler = _NotStarted()

    async def reload(self, settings: Settings) -> None:
        """SIGHUP: the clinic file, workflows and agent settings again, for new calls."""
        rt = self.runtime
        if rt is None:
            return
        cdir = Path(settings.config_dir)
        clinic = ClinicFileSource(cdir / settings.clinic_file).clinic()
        check_reminders_for_clinic(settings.sms, clinic.name, str(cdir / settings.clinic_file))
        self.runtime = dataclasses.replace(
            rt, workflows=load_all(cdir / "workflows"), clinic=clinic,
            routes=dict(settings.agent.routes), human_queue=settings.agent.human_queue,
            queues=dict(settings.agent.queues), record_audio=settings.agent.record_audio)
        self.handler = handler_for(self.runtime)

    def texts(self, port: TextPort, reminder_templates: Mapping[str, str]) -> TextReminders:
        """``carrier.plugin.TextApplication``: replies to reminder texts run the SMS
        workflow; "text me the address" on a call sends the text through ``port``."""
        rt = self.runtime
        if rt is None:
            raise RuntimeError("the agent is not started")
        rt.texter = AddressTexter(rt.memory, port.send_requested, clinic=rt.clinic.name,
                                  address=rt.clinic.address_line, channel="voice",
                                  workflow="call")
        return TextReminders(rt.workflows[SMS_WORKFLOW], rt.calendar, rt.memory,
                             clinic=rt.clinic, patient_facts=records_patient_facts(rt.records),
                             send=port.send_to_patient, reply=port.reply,
                             template=reminder_templates["en"],
                             template_es=reminder_templates["es"],
                             clock=lambda: dt.datetime.now(dt.UTC),
                             revoke=port.revoke, revoke_number=port.revoke_number,
                             answer=port.answer, overlays=rt.overlays,
                             hand_off=records_hand_off(rt.records, channel="sms"),
                             languages=RecordsLanguages(rt.records))

    def health(self) -> list[ComponentHealth]:
        rt = self.runtime
        if rt is None:
            return [ComponentHealth("agent", False, "not started")]
        if rt.stt is None:
            return [ComponentHealth("agent.stt", True, "speech off")]
        # A pool a killed worker broke has no live pids. Failing, this node gets no calls
        # whose utterances would replace it: the check starts the new pool itself.
        workers = len(rt.stt.worker_pids)
        if workers == 0 and (self._reviving is None or self._reviving.done()):
            with contextlib.suppress(RuntimeError):  # no loop running: nothing to start on
                self._reviving = asyncio.get_running_loop().create_task(rt.stt.revive())
                self._reviving.add_done_callback(_revived)
        return [ComponentHealth("agent.stt", workers > 0, f"{workers} worker processes"
                                + ("" if workers else f"; restarts {rt.stt.restarts}"))]

    def levels(self) -> list[Level]:
        """``carrier.plugin.MeasuredApplication``: where the utterances went (the quick
        model's text kept, base, a careful second pass, or shed: a second pass not
        decoded because no worker took it in time) and how many wait for a worker, so
        an operator sees a crowded speech pool before callers hear it."""
        rt = self.runtime
        if rt is None or rt.stt is None:
            return []
        st = rt.stt.stats
        name, text = "carrier_stt_utterances", "Utterances decoded, by model route"
        routes = {"quick": st.quick_kept, "base": st.items - st.careful - st.quick_kept,
                  "careful": st.careful, "shed": st.shed}
        return [*(Level(name, text, (("route", r),), float(n), counter=True)
                  for r, n in routes.items()),
                Level("carrier_stt_pending", "Utterances queued or decoding", (),
                      float(rt.stt.pending)),
                Level("carrier_stt_worker_restarts", "Speech worker pools replaced after a "
                      "worker died", (), float(rt.stt.restarts), counter=True)]


def _revived(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:  # the next check tries again
        log.warning("speech pool restart failed: %s", type(task.exception()).__name__)


application: Application = VoiceAgent()  # mypy checks the contract here


def streaming_config(sp: SpeechSettings) -> StreamingConfig:
    """Early transcription and the end-of-turn rule (``speech.turn_end``) from ``speech``."""
    return StreamingConfig(pause_ms=sp.early_pause_ms,
                           complete_hangover_ms=sp.complete_hangover_ms,
                           turn_end=TurnEndMode(sp.turn_end),
                           incomplete_hangover_ms=sp.incomplete_hangover_ms,
                           max_hangover_ms=max(sp.incomplete_hangover_ms, sp.hangover_ms),
                           complete_floor_ms=sp.complete_floor_ms)


async def setup(settings: Settings, records: Records, *, speech: bool = True) -> AgentRuntime:
    cdir = Path(settings.config_dir)
    source = ClinicFileSource(cdir / settings.clinic_file)
    clinic = source.clinic()
    # the reminders' {clinic} is this name: sized with it (160 characters), not sms.brand
    check_reminders_for_clinic(settings.sms, clinic.name, str(cdir / settings.clinic_file))
    tz = ZoneInfo(clinic.timezone)
    workflows = load_all(cdir / "workflows")
    calendar = PostgresCalendar(records.pool, tz=tz)
    stt: SpeechToText | None = None
    tts: TextToSpeech | None = None
    tts_es: TextToSpeech | None = None
    sp = settings.speech
    if speech:
        stt = SpeechToText(stt_config(settings))
        await stt.start()
        cache = PromptCache(settings.path(sp.tts_cache_dir, "tts-cache"),
                            piper_voice_paths().voice_id)
        tts = TextToSpeech(cache)
        await tts.start()
        # The Spanish voice (issue 12), its prompt cache beside the English one.
        tts_es = EspeakSpeech(PromptCache(settings.path(sp.tts_cache_dir, "tts-cache"),
                                          "espeak-ng-" + SPANISH_VOICE))
        await tts_es.start()
    endpoint, streaming = endpoint_config(sp), streaming_config(sp)
    return AgentRuntime(
        endpoint=endpoint, streaming=streaming, records=records, stt=stt, tts=tts,
        workflows=workflows, clinic=clinic,
        calendar=calendar, memory=PostgresMemoryStore(records.pool, keys=records.keys),
        routes=dict(settings.agent.routes), human_queue=settings.agent.human_queue,
        queues=dict(settings.agent.queues), record_audio=settings.agent.record_audio,
        tts_es=tts_es, overlays=load_overlays(cdir / "workflows" / "es"),
    )


def stt_config(settings: Settings) -> SttConfig:
    """The recogniser's settings from ``speech`` (model folder, device, compute type,
    worker processes, the quick model for judged answers)."""
    sp = settings.speech
    return SttConfig(model_dir=whisper_model_dir(settings.path(sp.stt_model_dir,
                                                               "models/whisper-base")),
                     device=sp.stt_device, compute_type=sp.stt_compute_type,
                     workers=sp.stt_workers,
                     quick_model_dir=quick_model_dir() if sp.stt_quick_model != "none" else None)


def endpoint_config(sp: SpeechSettings) -> EndpointConfig:
    """The endpointer's settings from ``speech``: the VAD engine and the turn timings."""
    return EndpointConfig(vad=sp.vad, aggressiveness=sp.vad_aggressiveness,
                          hangover_ms=sp.hangover_ms, min_speech_ms=sp.min_speech_ms,
                          max_utterance_ms=sp.max_utterance_ms)


async def teardown(rt: AgentRuntime) -> None:
    if rt.stt is not None:
        await rt.stt.close()
    if rt.tts is not None:
        await rt.tts.close()
    if rt.tts_es is not None:
        await rt.tts_es.close()


async def seed_demo(settings: Settings, records: Records, now: dt.datetime) -> dict[str, str]:
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
    # Prescriptions (PHI, encrypted) from the clinic file until the EHR feed replaces it.
    await PostgresRefillDesk(records).load(
        prescriptions_from(source._data.get("prescriptions", []), ids), now)
    have = await records.pool.fetchval("SELECT count(*) FROM sched_providers")
    if not have:
        providers, slots, appointments = source.calendar_data(now)
        appts = [dataclasses.replace(a, patient_id=ids.get(a.patient_id, a.patient_id))
                 for a in appointments]
        cal = PostgresCalendar(records.pool, tz=ZoneInfo(source.clinic().timezone))
        await cal.load(providers, slots, appts, now)
    return ids


async def restore_demo_appointment(settings: Settings, records: Records, appointment_id: str,
                                   now: dt.datetime) -> None:
    """Set a demo clinic appointment back to what the clinic file says, relative to ``now``
    (an earlier demo run confirmed it, or it was seeded on an earlier day)."""
    source = ClinicFileSource(Path(settings.config_dir) / settings.clinic_file)
    _, _, appointments = source.calendar_data(now)
    appt = next(a for a in appointments if a.id == appointment_id)
    appt = dataclasses.replace(appt, patient_id=str(patient_uuid(appt.patient_id)))
    await PostgresCalendar(records.pool, tz=ZoneInfo(source.clinic().timezone)).restore(
        appt, now)
