"""A live call stored: its record and its transcript, redacted (the clinic's names kept).

The whole transcript is redacted with one set of identifiers: the patient's from the record,
the organisation's own words to keep (``KnownIdentifiers.keep``), and every name the caller
gave in the call, so the agent saying it back ("Thank you, Jo") is redacted too."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from agent.memory import ConversationLog, Turn
from agent.redact import KnownIdentifiers, find_spans, redact
from agent.workflow.records import spoken_phone
from carrier.records.store import DATABASE_UNAVAILABLE, CallRecord

log = logging.getLogger("agent.transcript")

if TYPE_CHECKING:
    from agent.handler import AgentRuntime, CallResult
    from agent.voice import VoiceIO


def redact_keeping(text: str, known: KnownIdentifiers, keep: Iterable[str]) -> str:
    """Redact PHI but keep the organisation's and providers' names (not PHI) readable."""
    return redact(text, dataclasses.replace(known, keep=(*known.keep, *keep)))


def transcript_identifiers(turns: Iterable[tuple[str, str]], known: KnownIdentifiers,
                           keep: Iterable[str]) -> KnownIdentifiers:
    """The identifiers one call's transcript is redacted with: ``known``, the organisation's
    words to ``keep``, and the names the caller gave (said back by the agent, or again)."""
    known = dataclasses.replace(known, keep=(*known.keep, *keep))
    heard = [text[s.start:s.end] for who, text in turns if who == "caller"
             for s in find_spans(text, known) if s.label == "NAME"]
    new = tuple(dict.fromkeys(name for name in heard if name not in known.names))
    return dataclasses.replace(known, names=(*known.names, *new)) if new else known


def redact_transcript(turns: list[tuple[str, str]], known: KnownIdentifiers,
                      keep: Iterable[str]) -> list[tuple[str, str]]:
    known = transcript_identifiers(turns, known, keep)
    return [(who, redact(text, known)) for who, text in turns]


def known_identifiers(patient: Mapping[str, Any] | None) -> KnownIdentifiers:
    if not patient:
        return KnownIdentifiers()
    dob = None
    if patient.get("dob"):
        dob = dt.date.fromisoformat(str(patient["dob"]))
    names = tuple(str(patient[k]) for k in ("first_name", "last_name") if patient.get(k))
    return KnownIdentifiers(names=names, dob=dob, phones=(str(patient.get("phone", "")),),
                            member_ids=(str(patient.get("member_id", "")),))


async def store_call(  # noqa: PLR0917 - the call's pieces, gathered once at its end
    rt: AgentRuntime, call: Any, io: VoiceIO, result: CallResult,
    known: KnownIdentifiers, started: dt.datetime,
) -> None:
    """The call's record and redacted transcript (and audio, when kept), durable."""
    try:
        providers = [p.name for p in await rt.calendar.providers()]
    except DATABASE_UNAVAILABLE:
        providers = []  # the calendar is in the database too; redaction still runs
    keep = [rt.clinic.name, spoken_phone(rt.clinic.callback_number), rt.clinic.address_line,
            *providers]
    known = transcript_identifiers(io.transcript.turns, known, keep)
    result.redacted = [(who, redact(text, known)) for who, text in io.transcript.turns]
    result.timings = list(io.timings)
    result.raw_turns = list(io.transcript.turns)
    # The records facade encrypts the transcript and audio and makes the whole call durable
    # (committed, or spooled while the database is away and stored when it returns).
    await rt.records.record_call(
        CallRecord(call.call_id, str(getattr(call.direction, "value", call.direction)),
                   started_at=started, ended_at=dt.datetime.now(dt.UTC),
                   workflow=result.workflow, patient_id=result.patient_id,
                   outcome=result.outcome or "ended", stir_status=call.caller.stir_status,
                   verstat=call.caller.verstat, amd=result.amd),
        result.redacted,
        recording=(np.concatenate(io.recording).astype("<i2").tobytes()
                   if io.recording else None),
        sample_rate=16000)
    await rt.records.audit("agent", "call.transcript_stored", ("call", call.call_id),
                           result.workflow, {"turns": len(result.redacted),
                                             "outcome": result.outcome or "ended"})
    if result.patient_id is not None:
        try:
            await remember_turns(rt.memory, result.patient_id, result.workflow,
                                 result.redacted, started, known)
        except DATABASE_UNAVAILABLE:
            # The transcript is durable (spooled); memory is a convenience.
            log.warning("call %s: turns not kept in memory (database unreachable)",
                        call.call_id)


async def remember_turns(memory: ConversationLog, patient_id: str, workflow: str,  # noqa: PLR0917 - the call's pieces, as store_call has them
                         redacted: list[tuple[str, str]], started: dt.datetime,
                         known: KnownIdentifiers) -> None:
    """A call's turns in the one conversation memory (channel ``voice``), redacted as the
    transcript is (the memory redacts again with the same identifiers), so the next text
    thread or call knows what was said on the phone. Turns keep their order: each is
    stamped a microsecond after the one before, from the call's start."""
    for i, (who, text) in enumerate(redacted):
        speaker = "patient" if who == "caller" else "agent"
        await memory.note(Turn(patient_id, "voice", workflow, speaker, text,
                               started + dt.timedelta(microseconds=i)), known)
