"""Texts to and from patients, as the carrier carries them: gate, ledger, keywords.

* ``send_to_patient``: the same compliance gate as a call (``channel="sms"``), under the
  same per-patient and per-number locks as the voice dialer's gate + dial: consent,
  do-not-call, quiet hours in the patient's time zone, and the exemption's caps counted
  over calls *and* texts (the dialer's prior contacts include ``sms_messages``). Every
  decision goes to the audit log; a refusal raises :class:`DialRefused` naming its rule.
  An exempt text is at most 160 characters.
* Inbound: a STOP/START/HELP keyword (CTIA; any reasonable opt-out, FCC 24-24: see
  ``compliance.keyword``) is handled here, before any application sees the text: the
  revocation is in the consent ledger before the reply goes out (on every channel when
  ``sms.stop_revokes`` is ``all``, or the words name calls: ``opt_out_channels``; a number
  that is no patient's goes on the organisation's do-not-call list), the reply says what
  was revoked, and the application is told (``opted_out``) so its
  open conversation sends nothing more. Anything else goes to the application's
  :class:`TextHandler` with the patient the number belongs to; an opt-out the
  application hears in a conversation comes back through :meth:`SmsService.revoke`.

No number or text is logged; ``sms_messages`` keeps ids, subjects and statuses only.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from carrier.dialer.gate import Consent, Decision, DialRefused, Gate
from carrier.dialer.inputs import gate_facts, request_for
from carrier.dialer.ports import (
    CallHistory,
    ComplianceFacts,
    ContactInvalid,
    ContactLocks,
    DecisionRecorder,
    PatientDirectory,
    TextNotSent,
)
from carrier.records.crypto import InvalidPhoneNumber, lookup_form
from carrier.records.languages import SPANISH
from carrier.records.store import DATABASE_UNAVAILABLE, Records
from carrier.sms.compliance import (
    EVERY_CHANNEL,
    ExemptTextError,
    Keyword,
    Program,
    check_exempt_text,
    keyword,
    names_cancel,
    opt_out_channels,
    said_in_spanish,
)
from carrier.sms.settings import SmsSettings
from carrier.sms.smpp import InboundText

log = logging.getLogger("carrier.sms")
CHANNEL = "sms"


class TextSender(Protocol):
    """A transport (the SMPP link, SIP MESSAGE): parts' ids once the upstream took them."""

    async def send(self, to: str, text: str) -> list[str]: ...


@dataclass(frozen=True)
class PatientText:
    """An inbound text for the application: the patient the sending number belongs to
    (None: unknown or ambiguous), the text, when. ``sender`` is PHI: never log it."""

    patient_id: str | None
    sender: str
    text: str
    at: dt.datetime

    def __repr__(self) -> str:
        return f"PatientText(patient_id={self.patient_id!r}, <redacted>)"


class TextHandler(Protocol):
    async def __call__(self, message: PatientText) -> None: ...

    async def opted_out(self, patient_id: str) -> None:
        """This patient's STOP was taken: end any open conversation, send nothing more."""
        ...


@dataclass(frozen=True)
class SentText:
    patient_id: str
    smsc_ids: tuple[str, ...]
    exempt: bool


class SmsService:
    def __init__(self, sender: TextSender, records: Records, gate: Gate, *,
                 settings: SmsSettings, facts: ComplianceFacts, history: CallHistory,
                 locks: ContactLocks,
                 directory: PatientDirectory, recorder: DecisionRecorder,
                 clock: Callable[[], dt.datetime],
                 handler: TextHandler | None = None) -> None:
        self.sender = sender
        self.records = records
        self.gate = gate
        self.settings = settings
        self.facts = facts
        self.history = history
        self.locks = locks
        self.directory = directory
        self.recorder = recorder
        self.clock = clock
        self.handler = handler
        # Numbers whose STOP was taken in an outage (patients unknown then): their open
        # conversations are ended at the number's next text with the database back.
        self._stopped_unseen: set[str] = set()

    @property
    def program(self) -> Program:
        return Program(self.settings.brand, self.settings.help_number)

    async def send_to_patient(self, patient_id: str, purpose: str, text: str) -> SentText:
        """Gate, then send; raises DialRefused (the rule: ``contact.unknown`` and
        ``contact.invalid`` too, for a patient the records cannot text, and
        ``sms.exempt.length`` for an exempt text over 160 characters)."""
        now = self.clock()
        try:
            contact = await self.directory.contact(patient_id)
        except ContactInvalid as bad:  # this patient's record only: refused, audited
            contact = None
            refusal = Decision(False, "contact.invalid", f"the stored {bad.field} cannot be used",
                               {"field": bad.field})
        else:
            refusal = Decision(False, "contact.unknown", "no such patient")
        if contact is None:
            outreach = await self._log(patient_id, purpose, now, status="decided")
            await self.recorder.record_before_gate(patient_id, purpose, refusal,
                                                   outreach_id=outreach, at=now)
            await self._set(outreach, status="refused", rule=refusal.rule)
            raise DialRefused(refusal)
        request = dataclasses.replace(request_for(patient_id, purpose, contact), channel=CHANNEL)
        # Gate and the row that counts this text (``decided`` counts in the caps) under
        # the patient's and the number's locks, the voice dialer's own: two workers, or a
        # text and a call, cannot both pass a cap.
        async with self.locks.contact_lock(patient_id, request.number):
            now = self.clock()
            facts = await gate_facts(request, self.facts, self.history, now)
            decision = _within_exemption(self.gate.decide(request, facts, now), text)
            outreach = await self._log(patient_id, purpose, now, status="decided")
        await self.recorder.record(request, decision, outreach_id=outreach, at=now)
        if not decision.allowed:
            await self._set(outreach, status="refused", rule=decision.rule)
            raise DialRefused(decision)
        try:
            ids = await self.sender.send(contact.number, text)
        except TextNotSent as failed:
            if failed.nothing_sent:  # refused outright: not a contact, not in the caps
                await self._set(outreach, status="failed")
            raise
        await self._set(outreach, status="sent", ids=ids)
        return SentText(patient_id, tuple(ids), decision.exempt)

    async def send_requested(self, patient_id: str, text: str) -> list[str]:
        """A text the patient asked for in a conversation ("text me the address"): sent to
        the number on record, audited, not an outreach (no cap counts it, no window: the
        patient is talking to us now). A number whose texts were revoked gets nothing."""
        now = self.clock()
        contact = await self.directory.contact(patient_id)
        if contact is None:
            raise LookupError("no such patient")
        consent = await self.facts.consent(patient_id)
        if consent.get(CHANNEL) is Consent.REVOKED or consent.get("all") is Consent.REVOKED:
            raise LookupError("texts to this patient were revoked")
        ids = await self.sender.send(contact.number, text)
        row = await self._log(patient_id, "requested", now, status="requested")
        await self._set(row, status="requested", ids=ids)
        await self.records.audit("sms", "sms.requested", ("sms", row), "patient request",
                                 {"patient_id": patient_id, "parts": len(ids)}, at=now)
        return ids

    async def reply(self, number: str, text: str) -> list[str]:
        """An answer to the patient's own text: not an outreach, so no cap counts it; a
        number whose consent was revoked gets nothing but the STOP confirmation."""
        ids = await self.sender.send(number, text)
        await self._note(None, "reply", self.clock(), status="reply")
        return ids

    async def answer(self, number: str, text: str) -> list[str]:
        """An answer to a text nobody here reads ("please call us"): sent only to a number
        whose texts are not revoked and that is not on the organisation's do-not-call
        list (after a STOP, its confirmation is the last text sent). ``number`` is PHI."""
        if self.records.optout_waiting_for(number):
            return []  # a STOP taken in an outage, not yet in the ledger
        try:
            patients = await self.records.find_patients_by_phone(
                number, actor="sms", reason="answer to a text")
        except DATABASE_UNAVAILABLE:
            # Nothing to check a revocation against: the patient wrote to us just now, and
            # the answer only says where to call (no PHI); sent, and noted in no table.
            return await self.sender.send(number, text)
        for p in patients:
            consent = await self.facts.consent(str(p.id))
            if Consent.REVOKED in (consent.get(CHANNEL), consent.get("all")):
                return []
        if (await self.records.dnc_status(number)).org:
            return []
        return await self.reply(number, text)

    async def on_inbound(self, message: InboundText) -> None:
        """One text from a phone: a compliance keyword, or the application's business (a
        fault of the application's on one text is logged by type and audited, and ends
        nothing: it ended the consumer, so no later text was read, not even a STOP)."""
        now = self.clock()
        try:  # an alphanumeric sender, a short code, an empty one: no one to look up
            message = dataclasses.replace(message, sender=lookup_form(message.sender))
        except InvalidPhoneNumber:  # (it ended the consumer, and run_sms, before)
            await self._note(None, "sender.not_a_number", now, status="dropped", direction="in")
            log.warning("sms: a text from a sender that is no phone number was dropped")
            return
        # The keyword first: a STOP needs no database. The ids by the number's blind
        # index, nothing decrypted: one record at the number that cannot be read must not
        # lose the STOP of everyone there. None: the database is away (an outage).
        kw = keyword(message.text)
        ids = await self._patients_at(message.sender, now)
        one = str(ids[0]) if ids is not None and len(ids) == 1 else None
        await self._note(one, f"keyword.{kw}" if kw else "reply", now, status="received",
                         direction="in")
        channels: tuple[str, ...] = EVERY_CHANNEL
        if kw is Keyword.STOP:
            channels, ids = await self._stop(ids, message, now)
            if self.handler is not None:
                for pid in ids or ():
                    await self.handler.opted_out(str(pid))
        elif kw is Keyword.START and ids is None:
            # Not recorded now; the reply says so and nothing is granted (consent is
            # never assumed): the patient sends START again.
            await self._confirm(message.sender, _not_now(
                self.program.brand, said_in_spanish(message.text)), now)
            return
        elif kw is Keyword.START:
            for pid in ids or ():
                await self.records.consent_grant(pid, CHANNEL, "tcpa_express", source="sms",
                                                 evidence_ref="keyword:START", actor="sms", at=now)
        if kw is not None:
            # The one confirmation CTIA requires; after a STOP it is the last text sent.
            # It says what was recorded: the channels revoked, or that a START changed
            # nothing for a number that is no patient's.
            await self._confirm(message.sender, self.program.reply(
                kw, said_cancel=kw is Keyword.STOP and names_cancel(message.text),
                channels=channels, on_file=bool(ids) or ids is None,
                spanish=said_in_spanish(message.text) or await self._prefer_spanish(ids or [])),
                now)
            return
        if ids is None:
            ids = []  # the application reads it as a number that is no one patient's
        if self.handler is not None:
            try:
                await self.handler(PatientText(str(ids[0]) if len(ids) == 1 else None,
                                               message.sender, message.text, now))
            except Exception as exc:  # noqa: BLE001 - the edge: one text stops no other
                # the type only: a traceback's frames (and the message) hold the text
                log.error("sms: the application failed on an inbound text (%s)",  # noqa: TRY400
                          type(exc).__name__)
                await self.records.audit("sms", "sms.handler_failed", (
                    "patient", str(ids[0]) if len(ids) == 1 else "-"), "inbound text",
                    {"error": type(exc).__name__}, at=now)

    async def _confirm(self, number: str, text: str, now: dt.datetime) -> None:
        """A keyword's reply; one the upstream refuses is audited, and ends nothing (it
        ended the consumer: no later text was read, not even a STOP)."""
        try:
            await self.sender.send(number, text)
        except (TextNotSent, OSError, TimeoutError) as failed:  # refused; the link down
            log.warning("sms: a keyword's reply was not sent (%s)", type(failed).__name__)
            await self.records.audit("sms", "sms.reply_failed", ("sms", "-"), "keyword reply",
                                     {"error": type(failed).__name__}, at=now)

    async def _patients_at(self, number: str, now: dt.datetime) -> list[UUID] | None:
        """The ids at ``number`` (audited), None while the database is away. A number
        whose STOP was taken in an outage: its open conversations end now."""
        try:
            ids: list[UUID] | None = await self.records.patient_ids_at(number)
        except DATABASE_UNAVAILABLE:
            ids = None
        await self.records.audit(  # spooled while the database is away
            "sms", "patient.lookup" if ids is not None else "patient.lookup_unavailable",
            ("patient", ",".join(str(i) for i in ids or ()) or "-"), "inbound text",
            {"matches": len(ids) if ids is not None else -1}, at=now)
        if ids is not None and number in self._stopped_unseen:
            self._stopped_unseen.discard(number)
            for pid in ids if self.handler is not None else ():
                await self.handler.opted_out(str(pid))  # type: ignore[union-attr]
        return ids

    async def _stop(self, ids: list[UUID] | None, message: InboundText, now: dt.datetime
                    ) -> tuple[tuple[str, ...], list[UUID] | None]:
        """A STOP keyword: revoked now, or (the database away) kept durable in the records
        spool by number and applied when it is back. The channels, the patients' ids."""
        if ids is not None:
            return await self._opt_out(ids, message.sender, message.text, now,
                                       "keyword:STOP"), ids
        channels = opt_out_channels(message.text, self.settings.stop_revokes)
        ids = await self.records.revoke_at_number(
            message.sender, channels, source="sms", evidence_ref="keyword:STOP", actor="sms",
            at=now)
        if ids is None:
            self._stopped_unseen.add(message.sender)
        return (EVERY_CHANNEL if ids == [] else channels), ids

    async def _prefer_spanish(self, ids: list[UUID]) -> bool:
        """Every patient at the number prefers Spanish: a plain STOP or HELP is answered in
        Spanish (the keywords stay the ones carriers read). Unreadable: English."""
        try:
            languages = {await self.records.patient_language(i) for i in ids}
        except DATABASE_UNAVAILABLE:
            return False
        return languages == {SPANISH}

    async def revoke(self, patient_id: str, evidence_ref: str, at: dt.datetime,
                     said: str = "", *, spanish: bool = False) -> str:
        """An opt-out the application heard in a text conversation ("9" at "appointment
        or messages?"; ``said``: the patient's words, which may name calls): recorded as a
        STOP is, before the application's goodbye is sent. Returns the confirmation that
        says what was revoked (the application sends it as its goodbye)."""
        channels = opt_out_channels(said, self.settings.stop_revokes)
        await self._revoke([UUID(patient_id)], at, evidence_ref, channels)
        return self.program.reply(Keyword.STOP, channels=channels,
                                  spanish=spanish or said_in_spanish(said))

    async def revoke_number(self, number: str, evidence_ref: str, at: dt.datetime,
                            said: str = "") -> str:
        """An opt-out heard from a number that is no one patient's: every patient the
        number belongs to, or (none) the organisation's do-not-call list. ``number`` is
        PHI: never logged. Returns the confirmation, as :meth:`revoke`."""
        try:
            patients = await self.records.find_patients_by_phone(
                number, actor="sms", reason="opt-out by text")
        except DATABASE_UNAVAILABLE:  # kept by number, applied when the database is back
            channels = opt_out_channels(said, self.settings.stop_revokes)
            await self.records.revoke_at_number(number, channels, source="sms", actor="sms",
                                                evidence_ref=evidence_ref, at=at)
            self._stopped_unseen.add(number)
            return self.program.reply(Keyword.STOP, channels=channels,
                                      spanish=said_in_spanish(said))
        channels = await self._opt_out([p.id for p in patients], number, said, at,
                                       evidence_ref)
        return self.program.reply(Keyword.STOP, channels=channels,
                                  spanish=said_in_spanish(said))

    async def _opt_out(self, patients: list[UUID], number: str, said: str, now: dt.datetime,
                       evidence_ref: str) -> tuple[str, ...]:
        """Revoke what ``said`` covers for each patient of the number; a number that is no
        patient's goes on the organisation's do-not-call list (every channel), so a
        patient later given it is not texted after their STOP. The channels revoked."""
        if not patients:
            await self.records.dnc_add(number, source="sms", actor="sms",
                                       reason=f"opt-out by text ({evidence_ref})", at=now)
            return EVERY_CHANNEL
        channels = opt_out_channels(said, self.settings.stop_revokes)
        await self._revoke(patients, now, evidence_ref, channels)
        return channels

    async def _revoke(self, patients: list[UUID], now: dt.datetime, evidence_ref: str,
                      channels: tuple[str, ...]) -> None:
        for pid in patients:
            for channel in channels:
                await self.records.consent_revoke(pid, channel, source="sms",
                                                  evidence_ref=evidence_ref, actor="sms",
                                                  at=now)

    async def on_receipt_status(self, smsc_id: str, status: str) -> None:
        await self.records.pool.execute(
            "UPDATE sms_messages SET status = $2 WHERE $1 = ANY(smsc_ids)", smsc_id,
            status.lower())

    async def _log(self, patient_id: str | None, subject: str, at: dt.datetime, *,
                   status: str, direction: str = "out") -> int:
        value: int = await self.records.pool.fetchval(
            "INSERT INTO sms_messages (patient_id, direction, subject, at, status)"
            " VALUES ($1, $2, $3, $4, $5) RETURNING id",
            patient_id, direction, subject, at, status)
        return value

    async def _note(self, patient_id: str | None, subject: str, at: dt.datetime, *,
                    status: str, direction: str = "out") -> None:
        """A row of ``sms_messages`` (ids and statuses: statistics) that an outage may
        skip; the audit entries and consent records go through the spooled writers."""
        try:
            await self._log(patient_id, subject, at, status=status, direction=direction)
        except DATABASE_UNAVAILABLE:
            log.warning("sms: a text's row was not logged (the database is unreachable)")

    async def _set(self, row: int, *, status: str, rule: str | None = None,
                   ids: list[str] | None = None) -> None:
        await self.records.pool.execute(
            "UPDATE sms_messages SET status = $2, rule = coalesce($3, rule),"
            " smsc_ids = coalesce($4, smsc_ids), parts = coalesce(cardinality($4::text[]),"
            " parts) WHERE id = $1", row, status, rule, ids)


def _not_now(brand: str, spanish: bool) -> str:
    """START while the database is away: nothing was recorded; say so, no more."""
    if spanish:
        return f"{brand}: No pudimos registrar su mensaje ahora. Envíe START más tarde."
    return f"{brand}: We could not record your request right now. Please send START later."


def _within_exemption(decision: Decision, text: str) -> Decision:
    """An allowed exempt text that breaks the exemption's conditions (over 160 characters:
    a long clinic name in the template) is refused by that rule, recorded and not sent.
    Before, ExemptTextError left the dialer's pass and ended it, and the text's row stayed
    "decided", counted in the caps though nothing was sent."""
    if not (decision.allowed and decision.exempt):
        return decision
    try:
        check_exempt_text(text)
    except ExemptTextError as long:
        return dataclasses.replace(decision, allowed=False, rule=long.rule, reason=str(long),
                                   max_call_seconds=None, valid_until=None)
    return decision
