"""Concatenated texts from phones, reassembled by the SMPP link.

The library (aiosmpplib 0.7) kept the parts of inbound concatenated texts by their
reference number alone, and joined them sorted as strings. So:

* two phones whose texts carried the same reference (8 bits: 1 in 256 for any two texts
  in flight) had their parts mixed: one patient's words delivered as the other's text,
  under the other's number (PHI to the wrong record; a STOP in one became the other's);
* a text of ten parts or more was joined out of order ("1", "10", "11", "2", ...).

Now the link reassembles them itself: parts are kept per (sender, our number,
reference, count), joined in number order once all are in; a part numbered outside its
count is a text of its own; parts still incomplete after ``PARTS_WAIT_S`` are dropped
(logged without content), and at most ``MAX_PENDING`` texts wait at once.
Against the npm-registry SMSC peer (raw deliver_sm with a UDH).
"""

from __future__ import annotations

import asyncio

import pytest

from carrier.sms.smpp import InboundText, SmppLink
from tests.peers.smsc_peer import Smsc
from tests.sms.test_smpp_link import OURS, PHONE, link_for

OTHER = "+12125550172"
UDHI = 0x40


def part(ref: int, total: int, seq: int, text: str) -> bytes:
    """One part: the 8-bit concatenation UDH, then the text (ASCII is GSM-7 unpacked)."""
    return bytes([5, 0, 3, ref, total, seq]) + text.encode()


async def _texts(smsc: Smsc, sends: list[tuple[str, bytes]], count: int
                 ) -> list[InboundText]:
    got: asyncio.Queue[InboundText] = asyncio.Queue()
    async with link_for(smsc, on_text=got.put) as link:
        assert isinstance(link, SmppLink)
        await smsc.wait("bound")
        for sender, body in sends:
            await smsc.mo_raw(sender, OURS, 0, body, esm_class=UDHI)
            await smsc.wait("mo_sent")
        return [await asyncio.wait_for(got.get(), 10) for _ in range(count)]  # bounded


async def test_two_phones_with_the_same_reference_keep_their_own_words(smsc: Smsc) -> None:
    texts = await _texts(smsc, [
        (PHONE, part(7, 2, 1, "Please cancel my ")),
        (OTHER, part(7, 2, 1, "I will be ")),
        (PHONE, part(7, 2, 2, "appointment")),
        (OTHER, part(7, 2, 2, "late")),
    ], 2)
    assert {(t.sender, t.text) for t in texts} == {
        (PHONE, "Please cancel my appointment"), (OTHER, "I will be late")}


async def test_a_text_of_eleven_parts_is_joined_in_order(smsc: Smsc) -> None:
    words = [f"w{i:02d} " for i in range(1, 12)]
    texts = await _texts(smsc, [(PHONE, part(9, 11, i + 1, w)) for i, w in enumerate(words)],
                         1)
    assert texts[0].text == "".join(words)


@pytest.mark.parametrize("seq", [0, 3], ids=["part 0", "part past the count"])
async def test_a_part_numbered_outside_its_count_is_a_text_of_its_own(
        smsc: Smsc, seq: int) -> None:
    texts = await _texts(smsc, [(PHONE, part(4, 2, seq, "STOP"))], 1)
    assert (texts[0].sender, texts[0].text) == (PHONE, "STOP")


async def test_parts_with_a_16_bit_reference_are_joined(smsc: Smsc) -> None:
    """The library reads a 16-bit reference (UDH element 08) as 32 bits, taking in the
    count and the part's number: every part had its own reference and none was ever
    joined (the text waited in memory for three days, then was gone)."""
    def part16(ref: int, total: int, seq: int, text: str) -> bytes:
        return bytes([6, 8, 4, ref >> 8, ref & 0xFF, total, seq]) + text.encode()

    texts = await _texts(smsc, [(PHONE, part16(0x1234, 2, 1, "Running ")),
                                (PHONE, part16(0x1234, 2, 2, "late")),
                                (OTHER, part16(0x0000, 2, 1, "Call ")),
                                (OTHER, part16(0x0000, 2, 2, "me"))], 2)
    assert {(t.sender, t.text) for t in texts} == {(PHONE, "Running late"), (OTHER, "Call me")}


def ucs2_part(ref: int, total: int, seq: int, units: bytes) -> bytes:
    return bytes([5, 0, 3, ref, total, seq]) + units


async def test_an_emoji_split_between_two_ucs2_parts_is_whole(smsc: Smsc) -> None:
    """A phone may split a UCS-2 text between the two halves of an emoji (a surrogate
    pair). Before, the library decoded each part on its own: the first part's trailing
    half was silently dropped, and the second part, starting with a low surrogate, did
    not decode at all: it was refused (generic_nack) and the whole text never came."""
    emoji = "\U0001F600".encode("utf-16-be")
    first = "Running late ".encode("utf-16-be") + emoji[:2]
    second = emoji[2:] + " sorry".encode("utf-16-be")
    got: asyncio.Queue[InboundText] = asyncio.Queue()
    async with link_for(smsc, on_text=got.put):
        await smsc.wait("bound")
        for body in (ucs2_part(3, 2, 1, first), ucs2_part(3, 2, 2, second)):
            await smsc.mo_raw(PHONE, OURS, 0x08, body, esm_class=UDHI)
            await smsc.wait("mo_sent")
        text = await asyncio.wait_for(got.get(), 10)  # bounded wait on the SMSC process
    assert text.text == "Running late \U0001F600 sorry"


async def test_ucs2_of_an_odd_length_keeps_its_words(smsc: Smsc) -> None:
    """A stray last byte: before, the library dropped it silently, now it stands as a
    replacement character and the rest of the text is as sent."""
    got: asyncio.Queue[InboundText] = asyncio.Queue()
    async with link_for(smsc, on_text=got.put):
        await smsc.wait("bound")
        await smsc.mo_raw(PHONE, OURS, 0x08, "STOP".encode("utf-16-be") + b"\x00")
        text = await asyncio.wait_for(got.get(), 10)  # bounded wait on the SMSC process
    assert text.text == "STOP\ufffd"


@pytest.mark.parametrize(("body", "text"), [
    (b"STOP\x80", "STOP?"),  # a byte past GSM-7 (an SMSC passing 8-bit data on)
    (b"See you at 5\x1b", "See you at 5\xa0"),  # an escape with nothing after it
], ids=["byte past gsm7", "lone escape"])
async def test_gsm7_the_library_cannot_decode_still_arrives(
        smsc: Smsc, body: bytes, text: str) -> None:
    """Before, the library's strict GSM-7 decoder refused the whole deliver_sm
    (generic_nack): the patient's text was lost. Now what does not decode is replaced
    (GSM 03.38 shows a lone escape as a space) and the rest arrives."""
    got: asyncio.Queue[InboundText] = asyncio.Queue()
    async with link_for(smsc, on_text=got.put):
        await smsc.wait("bound")
        await smsc.mo_raw(PHONE, OURS, 0x00, body)
        arrived = await asyncio.wait_for(got.get(), 10)  # bounded wait on the SMSC process
    assert arrived.text == text


@pytest.mark.parametrize(("bodies", "text"), [
    ([b"Pay 1\x1b", b"e5 today"], "Pay 1\u20ac5 today"),  # the euro sign, ESC | 0x65
    ([b"x \x1b", b"( y"], "x { y"),
    ([b"A\x1b", b"<B"], "A[B"),
    ([b"ok\x1b\x1b", b"B"], "ok B"),  # escape escape: a space, and nothing after it lost
], ids=["euro", "brace", "bracket", "escape escape"])
async def test_a_gsm7_escape_split_between_two_parts_is_one_character(
        smsc: Smsc, bodies: list[bytes], text: str) -> None:
    """A phone may end one part of a GSM-7 text with the escape (0x1B) and start the next
    with the extension code (a euro sign is ESC 0x65). Before, each part was decoded on
    its own: the escape became a (non-breaking) space and the code its basic character
    ("1 e5" for "1€5", "(" for "{"); and an escape pair ate the character after it. Now the
    trailing escape is carried into the next part, as a UCS-2 surrogate half is."""
    texts = await _texts(smsc, [(PHONE, part(11, 2, n, b.decode("latin-1")))
                                for n, b in enumerate(bodies, start=1)], 1)
    assert texts[0].text == text
