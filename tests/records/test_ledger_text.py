"""Free text kept in clear in the append-only ledgers (an audit reason, consent source and
evidence) holds no PHI: operator entry points refuse it (tests/ops/test_bad_input.py,
tests/console/test_bad_input.py) and the audit log removes what reaches it anyway, with its
hash chain intact."""

from __future__ import annotations

import pytest

from carrier.records.phi_text import phi_in, without_phi
from carrier.records.store import Records

# What operators and the code write as reasons and evidence references: all kept.
PLAIN = ("patient asked", "call search", "operator", "complaint", "form-7", "call-9",
         "scan-3", "tcpa_quiet_hours", "console: staff task page", "web_form", "ivr",
         "ticket 4411", "audit for Q1", "outage-1", "R2-D2 said so",
         "text thread sms-0123456789ab", "patient 12345678-1234-1234-1234-123456789abc")
HELD = {
    "call from +1 555 010 0142": "a phone, member or record number",
    "555-0142": "a phone, member or record number",
    "member 123456789": "a phone, member or record number",
    "ssn 123-45-6789": "a phone, member or record number",
    "dob 1980-02-03": "a date",
    "born 2/3/80": "a date",
    "born March 3rd, 1980": "a date",
    "born 3 Mar 1980": "a date",
    "wrote from testa@example.org": "an e-mail address",
}


@pytest.mark.parametrize("text", PLAIN)
def test_plain_words_pass(text: str) -> None:
    assert phi_in(text) is None
    assert without_phi(text) == text


@pytest.mark.parametrize(("text", "what"), HELD.items())
def test_numbers_dates_and_addresses_are_found(text: str, what: str) -> None:
    assert phi_in(text) == what
    assert phi_in(without_phi(text)) is None


@pytest.mark.postgres
async def test_an_audit_reason_keeps_no_number_or_date_and_the_chain_holds(
        records: Records) -> None:
    await records.audit("op:test", "patient.read", ("patient", "p-1"),
                        "she called from 555 010 0142 about her 1980-02-03 record")
    reason = await records.pool.fetchval(
        "SELECT reason FROM audit_log WHERE action = 'patient.read'")
    assert reason == "she called from [removed] about her [removed] record"
    assert await records.verify_chain("audit") == []
