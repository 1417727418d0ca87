"""After a failed transfer: the call-back offer, and the staff task a "yes" creates.

Nobody could take the caller (busy, no answer, the queue refused): the agent apologises
and asks whether we should call back. "Yes" (or key 1) creates a ``callback`` task in
``staff_tasks`` (migration 0105) for the queue that was tried, with the number to call
encrypted (the records keys) and an audit entry; only once the task is durable is the
caller told someone will call. Anything else, or a database that cannot take the task,
gets the number to call instead: the caller is never promised a call nobody will make.
An emergency said at the offer is answered with 911 (988 in a crisis); an opt-out is
recorded (the conversation ended with the transfer, so the engine no longer hears it).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from agent.grammar import understand
from agent.workflow.effects import Dtmf, Expectation, Input, Utterance
from carrier.records.store import DATABASE_UNAVAILABLE, Records

log = logging.getLogger(__name__)

CALLBACK_KIND = "callback"
OFFER_EXPECTS = Expectation(("affirm", "deny"), None, ("1", "2"), ("yes", "no"))


@dataclass(frozen=True)
class CallbackTexts:
    offer: str
    booked: str
    declined: str
    # An emergency or a crisis said at the offer: 911 (988), and no "connecting you": the
    # transfer to staff has just failed.
    emergency: str
    crisis: str
    opted_out: str


def callback_texts(number: str, *, spanish: bool) -> CallbackTexts:
    if spanish:
        return CallbackTexts(
            "Lo siento, no pude comunicarme con nadie de nuestro equipo en este momento. "
            "¿Quiere que le llamemos más tarde a este número? Diga sí o no.",
            f"Gracias. Alguien de nuestro equipo le llamará. Si nos necesita antes, "
            f"llámenos al {number}. Adiós.",
            f"Muy bien. Por favor llámenos al {number}, y si nadie contesta, deje un "
            f"mensaje. Adiós.",
            "Si es una emergencia médica, cuelgue y llame al nueve uno uno ahora.",
            "Si está pensando en hacerse daño, llame o envíe un mensaje al nueve ocho ocho, "
            "la Línea de Prevención del Suicidio y Crisis, o llame al nueve uno uno ahora. "
            "No está solo.",
            "Muy bien. No le volveremos a llamar. Adiós.")
    return CallbackTexts(
        "I am sorry, I could not reach a member of our team just now. Would you like us "
        "to call you back at this number? Please say yes or no.",
        f"Thank you. A member of our team will call you back. If you need us sooner, "
        f"call us at {number}. Goodbye.",
        f"All right. Please call us at {number}, and if nobody answers, leave a message. "
        f"Goodbye.",
        "If this is a medical emergency, please hang up and call nine one one now.",
        "If you are thinking about hurting yourself, please call or text nine eight eight, "
        "the Suicide and Crisis Lifeline, or call nine one one now. You are not alone.",
        "All right. We will not call you again. Goodbye.")


def wants_callback(heard: Input) -> bool:
    """A yes to the offer: key 1, or an answer the grammar reads as affirm, or as asking
    to be called back ("call me back" is a deferral elsewhere, and the yes here); never
    with a no or an opt-out in it."""
    if isinstance(heard, Dtmf):
        return heard.key == "1"
    if isinstance(heard, Utterance):
        intents = understand(heard.text).intents
        return bool(intents & {"affirm", "later"}) and not intents & {"deny", "opt_out"}
    return False


async def create_callback_task(records: Records, *, queue: str, patient_id: str | None,
                               call_id: str, number: str, now: dt.datetime,
                               kind: str = CALLBACK_KIND) -> int:
    """The task row (number encrypted) and its audit entry; durable when it returns.
    ``kind``: a call-back, or an opt-out request staff confirm (``agent.endings``)."""
    async with records.pool.acquire() as conn, conn.transaction():
        task_id = int(await conn.fetchval("SELECT nextval('staff_tasks_id_seq')"))
        details = records.keys.encrypt(number, "staff_tasks", "details", str(task_id)) \
            if number else None
        await conn.execute(
            "INSERT INTO staff_tasks (id, kind, queue, patient_id, call_id, created_at,"
            " details_ct) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            task_id, kind, queue, patient_id, call_id, now, details)
    # The call id stays in the task row, not in the audit details: a carrier's Call-ID is
    # often digits, which the audit's PHI guard reads as a phone number and refuses.
    await records.audit("agent", "staff_task.created", ("staff_task", task_id), kind,
                        {"queue": queue}, at=now)
    return task_id


HandOff = Callable[[str | None, str, str, dt.datetime], Awaitable[int]]
"""``(patient_id, number, queue, now)``: a call-back task where no call can be transferred
(a text thread told "our staff will contact you"); returns the task id."""


def records_hand_off(records: Records, *, channel: str) -> HandOff:
    """:data:`HandOff` on the records: a ``callback`` task (number encrypted), audited; its
    call id names the channel and the time (a text thread has no call)."""
    async def hand_off(patient_id: str | None, number: str, queue: str,
                       now: dt.datetime) -> int:
        return await create_callback_task(records, queue=queue, patient_id=patient_id,
                                          call_id=f"{channel}:{now:%Y%m%dT%H%M%SZ}",
                                          number=number, now=now)
    return hand_off


Say = Callable[[str], Awaitable[object]]
Listen = Callable[[Expectation], Awaitable[Input]]
OptedOut = Callable[[str], Awaitable[None]]


def _opt_out_method(heard: Input) -> str | None:
    """"voice" or "dtmf" for an opt-out ("stop calling me", key 9), else None."""
    if isinstance(heard, Dtmf):
        return "dtmf" if heard.key == "9" else None
    if isinstance(heard, Utterance) and "opt_out" in understand(heard.text).intents:
        return "voice"
    return None


async def offer_callback(say: Say, listen: Listen, records: Records, *, queue: str,
                         patient_id: str | None, call_id: str, caller_number: str,
                         clinic_number: str, spanish: bool, now: dt.datetime,
                         opted_out: OptedOut | None = None) -> int | None:
    """Ask, and on a yes create the task; returns its id (None: no call-back booked).
    The caller hears the closing line either way; the call's hang-up is the caller's.
    An emergency said here is answered with 911 (988); an opt-out ("stop calling me",
    key 9) is handed to ``opted_out`` (the revocation and the do-not-call entry) first."""
    texts = callback_texts(clinic_number, spanish=spanish)
    await say(texts.offer)
    heard = await listen(OFFER_EXPECTS)
    task_id = None
    urgent = understand(heard.text).intents if isinstance(heard, Utterance) else frozenset()
    if urgent & {"emergency", "crisis"}:
        await say(texts.crisis if "crisis" in urgent else texts.emergency)
        return None
    method = _opt_out_method(heard)
    if method is not None and opted_out is not None:
        await opted_out(method)
        await say(texts.opted_out)
        return None
    if wants_callback(heard) and caller_number:
        try:
            task_id = await create_callback_task(
                records, queue=queue, patient_id=patient_id, call_id=call_id,
                number=caller_number, now=now)
        except DATABASE_UNAVAILABLE:
            log.warning("call %s: the call-back task could not be stored", call_id)
    await say(texts.booked if task_id is not None else texts.declined)
    return task_id
