"""The acknowledgement speaks the sender's character set: a message that declares MSH-18
(8859/1, 8859/2 ...) gets its ACK encoded in that set, with MSH-18 saying so, so a sender
that reads its replies in its own set reads the echoed names of its application and
facility right (before, every ACK was UTF-8 whatever MSH-18 said)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.feeds.conftest import Listening, mllp_send

pytestmark = pytest.mark.postgres


def _adt(control: str, charset: str, facility: str) -> str:
    return "\r".join([
        f"MSH|^~\\&|EHR|{facility}|CARRIER|CARRIER|20261201080000||ADT^A08^ADT_A01|{control}"
        f"|P|2.5||||||{charset}",
        "EVN|A08|20261201080000",
        "PID|1||CS1^^^WEST^MR||Testa^Jos\u00e9||19800202|M|||||(555)555-0161"]) + "\r"


@pytest.mark.parametrize(("charset", "codec", "facility"), [
    ("8859/1", "latin-1", "CL\u00cdNICA"),
    ("8859/2", "iso8859-2", "KLINIKA \u0141\u00d3D\u0179"),
])
async def test_the_ack_is_in_the_senders_character_set(
        hl7_server: Listening, tmp_path: Path, charset: str, codec: str, facility: str
) -> None:
    acks = await mllp_send(hl7_server.port, [_adt("CS1", charset, facility).encode(codec)],
                           tmp_path)
    raw = acks[0]
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # the facility's letters are single bytes of the set
    segs = {s.split("|")[0]: s.split("|") for s in raw.decode(codec).split("\r") if s}
    assert segs["MSA"][1:3] == ["AA", "CS1"]
    assert segs["MSH"][5] == facility  # echoed as the receiving facility
    assert segs["MSH"][17] == charset


async def test_a_refusal_is_in_the_senders_character_set(hl7_server: Listening,
                                                         tmp_path: Path) -> None:
    msg = _adt("CS2", "8859/1", "CL\u00cdNICA").replace("|2.5|", "|9.9|")  # AR 203
    raw = (await mllp_send(hl7_server.port, [msg.encode("latin-1")], tmp_path))[0]
    segs = {s.split("|")[0]: s.split("|") for s in raw.decode("latin-1").split("\r") if s}
    assert segs["MSA"][1:3] == ["AR", "CS2"]
    assert segs["MSH"][5] == "CL\u00cdNICA"
    assert segs["MSH"][17] == "8859/1"


async def test_no_declared_set_stays_utf8(hl7_server: Listening, tmp_path: Path) -> None:
    msg = _adt("CS3", "", "CL\u00cdNICA").replace("||||||\r", "\r", 1)
    raw = (await mllp_send(hl7_server.port, [msg.encode("utf-8")], tmp_path))[0]
    segs = {s.split("|")[0]: s.split("|") for s in raw.decode("utf-8").split("\r") if s}
    assert segs["MSA"][1:3] == ["AA", "CS3"]
    assert segs["MSH"][5] == "CL\u00cdNICA"
    assert len(segs["MSH"]) == 12  # no MSH-18 of ours


@pytest.mark.parametrize(("charset", "codec"), [
    ("ISO IR100", "latin-1"),  # HL7 table 0211's own name for ISO 8859-1
    ("ISO IR192", "utf-8"),  # ... and for UTF-8
    ("ISO IR6", "ascii"),  # ... and for ASCII
    ("UTF-8", "utf-8"),  # not in table 0211, but what many interface engines write
])
async def test_table_0211_names_and_utf8_are_read(
        hl7_server: Listening, tmp_path: Path, charset: str, codec: str) -> None:
    """Before: refused AR 103 (unsupported character set), every message of such a sender
    lost."""
    message = _adt("CS2", charset, "CLINIC")
    if codec == "ascii":
        message = message.replace("\u00e9", "e")
    acks = await mllp_send(hl7_server.port, [message.encode(codec)], tmp_path)
    segs = {s.split("|")[0]: s.split("|") for s in acks[0].decode(codec).split("\r") if s}
    assert segs["MSA"][1:3] == ["AA", "CS2"]
    assert segs["MSH"][17] == charset
