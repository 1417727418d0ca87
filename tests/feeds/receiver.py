"""A listening MLLP receiver for write-back tests (the ``hl7`` library's server): keeps
every message it gets and answers each with ``reply`` (AA, AE or AR)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import hl7
import hl7.mllp


@dataclass
class Receiver:
    reply: str = "AA"
    ack_for: str | None = None  # MSA-2 names this control id instead of the message's
    separator: str = "|"  # the ACK's own field separator (a receiver's MSH-1)
    err: str = "101^Required field missing^HL70357"  # ERR-3 of an AE
    got: list[str] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def _client(self, reader: hl7.mllp.HL7StreamReader,
                      writer: hl7.mllp.HL7StreamWriter) -> None:
        try:
            while True:
                text = (await reader.readblock()).decode()
                msg = hl7.parse(text)
                self.got.append(text)
                self.arrived.set()
                control = str(msg.segment("MSH")[10])
                err = f"\rERR||PID^1^3|{self.err}|E" if self.reply.startswith("AE") else ""
                acked = control if self.ack_for is None else self.ack_for
                ack = (f"MSH|^~\\&|EHR|CLINIC|CARRIER|CARRIER|20260101000000||ACK|R{control}|P"
                       f"|2.5.1\rMSA|{self.reply}|{acked}{err}\r")
                writer.writeblock(ack.replace("|", self.separator).encode())
                await writer.drain()
        except asyncio.IncompleteReadError:
            pass
        finally:
            writer.close()

    async def start(self) -> Receiver:
        self.server = await hl7.mllp.start_hl7_server(self._client, "127.0.0.1", 0)
        return self

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
