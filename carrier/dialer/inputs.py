"""The gate's inputs, assembled in one place for every caller.

The campaign runner, the operator's dry run and one-off decisions (`carrier call`, the
demo) all ask `request_for` for the gate's request and `gate_facts` for its facts, so
the consent, do-not-call and frequency-cap lookups are the same everywhere and each is
made once per decision.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from carrier.dialer.gate import Consent, GateFacts, GateRequest
from carrier.dialer.ports import CallHistory, ComplianceFacts, Contact

# The longest frequency cap the rules may express looks this far back.
HISTORY_WINDOW = dt.timedelta(days=7)


def request_for(patient_id: str, purpose: str, contact: Contact) -> GateRequest:
    """The gate's request for calling ``contact`` about ``purpose``."""
    return GateRequest(
        patient_id=patient_id,
        number=contact.number,
        purpose=purpose,
        number_given_by_patient=contact.number_given_by_patient,
        free_to_patient=contact.free_to_patient,
        address=contact.address,
    )


async def gate_facts(
    request: GateRequest, facts: ComplianceFacts, history: CallHistory, now: dt.datetime
) -> GateFacts:
    """Consent, do-not-call standing (one lookup) and prior calls for ``request``, over
    every patient at its number (a parent and a child share one phone): the caps count the
    calls that rang it, and a revocation by anyone at the number holds for all of them
    (``<channel>.number``: REVOKED), as ``Records.has_consent`` reads the ledger."""
    standing, at_number = await _standing(request, facts)
    prior = await history.prior_calls(sorted(at_number), now - HISTORY_WINDOW)
    return replace(standing, prior_calls=tuple(prior))


async def standing_facts(request: GateRequest, facts: ComplianceFacts) -> GateFacts:
    """The same consent and do-not-call lookups, no call history: what the gate's
    dial-time re-check (`Gate.recheck`) reads."""
    return (await _standing(request, facts))[0]


async def _standing(request: GateRequest, facts: ComplianceFacts
                    ) -> tuple[GateFacts, set[str]]:
    consent = await facts.consent(request.patient_id)
    dnc = await facts.dnc(request.number)
    at_number = {request.patient_id, *await facts.patients_at(request.number)}
    for other in sorted(at_number - {request.patient_id}):
        theirs = await facts.consent(other)
        if Consent.REVOKED in (theirs.get(request.channel), theirs.get("all")):
            consent = {**consent, f"{request.channel}.number": Consent.REVOKED}
            break
    return GateFacts(consent, dnc.org, dnc.national, dnc.national_copy_date,
                     org_dnc_settled=dnc.org_settled), at_number
