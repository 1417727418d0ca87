"""Media: the per-call RTP leg and everything under it. Imports nothing else of ours.

- ``session.MediaSession``: the asyncio contract (inbound frames, play, cancel, DTMF, stats)
- ``stream.RtpStream``: the sans-IO per-call logic behind it (codec, jitter buffer, DTMF,
  statistics, SRTP, RTCP scheduling); ``latch``: strict symmetric latching (only the
  signalled host; a port change only after a run of valid packets); ``reframe``: codec by
  payload type, other packet times cut to 20 ms
- ``transport``: UDP sockets and the shared 20 ms ``Pacer``; ``batch``: group resampling
- ``rtp`` / ``rtcp`` / ``stats``: RFC 3550 packets, reports, receiver statistics
- ``framing``: the 20 ms frame (320 samples at 16 kHz) and the one place audio is cut
- ``g711`` / ``g722`` / ``resample``: codecs, 8 <-> 16 kHz per frame and any-rate buffers
- ``dtmf``: RFC 4733 events and in-band tones; ``jitter``: adaptive jitter buffer
- ``srtp``: SDES SRTP via pylibsrtp; ``vad``: webrtcvad on 20 ms frames
"""

from media.dtmf import DtmfEvent
from media.session import MediaSession
from media.srtp import SrtpError, SrtpKey
from media.stream import Direction, MediaStats

__all__ = ["Direction", "DtmfEvent", "MediaSession", "MediaStats", "SrtpError", "SrtpKey"]
