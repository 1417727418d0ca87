"""Raw UDP sockets on 127.0.0.x that stand for a phone's RTP port (or an attacker's):
they record every datagram with its arrival time and can send hand-made RTP."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import numpy as np

from media.framing import FRAME_SAMPLES, RATE
from media.g711 import PCMU, G711Codec
from media.resample import Downsampler
from media.rtcp import Bye, parse_compound
from media.rtp import RtpPacket

Address = tuple[str, int]


@dataclass
class Probe(asyncio.DatagramProtocol):
    """One socket; ``got`` holds (loop time, source, bytes) of what arrived."""

    got: list[tuple[float, Address, bytes]] = field(default_factory=list)
    transport: asyncio.DatagramTransport | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    on_packet: Callable[[int], None] | None = None
    """Called with the count so far after each datagram (drives paced senders)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        now = asyncio.get_running_loop().time()
        self.got.append((now, (str(addr[0]), int(addr[1])), data))
        self.changed.set()
        if self.on_packet is not None:
            self.on_packet(len(self.got))

    @property
    def addr(self) -> Address:
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    def send(self, data: bytes, to: Address) -> None:
        assert self.transport is not None
        self.transport.sendto(data, to)

    async def wait(self, predicate: object, *, timeout: float) -> None:  # noqa: ASYNC109
        check = predicate if callable(predicate) else (lambda: False)
        async with asyncio.timeout(timeout):
            while not check():
                self.changed.clear()
                await self.changed.wait()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def open_probe(host: str = "127.0.0.1", port: int = 0) -> Probe:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_datagram_endpoint(Probe, local_addr=(host, port))
    return protocol


async def open_rtp_pair(host: str = "127.0.0.1") -> tuple[Probe, Probe]:
    """An RTP probe on an even port and its RTCP probe on the next one."""
    for _ in range(50):
        rtp = await open_probe(host)
        if rtp.addr[1] % 2 == 0:
            try:
                return rtp, await open_probe(host, rtp.addr[1] + 1)
            except OSError:
                pass
        rtp.close()
    raise OSError("no free even/odd port pair")


def rtcp_bye_seen(probe: Probe) -> bool:
    for _, _, data in probe.got:
        try:
            if any(isinstance(p, Bye) for p in parse_compound(data)):
                return True
        except ValueError:
            continue
    return False


class ToneSender:
    """PCMU packets of a sine tone, one SSRC, consecutive sequence numbers."""

    def __init__(self, freq: float, ssrc: int, amp: float = 12000.0) -> None:
        self.freq, self.ssrc, self.amp = freq, ssrc, amp
        self.n = 0
        self._codec = G711Codec(PCMU)
        self._down = Downsampler(FRAME_SAMPLES)

    def packet(self) -> bytes:
        t = (np.arange(FRAME_SAMPLES) + FRAME_SAMPLES * self.n) / RATE
        pcm = np.round(self.amp * np.sin(2 * np.pi * self.freq * t)).astype(np.int16)
        payload = self._codec.encode(self._down.process(pcm))
        data = RtpPacket(PCMU, self.n & 0xFFFF, 160 * self.n, self.ssrc, payload).serialize()
        self.n += 1
        return data


def dominant_hz(frames: list[np.ndarray]) -> float:
    pcm = np.concatenate(frames).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(pcm * np.hanning(len(pcm))))
    return float(np.fft.rfftfreq(len(pcm), 1 / 16000)[int(np.argmax(spectrum))])
