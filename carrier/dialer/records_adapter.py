"""The dialer's ports implemented over `carrier.records.store.Records`.

The patient's state and time zone (plain columns, not PHI) give the calling window;
without them it falls back to the number's time zones and the area code's state (the
strict path).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from uuid import UUID

from carrier.dialer.gate import Address, Consent, Decision, GateRequest
from carrier.dialer.ports import Contact, ContactInvalid, DncFacts
from carrier.records.cdr import CallDetail
from carrier.records.crypto import DecryptError, InvalidPhoneNumber, normalize_e164
from carrier.records.store import PhiInDetails, Records

# Consent kinds that cover an informational artificial-voice call on the voice channel.
VOICE_KINDS = ("tcpa_express", "tcpa_express_written")
HIPAA_KIND = "hipaa_authorization"


def _uuid(patient_id: str) -> UUID:
    return UUID(patient_id)


class RecordsFacts:
    def __init__(self, records: Records) -> None:
        self.records = records

    async def consent(self, patient_id: str) -> Mapping[str, Consent]:
        """TCPA consent per channel from the TCPA kinds only; the HIPAA authorization is
        its own key, ``<channel>.hipaa``, so the gate names its refusal
        (`hipaa.authorization.revoked`) instead of calling it a TCPA revocation. While the
        ledger may lack this process's last entries (spooled in an outage, or quarantined),
        every channel is ``UNKNOWN``: the gate refuses for now, never on an old grant."""
        if not await self.records.consent_settled():
            return {"all": Consent.UNKNOWN}
        status = await self.records.consent_status(_uuid(patient_id))
        out: dict[str, Consent] = {}
        for channel in {c for c, _ in status}:
            kinds = {k: v for (c, k), v in status.items() if c == channel}
            tcpa = {k: kinds[k] for k in VOICE_KINDS if k in kinds}
            if any(tcpa.values()):
                out[channel] = Consent.GRANTED
            elif tcpa:
                out[channel] = Consent.REVOKED  # TCPA entries exist, none granted: revoked
            if kinds.get("tcpa_express_written"):
                out[f"{channel}.written"] = Consent.GRANTED
            if HIPAA_KIND in kinds:
                out[f"{channel}.hipaa"] = Consent.GRANTED if kinds[HIPAA_KIND] else Consent.REVOKED
        return out

    async def dnc(self, number: str) -> DncFacts:
        if not await self.records.dnc_settled():
            return DncFacts(org=False, national=False, national_copy_date=None,
                            org_settled=False)
        st = await self.records.dnc_status(number)
        copy = st.national_imported_at
        return DncFacts(st.org, st.national,
                        None if copy is None else copy.astimezone(dt.UTC).date())


    async def patients_at(self, number: str) -> list[str]:
        return [str(pid) for pid in await self.records.patient_ids_at(number)]


class RecordsDirectory:
    """Contact details from the encrypted patient record (each read is audited)."""

    def __init__(self, records: Records, *, free_to_patient: bool = True) -> None:
        self.records = records
        self.free_to_patient = free_to_patient

    async def contact(self, patient_id: str) -> Contact | None:
        """None: no such patient (an id that is not one of ours, such as a clinic file's
        "pat-1009", is none); :class:`ContactInvalid` for a record that cannot be used."""
        try:
            pid = _uuid(patient_id)
        except ValueError:
            return None
        try:
            patient = await self.records.get_patient(
                pid, actor="dialer", reason="outbound reminder"
            )
        except (DecryptError, ValueError):  # ValueError: a cell decrypted to nonsense
            raise ContactInvalid("record") from None
        if patient is None:
            return None
        if not patient.phone:  # the EHR deleted the number: nothing to call
            raise ContactInvalid("phone", "no phone number on file")
        try:  # a number written before numbers were normalised
            number = normalize_e164(patient.phone)
        except InvalidPhoneNumber:
            raise ContactInvalid("phone") from None
        row = await self.records.pool.fetchrow(
            "SELECT state, time_zone FROM patients WHERE id = $1", pid)
        address = None
        if row is not None and (row["state"] or row["time_zone"]):
            try:
                address = Address(state=row["state"], tz=row["time_zone"])
            except ValueError:
                raise ContactInvalid("state") from None
        # The number on the patient's own record is the number the patient gave.
        return Contact(
            number=number,
            address=address,
            number_given_by_patient=True,
            free_to_patient=self.free_to_patient,
        )


class RecordsDecisionRecorder:
    """Each gate decision into the hash-chained audit log (spooled while Postgres is down)."""

    def __init__(self, records: Records) -> None:
        self.records = records

    async def record(
        self, request: GateRequest, decision: Decision, *, outreach_id: int, at: dt.datetime
    ) -> str | None:
        return await self._write(request.patient_id, request.purpose, request.number,
                                 decision, outreach_id=outreach_id, at=at)

    async def record_before_gate(
        self, patient_id: str, purpose: str, decision: Decision, *, outreach_id: int,
        at: dt.datetime,
    ) -> str | None:
        return await self._write(patient_id, purpose, "", decision, outreach_id=outreach_id,
                                 at=at)

    async def _write(self, patient_id: str, purpose: str, number: str, decision: Decision, *,
                     outreach_id: int, at: dt.datetime) -> str | None:
        details: dict[str, str | int | bool] = {
            "patient_id": patient_id,
            "dial": decision.allowed,
            "rule": decision.rule,
            "purpose": purpose,
            "why": decision.reason,
            "passed": ",".join(decision.passed),
            "exempt_call": decision.exempt,
        }
        if decision.max_call_seconds is not None:
            details["max_call_seconds"] = decision.max_call_seconds
        for key, value in decision.details.items():
            details.setdefault(f"gate_{key}", value)
        entry: str | None = None
        try:
            entry = str(await self.records.audit(
                "dialer", "dial.decision", ("outreach", outreach_id), decision.rule, details, at=at
            ))
        except PhiInDetails:
            # A detail tripped the PHI screen: keep the decision itself, never lose it.
            await self.records.record_dial_decision(
                outreach_id, patient_id, dial=decision.allowed, rule=decision.rule, at=at
            )
        if not decision.allowed:  # a call that never was: its CDR says who refused it
            await self.records.record_cdr(CallDetail(
                call_id=f"gate:{entry or outreach_id}:{int(at.timestamp() * 1000)}",
                direction="outbound", started_at=at, ended_at=at, hangup_cause="gate_refused",
                to_number=number, workflow=purpose, outcome=decision.rule,
                gate_ref=entry))
        return entry
