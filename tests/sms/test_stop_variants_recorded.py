"""Each opt-out wording CTIA and the TCPA name, as patients type it, is recorded as a
revocation of consent in the ledger (not only answered): STOP, Stop., stop all,
UNSUBSCRIBE, CANCEL, END, QUIT, the Spanish ALTO and PARAR, and a keyword spelled out
letter by letter or a Spanish phrase ("no me manden más mensajes"). The revocation is the
texts' own channel at least, and every channel under the shipped revoke-all policy; the
one confirmation is in the patient's language and within 160 characters."""

from __future__ import annotations

import uuid

import pytest

from carrier.records.store import Records
from tests.sms.conftest import Stack
from tests.sms.test_opt_out_scope import consent, reply_to

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize(("said", "spanish"), [
    ("STOP", False), ("Stop.", False), ("stop all", False), ("UNSUBSCRIBE", False),
    ("CANCEL", False), ("END", False), ("QUIT", False), ("ALTO", True), ("PARAR", True),
    ("s t o p", False), ("no me manden más mensajes", True),
])
async def test_each_opt_out_wording_is_recorded_as_a_revocation(
        stack: Stack, records: Records, said: str, spanish: bool) -> None:
    reply = await reply_to(stack, said)
    assert await consent(records, stack) == ("revoked", "revoked")
    rows = await records.pool.fetch(
        "SELECT channel, event, source FROM consent_ledger WHERE patient_id = $1"
        " AND event = 'revoke' ORDER BY seq", uuid.UUID(stack.patient))
    assert {r["channel"] for r in rows} == {"sms", "voice"}
    assert len(reply) <= 160
    assert ("No recibirá" in reply) is spanish
