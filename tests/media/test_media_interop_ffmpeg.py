"""Interop with an independent RTP implementation: FFmpeg's RTP muxer and demuxer (through
PyAV, installed with aiortc). Real sockets on 127.0.0.1 and real time (FFmpeg is paced
at 20 ms like a phone; bounded waits only)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import av
import numpy as np

from media.session import MediaSession
from media.stream import FRAME_SAMPLES

SDP = """v=0
o=- 0 0 IN IP4 127.0.0.1
s=interop
c=IN IP4 127.0.0.1
t=0 0
m=audio {port} RTP/AVP {pt}
a=rtpmap:{pt} {name}/8000
"""


def peak_hz(signal: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    return float(np.fft.rfftfreq(len(signal), 1 / rate)[np.argmax(spectrum)])


def tone_frames(freq: float, count: int) -> list[np.ndarray]:
    t = np.arange(count * FRAME_SAMPLES) / 16000
    return list(
        np.round(8000 * np.sin(2 * np.pi * freq * t)).astype(np.int16).reshape(count, FRAME_SAMPLES)
    )


def free_even_port() -> int:
    for _ in range(50):
        a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1] & ~1
            a.close()
            a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            a.bind(("127.0.0.1", port))
            b.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
        finally:
            a.close()
            b.close()
    raise OSError("no free port pair")


async def test_ffmpeg_sends_pcmu_we_hear_the_tone() -> None:
    session = MediaSession(local_addr=("127.0.0.1", 0))
    await session.start()
    out = av.open(f"rtp://127.0.0.1:{session.local_addr[1]}", "w", format="rtp")
    try:
        stream = out.add_stream("pcm_mulaw", rate=8000)
        stream.layout = "mono"
        loop = asyncio.get_running_loop()
        heard: list[np.ndarray] = []

        async def listen() -> None:
            async for frame in session.inbound():
                heard.append(frame)
                if len(heard) == 40:
                    return

        listener = asyncio.create_task(listen())
        t = np.arange(160) / 8000
        start = loop.time()
        async with asyncio.timeout(10):
            for i in range(60):
                pcm = np.round(8000 * np.sin(2 * np.pi * 1000 * (t + i * 0.02))).astype(np.int16)
                frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
                frame.sample_rate = 8000
                frame.pts = i * 160
                for packet in stream.encode(frame):
                    out.mux(packet)
                await asyncio.sleep(max(0.0, start + (i + 1) * 0.02 - loop.time()))
                if listener.done():
                    break
            await listener
        audio = np.concatenate(heard[5:])
        assert abs(peak_hz(audio, 16000) - 1000) < 5
        assert session.stats().packets_lost == 0
    finally:
        out.close()
        await session.close()


async def test_we_send_pcma_ffmpeg_hears_the_tone(tmp_path: Path) -> None:
    port = free_even_port()
    sdp = tmp_path / "peer.sdp"
    sdp.write_text(SDP.format(port=port, pt=8, name="PCMA"))
    session = MediaSession(
        local_addr=("127.0.0.1", 0), remote_addr=("127.0.0.1", port), payload_type=8
    )

    def ffmpeg_receive(count: int) -> np.ndarray:
        container = av.open(
            str(sdp),
            format="sdp",
            options={
                "protocol_whitelist": "file,udp,rtp",
                "reorder_queue_size": "0",
                "timeout": "5000000",  # FFmpeg gives up after 5 s without data
            },
        )
        try:
            samples = []
            for frame in container.decode(audio=0):
                samples.append(frame.to_ndarray().reshape(-1))
                if len(samples) == count:
                    break
            return np.concatenate(samples)
        finally:
            container.close()

    await session.start()
    try:
        async with asyncio.timeout(15):
            receiver = asyncio.create_task(asyncio.to_thread(ffmpeg_receive, 60))
            await asyncio.sleep(0.2)  # bounded: let FFmpeg bind its port before we talk
            while not receiver.done():
                await session.play(tone_frames(1000, 10))
            pcm = await receiver
        tone = pcm[np.abs(pcm) > 0]
        assert len(tone) > 8000 * 0.3
        assert abs(peak_hz(pcm[-4000:].astype(float), 8000) - 1000) < 5
    finally:
        await session.close()
