"""How a live call ends when it cannot end as the workflow planned: the exempt-call
length budget, a transfer nobody takes, and a warm transfer's hand-over.

* :class:`Budget` - an exempt healthcare call (47 CFR 64.1200(a)(9)(iv), see
  ``docs/exempt-call-limit.md``) has ``CallContext.max_duration_s``. The agent plans
  within it: no prompt starts that would end past the *soft end* (the limit less the
  time a caller needs to finish a sentence and the closing takes); a caller still
  speaking at the soft end is heard out; then the closing is said and the agent hangs
  up, all before the carrier's hard limit (which stays as the backstop).
* :func:`warm_transfer` - an attended transfer: the consult leg rings the human's
  queue with the context in a header, the context is spoken to the human, then the
  patient is bridged to them.
* :func:`after_hangup` - a key or the words a caller left as they hung up.
* :func:`closing_text` - what the caller hears instead (after a failed transfer:
  ``agent.callback``).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from agent.callback import create_callback_task
from agent.i18n import SPANISH
from carrier.call import Call, DialFailure
from carrier.records.languages import SUPPORTED
from carrier.records.store import Channel

if TYPE_CHECKING:
    from agent.handler import AgentRuntime
    from agent.voice import VoiceIO
    from agent.workflow.effects import AddDoNotCall, Input, RecordRevocation
    from carrier.records.store import Records

SPOKEN_WORDS_PER_S = 2.6  # Piper's pace on our prompts, for a prompt not yet synthesised
CLOSING_S = 12.0  # the closing prompt, spoken (its real length once synthesised)
FINISH_S = 5.0  # time a caller speaking at the soft end gets to finish the sentence
SLACK_S = 2.0  # recognising that last sentence, and our BYE


class BudgetReached(Exception):
    """The call's time is up: say the closing now."""


@dataclass
class Budget:
    """The length budget of one call on the loop's monotonic clock.

    The closing is budgeted as it will be said: in the call's language, at the pace in use
    (slower once the caller asked for it). :meth:`follow` tells it both as they change;
    until that closing is measured, the last measurement is scaled by the pace."""

    limit_s: float
    started: float  # time.monotonic() at answer
    closing_s: float = CLOSING_S  # the closing as last measured, at closing_pace
    closing_pace: float = 1.0
    pace: float = 1.0  # the pace prompts are said at now
    _said: tuple[str, float] | None = None  # the closing as it would be said now

    @property
    def closing_now_s(self) -> float:
        return self.closing_s * self.pace / self.closing_pace

    @property
    def soft_end(self) -> float:
        return self.started + max(0.0, self.limit_s - self.closing_now_s - FINISH_S - SLACK_S)

    def remaining(self, now: float | None = None) -> float:
        return self.soft_end - (time.monotonic() if now is None else now)

    def fits(self, seconds: float) -> bool:
        """Whether a prompt lasting ``seconds`` ends before the soft end."""
        return self.remaining() >= seconds

    def follow(self, closing: str, pace: float) -> bool:
        """The closing would now be ``closing`` said at ``pace``; True when that one is yet
        to be measured (:meth:`measured`)."""
        self.pace = pace
        if self._said == (closing, pace):
            return False
        self._said = (closing, pace)
        return True

    def measured(self, closing: str, pace: float, seconds: float) -> None:
        """A closing's spoken length; one no longer to be said (a late answer) is ignored."""
        if self._said == (closing, pace):
            self.closing_s, self.closing_pace = seconds, pace


def spoken_seconds(text: str, cached: np.ndarray | None, pace: float = 1.0) -> float:
    """A recording lasts its length; a prompt not yet synthesised is estimated at ``pace``."""
    if cached is not None:
        return len(cached) / 16000
    return len(text.split()) / SPOKEN_WORDS_PER_S * pace


def closing_text(clinic_name: str, number: str, spanish: bool = False) -> str:
    """In the call's language: a Spanish call's voice cannot say the English words."""
    if spanish:
        return (f"Lo siento, se acabó el tiempo de esta llamada automática. Para seguir, "
                f"llame a {clinic_name} al {number}. Adiós.")
    return (f"I am sorry, we have reached the time for this automated call. "
            f"To go on, please call {clinic_name} at {number}. Goodbye.")


def context_text(summary: str) -> str:
    """The spoken context for the human (already redacted by the engine)."""
    return "Warm transfer from the automated assistant. " + summary.replace("_", " ") + "."


Speak = Callable[[Call, str], Awaitable[None]]


async def warm_transfer(call: Call, target: str, summary: str, speak: Speak,
                        detach: Callable[[], Awaitable[None]]) -> bool:
    """Call the human at ``target``, give them the context (a header and speech), then
    connect the patient; False (the patient still with us) when nobody takes it."""
    leg = await call.consult(target, {"Subject": "Warm transfer",
                                      "X-Transfer-Context": summary[:400]})
    if isinstance(leg, DialFailure):
        return False
    await speak(leg, context_text(summary))
    if leg.ended.is_set() or call.ended.is_set():
        await leg.hangup("transfer-abandoned")
        return False
    await detach()  # the patient's audio goes to the human from now on
    return await call.bridge(leg)


async def after_hangup(io: VoiceIO, call: Call) -> Input:
    """What the caller left as they hung up: a key pressed just before (9: an opt-out),
    else the words they were saying ("stop calling me" and the receiver goes down: before,
    the turn died with the line and no revocation was recorded), else the hang-up."""
    from agent.workflow.effects import CallerHangup, Dtmf  # noqa: PLC0415 - as at the top

    key = io.pending_key() or last_key(call)
    if key is not None:
        return Dtmf(key)
    words = await io.last_words()
    return words if words is not None else CallerHangup()


def last_key(call: Call) -> str | None:
    """A 0 or 9 the carrier reported as the call ended (not yet heard by the voice side)."""
    key = None
    while not call.events.empty():
        event = call.events.get_nowait()
        if event.kind == "dtmf" and event.value and event.value in "09":
            key = event.value
    return key


async def leave_minimal_message(call: Call, io: VoiceIO, clinic_name: str, number: str,
                                records: Records) -> None:
    """Minimum necessary on a machine: organisation and callback number, nothing else;
    in Spanish when the call is (the patient's preferred language, ``io.language``)."""
    await io.wait_for_silence(quiet_s=0.8, limit_s=20.0)
    text = (f"Hello, this is {clinic_name} calling with a message. "
            f"Please call us back at {number}. Thank you.")
    if io.language == SPANISH:
        text = (f"Hola, le llamamos de {clinic_name} con un mensaje. "
                f"Por favor llámenos al {number}. Gracias.")
    await io.say(text, interruptible=False)
    await records.audit("agent", "call.machine_message", ("call", call.call_id),
                        "answering machine: minimum-necessary message left", {})
    await call.hangup("machine_message")


def with_interpreter(summary: str, patient: Mapping[str, Any] | None) -> str:
    """The transfer context, telling the one answering that the EHR names a language the
    clinic does not call in (an interpreter may be needed), before they speak."""
    ehr = str((patient or {}).get("ehr_language") or "")
    if not ehr or ehr in SUPPORTED:
        return summary
    return f"{summary}; EHR language {ehr}: an interpreter may be needed"


def transfer_target(rt: AgentRuntime, target: str) -> str:
    """A workflow names a queue; the configuration says where that queue rings."""
    if target in rt.queues:
        return rt.queues[target]
    if target.startswith(("sip:", "sips:", "tel:")):
        return target
    return rt.human_queue


async def add_dnc(rt: AgentRuntime, call: Call, effect: AddDoNotCall) -> None:
    """The number onto the organisation's do-not-call list: the caller's opt-out, or a
    wrong number (the number is not the patient's; its owner never agreed to the calls)."""
    phone = effect.phone or call.caller.number
    if phone:
        wrong = effect.reason == "wrong number"
        await rt.records.dnc_add(
            phone, source="voice_wrong_number" if wrong else "voice_opt_out", actor="agent",
            reason=f"{'wrong number' if wrong else 'opt-out'} on call {call.call_id}")


OPT_OUT_REQUEST = "opt_out_request"


def vouched(call: Call, verified: bool) -> bool:
    """Whether an opt-out in this conversation may act at once on its number and patient.
    A call's caller ID is the called party's own line (a key press or the words on it are
    the "reasonable means" of 64.1200(a)(10)); the number typed into the web page is not
    vouched for (anyone can type anyone's), until the chat has verified the patient (date
    of birth and full name, ``agent.workflow.stepup``)."""
    return verified or call.context.extra.get("channel") != "web"


async def request_opt_out(rt: AgentRuntime, call: Call, *, patient_id: str | None,
                          phone: str | None, method: str, at: dt.datetime) -> None:
    """An opt-out from an unverified web chat: never lost. The consent of the patient at
    the number is revoked at once all the same (the handler does it: a revocation may come
    by any reasonable means, and a mistaken one is undone by ``carrier consent grant``),
    but the number is not put on the do-not-call list, which nothing removes: anyone can
    type anyone's number. A staff task (the number encrypted) asks staff to confirm it
    with the number's owner, and an audit entry says where the request came from."""
    number = phone or call.caller.number
    task = await create_callback_task(rt.records, queue=rt.human_queue, patient_id=patient_id,
                                      call_id=call.call_id, number=number, now=at,
                                      kind=OPT_OUT_REQUEST)
    await rt.records.audit("agent", "consent.revoke_requested", ("call", call.call_id),
                           "opt-out typed in an unverified web chat: staff confirm it with the "
                           "number's owner", {"method": method, "staff_task": task}, at=at)


async def revoke(rt: AgentRuntime, call: Call, effect: RecordRevocation) -> None:
    """An opt-out on the call revokes voice consent; a reported death (method
    ``reported_deceased``) every channel's, so no call or text goes out about the patient
    until the clinic has looked (``carrier consent grant`` undoes a mistaken report)."""
    if effect.patient_id is not None:
        channels = list(Channel) if effect.method == "reported_deceased" else [Channel.VOICE]
        for channel in channels:
            await rt.records.consent_revoke(
                uuid.UUID(effect.patient_id), channel, source=f"call_{effect.method}",
                evidence_ref=call.call_id, actor="agent", at=effect.at)
    else:
        await rt.records.audit("agent", "consent.revoke_unmatched", ("call", call.call_id),
                               "opt-out from a caller not matched to a patient",
                               {"method": effect.method}, at=effect.at)
