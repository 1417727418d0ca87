"""A STOP from a phone is taken even when one record at that number cannot be read.

Before: the inbound path looked the sender up with ``find_patients_by_phone``, which
decrypts every record at the number; one cell that no longer decrypts (a row restored
under another key, or copied by hand) raised DecryptError, and the STOP of everyone at
that phone was lost (no revocation, no confirmation). The ids are all the inbound path
needs: it now takes them by the number's blind index, nothing decrypted.
"""

from __future__ import annotations

from uuid import UUID

import pytest

from carrier.records.store import Records
from tests.sms.conftest import PHONE, Stack

pytestmark = pytest.mark.postgres


async def test_stop_revokes_everyone_at_the_number_despite_an_unreadable_record(
        stack: Stack, records: Records) -> None:
    other = await records.add_patient("Testo Patientson", PHONE, actor="t", reason="t")
    await records.consent_grant(other, "sms", "tcpa_express", source="intake",
                                evidence_ref="form-1", actor="t")
    await records.pool.execute(
        "UPDATE patients SET name_ct = (SELECT name_ct FROM patients WHERE id = $2)"
        " WHERE id = $1", other, UUID(stack.patient))
    await stack.text_from_phone("STOP")
    for pid in (UUID(stack.patient), other):
        status = await records.consent_status(pid)
        assert status[("sms", "tcpa_express")] is False
    assert (await stack.smsc.wait("submit"))["dest"] == PHONE  # the one confirmation
