"""A deliver_sm the SMSC link cannot parse leaves no PHI in the logs.

The SMPP library (aiosmpplib) answers a deliver_sm it cannot parse (a source address
that is not ASCII, a data_coding it has no codec for) with generic_nack, and logs "Unable to parse
PDU" at ERROR with the whole PDU in hex and the exception with its traceback: the
sender's number and the text, one ``bytes.fromhex`` away, in the journal (its logger
writes to stderr itself). Now the link's filter on the library's logger withholds the
PDU and the traceback (the exception's type is kept); the link stays up and the next text
is handled. Every logger at every level is tapped (tests/privacy/phi_scan.LogTap).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.privacy.phi_scan import LogTap
from tests.sms.conftest import OURS, PHONE, Stack

pytestmark = pytest.mark.postgres
SAID = "STOP texting me at home"


@pytest.fixture
def tap() -> Iterator[LogTap]:
    t = LogTap()
    t.install()
    try:
        yield t
    finally:
        t.remove()


def _written(record: logging.LogRecord) -> str:
    """The record as a handler writes it: message and, if any, its traceback."""
    return logging.Formatter("%(message)s").format(record)


@pytest.mark.parametrize(("sender", "coding", "body"), [
    (PHONE + "\u00e9", 0x00, SAID.encode()),  # a source address that is not ASCII
    (PHONE, 0x0B, SAID.encode()),  # a reserved data_coding: no codec
], ids=["source not ascii", "reserved coding"])
async def test_an_unparsable_deliver_sm_is_logged_without_the_number_or_text(
        stack: Stack, tap: LogTap, sender: str, coding: int, body: bytes) -> None:
    await stack.smsc.mo_raw(sender, OURS, coding, body)
    await stack.smsc.wait("mo_sent")
    await stack.text_from_phone("HELP")  # the link still takes the next text
    assert (await stack.smsc.wait("submit"))["dest"] == PHONE
    records = tap.take()
    unparsed = [r for r in records if "Unable to parse PDU" in str(r.msg)]
    assert unparsed, "the library's line was not seen"
    secrets = [PHONE.encode().hex(), PHONE.removeprefix("+").encode().hex(), body.hex(),
               SAID.encode().hex()[:16], SAID.encode("utf-16-be").hex()[:16]]
    for record in unparsed:
        written = _written(record).lower()
        assert not any(s in written for s in secrets), written
        assert record.exc_info is None  # no traceback (its frames hold the PDU)
