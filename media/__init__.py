"""Media: RTP/RTCP, SRTP, G.711, RFC 4733 DTMF, jitter buffer, resampling, and the per-call
asyncio ``MediaSession``. Imports nothing else of ours."""

from media.dtmf import DtmfEvent
from media.session import MediaSession
from media.srtp import SrtpError, SrtpKey
from media.stream import Direction, MediaStats

__all__ = ["Direction", "DtmfEvent", "MediaSession", "MediaStats", "SrtpError", "SrtpKey"]
