"""A live call stored: its record and its transcript, redacted (the clinic's names kept).

The whole transcript is redacted with one set of identifiers: the patient's from the record,
the organisation's own words to keep (``KnownIdentifiers.keep``), and every name the caller
gave in the call, so the agent saying it back ("Thank you, Jo") is redacted too. A name
said with no lead ("Jo Demo", answering "please say your first and last name") is read as
the engine reads it there: with the name slot's parser."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import logging
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from agent.grammar import parse_slot
from agent.memory import ConversationLog, Turn
from agent.prompts import prompt_literals, workflow_texts
from agent.redact import KnownIdentifiers, find_spans, redact
from agent.redaction.names import PARTICLES
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
    turns = list(turns)
    heard = [text[s.start:s.end] for who, text in turns if who == "caller"
             for s in find_spans(text, known) if s.label == "NAME"]
    heard += [name for name in _names_answered(turns) if name not in heard]
    # particles ("Juana de la Cruz") are no name of their own: redacted everywhere
    heard = [" ".join(w for w in name.split() if w.lower() not in PARTICLES) for name in heard]
    new = tuple(dict.fromkeys(name for name in heard if name and name not in known.names))
    return dataclasses.replace(known, names=(*known.names, *new)) if new else known


# The agent asking for the caller's name (the intake's "please say your first and last
# name", "¿su nombre y apellido?"), not "the name of your insurance company".
_ASKS_NAME = re.compile(r"\byour (?:full |first |last |first and last )?name\b|"
                        r"\bfirst and last name\b|\bspell (?:your|it|that)\b|\bsu nombre\b|"
                        r"\bnombre (?:y|completo)\b|\bapellidos?\b", re.IGNORECASE)


def _names_answered(turns: list[tuple[str, str]]) -> list[str]:
    """Names given as the answer to a question for the caller's name."""
    out = []
    for (asker, asked), (who, said) in itertools.pairwise(turns):
        if asker == "agent" and who == "caller" and _ASKS_NAME.search(asked):
            name = parse_slot("name", said, dt.datetime.now(dt.UTC))
            if isinstance(name, str) and name.strip():
                out.append(name.strip())
    return out


def redact_transcript(turns: list[tuple[str, str]], known: KnownIdentifiers,
                      keep: Iterable[str], agent_words: Iterable[str] = ()
                      ) -> list[tuple[str, str]]:
    """Every turn redacted; the agent's also keep ``agent_words``, the literal words of
    the prompts (``agent.prompts.prompt_literals``), which a caller's turn does not."""
    known = transcript_identifiers(turns, known, keep)
    agent = dataclasses.replace(known, keep=(*known.keep, *agent_words))
    return [(who, redact(text, agent if who == "agent" else known)) for who, text in turns]


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
    workflow = rt.workflows.get(result.workflow)
    overlay = rt.overlays.for_workflow(result.workflow) if rt.overlays is not None else None
    agent = dataclasses.replace(known, keep=(*known.keep, *prompt_literals(
        workflow_texts(workflow, overlay) if workflow is not None else ())))
    result.redacted = [(who, redact(text, agent if who == "agent" else known))
                       for who, text in io.transcript.turns]
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
                                 result.redacted, started, known, agent)
        except DATABASE_UNAVAILABLE:
            # The transcript is durable (spooled); memory is a convenience.
            log.warning("call %s: turns not kept in memory (database unreachable)",
                        call.call_id)


async def remember_turns(memory: ConversationLog, patient_id: str, workflow: str,  # noqa: PLR0917 - the call's pieces, as store_call has them
                         redacted: list[tuple[str, str]], started: dt.datetime,
                         known: KnownIdentifiers, agent: KnownIdentifiers | None = None
                         ) -> None:
    """A call's turns in the one conversation memory (channel ``voice``), redacted as the
    transcript is (the memory redacts again with the same identifiers), so the next text
    thread or call knows what was said on the phone. Turns keep their order: each is
    stamped a microsecond after the one before, from the call's start."""
    for i, (who, text) in enumerate(redacted):
        speaker = "patient" if who == "caller" else "agent"
        await memory.note(Turn(patient_id, "voice", workflow, speaker, text,
                               started + dt.timedelta(microseconds=i)),
                          agent if agent is not None and speaker == "agent" else known)
