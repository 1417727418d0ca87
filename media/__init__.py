"""Media: the per-call RTP leg and everything under it. Imports nothing else of ours.

- ``session.MediaSession``: the asyncio contract (inbound frames, play, cancel, DTMF, stats)
- ``stream.RtpStream``: the sans-IO per-call logic behind it (codec, jitter buffer, DTMF,
  statistics, SRTP, symmetric latching, RTCP scheduling)
- ``transport``: UDP sockets and the shared 20 ms ``Pacer``; ``batch``: group resampling
- ``rtp`` / ``rtcp`` / ``stats``: RFC 3550 packets, reports, receiver statistics
- ``g711`` / ``g722`` / ``resample``: codecs and 8 <-> 16 kHz conversion
- ``dtmf``: RFC 4733 events and in-band tones; ``jitter``: adaptive jitter buffer
- ``srtp``: SDES SRTP via pylibsrtp; ``vad``: webrtcvad on 20 ms frames
"""

from media.dtmf import DtmfEvent
from media.session import MediaSession
from media.srtp import SrtpError, SrtpKey
from media.stream import Direction, MediaStats

__all__ = ["Direction", "DtmfEvent", "MediaSession", "MediaStats", "SrtpError", "SrtpKey"]
