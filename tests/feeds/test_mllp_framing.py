"""MLLP framing as broken senders produce it, over a real socket on 127.0.0.1: whatever the
bytes around a frame, every message gets exactly one reply, in order, and a good message
is never lost to the bad bytes next to it."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from carrier.records.store import Records
from tests.feeds.conftest import CR, EB, SB, Listening, ack_fields, now_utc
from tests.feeds.hl7_samples import siu

pytestmark = pytest.mark.postgres


def frame(message: bytes) -> bytes:
    return SB + message + EB + CR


class Peer:
    """A raw TCP sender: writes bytes as given, reads replies one MLLP frame at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int) -> Peer:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def reply(self) -> dict[str, list[str]]:
        # Bounded wait on the listener's answer (a lost reply fails, it does not hang).
        data = await asyncio.wait_for(self.reader.readuntil(EB + CR), timeout=30)
        assert data.startswith(SB), data[:20]
        return ack_fields(data[1:-2])

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def _msg(control: str, appt: str) -> bytes:
    now = now_utc()
    start = (now + dt.timedelta(days=2)).replace(microsecond=0, second=0)
    return siu("S12", control, appt=appt, mrn=f"M{appt}", start=start, sent=now)


async def _booked(records: Records) -> set[str]:
    return {r["ref"] for r in await records.pool.fetch("SELECT ref FROM feed_appointments")}


async def test_bytes_before_the_start_block_do_not_lose_the_message(
        hl7_server: Listening, records: Records) -> None:
    peer = await Peer.connect(hl7_server.port)
    await peer.send(b"\r\n junk" + frame(_msg("G1", "A1")))
    assert (await peer.reply())["MSA"][1:3] == ["AA", "G1"]
    await peer.send(frame(_msg("G2", "A2")) + b"\n")  # a sender that ends frames FS CR LF
    assert (await peer.reply())["MSA"][1:3] == ["AA", "G2"]
    await peer.send(frame(_msg("G3", "A3")))
    assert (await peer.reply())["MSA"][1:3] == ["AA", "G3"]
    await peer.close()
    assert await _booked(records) == {"A1", "A2", "A3"}


async def test_a_frame_without_its_end_block_is_refused_and_the_next_one_applied(
        hl7_server: Listening, records: Records) -> None:
    peer = await Peer.connect(hl7_server.port)
    await peer.send(SB + _msg("U1", "B1") + frame(_msg("U2", "B2")))
    first, second = await peer.reply(), await peer.reply()
    assert first["MSA"][1:3] == ["AR", "U1"]
    assert first["ERR"][2] == "MSH^1"
    assert second["MSA"][1:3] == ["AA", "U2"]
    await peer.close()
    assert await _booked(records) == {"B2"}


async def test_an_oversized_message_gets_one_refusal_and_the_next_one_its_ack(
        hl7_server: Listening, records: Records) -> None:
    big = _msg("H1", "C1").replace(b"PV1|1|O", b"NTE|1||" + b"x" * (3 << 20))
    peer = await Peer.connect(hl7_server.port)
    await peer.send(frame(big))
    refused = await peer.reply()
    assert refused["MSA"][1] == "AR"
    assert "too long" in refused["MSA"][3]
    await peer.send(frame(_msg("H2", "C2")))  # lock-step: the reply read is this one's
    assert (await peer.reply())["MSA"][1:3] == ["AA", "H2"]
    await peer.close()
    assert await _booked(records) == {"C2"}


async def test_a_sender_that_ends_frames_without_the_cr_is_answered(
        hl7_server: Listening, records: Records) -> None:
    """``<FS>`` alone, or ``<FS><LF>``, as some engines end a frame (lock-step: each
    waits for its reply). Before: the end block was never seen, the sender waited for the
    frame timeout (30 s), got an AR and a closed connection, and resent for ever. Now the
    frame ends at ``<FS>`` (no message holds one); a late ``<CR>`` is noise before the next
    start block."""
    peer = await Peer.connect(hl7_server.port)
    await peer.send(SB + _msg("F1", "D1") + EB)
    assert (await peer.reply())["MSA"][1:3] == ["AA", "F1"]
    await peer.send(SB + _msg("F2", "D2") + EB + b"\n")
    assert (await peer.reply())["MSA"][1:3] == ["AA", "F2"]
    await peer.send(SB + _msg("F3", "D3") + EB)
    assert (await peer.reply())["MSA"][1:3] == ["AA", "F3"]
    await peer.send(CR + frame(_msg("F4", "D4")))  # a CR that was only late
    assert (await peer.reply())["MSA"][1:3] == ["AA", "F4"]
    await peer.close()
    assert await _booked(records) == {"D1", "D2", "D3", "D4"}
    assert hl7_server.listener.counts["AR"] == 0
