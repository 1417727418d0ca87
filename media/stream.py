"""The per-call RTP logic, sans-IO: bytes and ``now`` in, bytes and frames out.

``RtpStream`` owns codec, resamplers, DTMF state, jitter buffer, statistics, SRTP,
strict symmetric-RTP latching (``media.latch``) and RTCP scheduling. The asyncio adapter
(``media.session``) calls ``receive_rtp``/``receive_rtcp`` when datagrams arrive and
``tick`` once per 20 ms.
"""

from __future__ import annotations

import random
import secrets
from collections import deque

import numpy as np
import numpy.typing as npt

from media.direction import Direction
from media.dtmf import DtmfEvent, DtmfGap, DtmfParseError, DtmfReceiver, DtmfSender, tone_frames
from media.framing import FRAME_SAMPLES, WIRE_SAMPLES
from media.g711 import G711Codec
from media.jitter import Gap, JitterBuffer
from media.latch import SourceLatch, rtcp_of
from media.reframe import HALF, Reframer, make_codec
from media.resample import Downsampler, Upsampler
from media.rtcp import (
    Bye,
    ReceiverReport,
    ReportBlock,
    RtcpPacket,
    RtcpParseError,
    SenderReport,
    SourceDescription,
    ntp_middle,
    ntp_timestamp,
    parse_compound,
    serialize_compound,
)
from media.rtp import RtpParseError, pack_header, pack_rtp, parse_fields
from media.srtp import SrtpContext, SrtpError
from media.stats import MediaStats, ReceiverStats

__all__ = ["FRAME_SAMPLES", "WIRE_SAMPLES", "Direction", "MediaStats", "RtpStream"]

Address = tuple[str, int]
Int16Array = npt.NDArray[np.int16]

CLOCK_RATE = 8000
PTIME_MS = 20
RTCP_INTERVAL = 5.0
COMFORT_NOISE_PT = 13
# A frame this quiet may be dropped to give back delay (``_quiet``): about -50 dBFS, the
# floor under which the agent's endpointer calls any frame silence, so even a patient
# answering very quietly loses no frame the recogniser would have heard.
QUIET_RMS = 100.0


class RtpStream:
    def __init__(
        self,
        *,
        remote_addr: Address | None,
        payload_type: int = 0,
        dtmf_payload_type: int | None = 101,
        srtp: SrtpContext | None = None,
        direction: Direction = Direction.SENDRECV,
        send_silence: bool = True,
        jitter: JitterBuffer | None = None,
        ssrc: int | None = None,
        cname: str | None = None,
        inband_dtmf: bool = False,
    ) -> None:
        self.codec = make_codec(payload_type)
        self.dtmf_payload_type = dtmf_payload_type
        self.srtp = srtp
        self._direction = direction
        self._sends = direction.sends
        self._receives = direction.receives
        self.send_silence = send_silence
        self.ssrc = secrets.randbits(32) if ssrc is None else ssrc
        self.cname = cname or f"{secrets.token_hex(8)}@media"
        self._jitter = jitter or JitterBuffer(
            clock_rate=CLOCK_RATE, samples_per_packet=WIRE_SAMPLES
        )
        self._jitter.quiet = self._quiet  # catching up after a stall drops only silence
        self._down = Downsampler(FRAME_SAMPLES)
        self._up = Upsampler(WIRE_SAMPLES)
        self._silence = self.codec.silence(WIRE_SAMPLES)
        self._seq = secrets.randbits(16)
        self._timestamp = secrets.randbits(32)
        self._was_silent = True
        self._pending_audio = (0, False)  # (timestamp, marker) of the frame being encoded
        self._reframe = Reframer()  # peers sending 10/30/40 ms packets
        self._dtmf_tx = DtmfSender(samples_per_packet=WIRE_SAMPLES, clock_rate=CLOCK_RATE)
        self._dtmf_rx = DtmfReceiver(clock_rate=CLOCK_RATE)
        self._inband = None
        if inband_dtmf:
            from media.dtmf import InbandDtmfDetector  # noqa: PLC0415 - optional feature

            self._inband = InbandDtmfDetector()
        self.audio: deque[Int16Array] = deque()  # frames queued for sending, 16 kHz
        self._tones: deque[Int16Array] = deque()  # in-band DTMF, sent before ``audio``
        self.events: deque[DtmfEvent] = deque(maxlen=64)
        # addresses: strict latching to the signalled host (media.latch)
        self._latch = SourceLatch(remote_addr)
        self.remote_rtcp_addr = rtcp_of(remote_addr)
        # statistics
        self._rx: ReceiverStats | None = None
        self._rx_packets = 0
        self._sent = 0
        self._octets = 0
        self._concealed = 0
        self._dtmf_sent = 0
        self._dtmf_received = 0
        self._ssrc_changes = 0
        self._lost_before = 0  # lost by the sources before the current SSRC
        self._rejected = 0
        self.late_ticks = 0
        self.audio_frames_sent = 0  # frames taken from ``audio`` onto the wire
        self.skipped_ticks = 0
        self._init_rtcp()

    def _init_rtcp(self) -> None:
        self._rng = random.Random(self.ssrc)  # noqa: S311 - interval dithering, not security
        self._next_rtcp: float | None = None
        self._last_sr: tuple[int, float] | None = None  # (lsr, arrival) of the peer's last SR
        self._sent_since_report = False
        self._rtt: float | None = None
        self._remote_fraction: float | None = None
        self._remote_jitter: float | None = None
        self.remote_bye = False  # the peer's RTCP said BYE for the source we receive

    # --- configuration changes (re-INVITE) -------------------------------------------

    @property
    def direction(self) -> Direction:
        return self._direction

    @direction.setter
    def direction(self, value: Direction) -> None:
        self._direction = value
        self._sends = value.sends
        self._receives = value.receives

    @property
    def remote_addr(self) -> Address | None:
        """Where our RTP goes: the SDP's address, then the source the stream latched to."""
        return self._latch.target

    def set_remote(self, addr: Address | None, rtcp_addr: Address | None = None) -> None:
        self._latch.signal(addr)
        self.remote_rtcp_addr = rtcp_addr or rtcp_of(addr)

    @property
    def remote_addr_host(self) -> str | None:
        return None if self.remote_addr is None else self.remote_addr[0]

    def set_codec(self, payload_type: int, dtmf_payload_type: int | None) -> None:
        if payload_type != self.codec.payload_type:
            self.codec = make_codec(payload_type)
            self._silence = self.codec.silence(WIRE_SAMPLES)
        self.dtmf_payload_type = dtmf_payload_type

    def flush_dtmf(self) -> list[DtmfEvent]:
        """Keys received and not yet read, with one still being pressed: the call is
        ending (a 9 pressed just before a hang-up is still an opt-out)."""
        late = self._dtmf_rx.poll(float("inf"))
        if late is not None:
            self.events.append(late)
        out = list(self.events)
        self.events.clear()
        return out

    # --- outbound ----------------------------------------------------------------------

    def queue_dtmf(self, digits: str) -> None:
        """RFC 4733 events when telephone-event was negotiated, in-band tones otherwise."""
        if self.dtmf_payload_type is not None:
            self._dtmf_tx.queue(digits)
            return
        frames = [f for d in digits for f in tone_frames(d)]  # validates every digit first
        self._tones.extend(frames)
        self._dtmf_sent += len(digits)

    @property
    def dtmf_pending(self) -> bool:
        return self._dtmf_tx.active or bool(self._tones)

    def tick_send(self) -> bytes | None:
        """The packet for this 20 ms tick (or None), already SRTP-protected."""
        plan = self.send_plan()
        if isinstance(plan, np.ndarray):
            return self.send_audio(self.encode_frame(plan))
        return plan

    def encode_frame(self, frame: Int16Array) -> bytes:
        """One 16 kHz frame -> payload on the per-session path (``media.batch`` is the
        group path for G.711)."""
        codec = self.codec
        if isinstance(codec, G711Codec):
            return codec.encode_float(self._down.process_float(frame))
        return codec.encode16(frame)

    def decode_payload(self, payload: bytes) -> Int16Array:
        codec = self.codec
        if isinstance(codec, G711Codec):
            codec.decode_into(payload, self._up.input_slot(len(payload)))
            return self._up.process_slot()
        return codec.decode16(payload)

    def send_plan(self) -> bytes | Int16Array | None:
        """First half of ``tick_send``: a finished packet, None, or a 16 kHz frame that
        the caller encodes with ``downsampler`` (maybe batched with other streams) and
        hands to ``send_audio``."""
        timestamp = self._timestamp
        self._timestamp = (timestamp + WIRE_SAMPLES) & 0xFFFFFFFF
        if not self._sends or self.remote_addr is None:
            self.audio.clear()
            self._was_silent = True
            return None
        step = self._dtmf_tx.step(timestamp) if self._dtmf_tx.active else None
        if step is None:
            if self._tones or self.audio:
                frame = self._tones.popleft() if self._tones else self.audio.popleft()
                if self._was_silent:
                    self._down.reset()
                self._pending_audio = (timestamp, self._was_silent)
                self._was_silent = False
                return frame
            self._was_silent = True
            if not self.send_silence:
                return None
            return self._packet(self.codec.payload_type, timestamp, self._silence, False)
        if step is DtmfGap.GAP:
            return self._packet(self.codec.payload_type, timestamp, self._silence, False)
        self._dtmf_sent += step.marker
        return self._packet(self.dtmf_payload_type or 0, step.timestamp, step.payload, step.marker)

    @property
    def downsampler(self) -> Downsampler:
        return self._down

    def send_audio(self, payload: bytes) -> bytes:
        """Second half of ``tick_send`` for an audio frame: its encoded payload -> packet."""
        timestamp, marker = self._pending_audio
        self.audio_frames_sent += 1
        return self._packet(self.codec.payload_type, timestamp, payload, marker)

    def audio_header(self, payload_bytes: int) -> bytes | None:
        """The 12-byte RTP header for the audio frame ``send_plan`` returned, accounted as
        sent with a payload of ``payload_bytes`` (``media.batch`` writes the payload after
        it: one buffer for the whole group). None with SRTP: use ``send_audio``."""
        if self.srtp is not None:
            return None
        timestamp, marker = self._pending_audio
        self.audio_frames_sent += 1
        header = pack_header(self.codec.payload_type, self._seq, timestamp, self.ssrc, marker)
        self._seq = (self._seq + 1) & 0xFFFF
        self._sent += 1
        self._octets += payload_bytes
        self._sent_since_report = True
        return header

    def _packet(self, pt: int, timestamp: int, payload: bytes, marker: bool) -> bytes:
        data = pack_rtp(pt, self._seq, timestamp, self.ssrc, payload, marker=marker)
        self._seq = (self._seq + 1) & 0xFFFF
        self._sent += 1
        self._octets += len(payload)
        self._sent_since_report = True
        return self.srtp.protect(data) if self.srtp else data

    # --- inbound -----------------------------------------------------------------------

    def receive_rtp(self, data: bytes, addr: Address, now: float) -> bool:
        """Account one datagram from the RTP socket; False when it was rejected."""
        admitted = self._admit(data, addr)
        if admitted is None:
            return False
        pt, seq, timestamp, ssrc, payload = admitted
        self._rx_packets += 1
        rx = self._rx
        if rx is None or rx.ssrc != ssrc:
            if rx is not None:
                self._ssrc_changes += 1
                self._lost_before += rx.lost_total  # the old source's loss stays counted
                self._dtmf_rx = DtmfReceiver(clock_rate=CLOCK_RATE)
            rx = self._rx = ReceiverStats(ssrc, seq, CLOCK_RATE)
        audio = pt == self.codec.payload_type
        rx.update(seq, timestamp, int(now * CLOCK_RATE), audio)
        if not self._receives or pt == COMFORT_NOISE_PT:
            # Comfort noise counts in the sequence (else each packet is a loss) and plays
            # as the silence it stands for (the jitter buffer conceals the gap).
            return True
        if audio:
            return self._play_in(ssrc, timestamp, payload, now)
        return self._dtmf_in(timestamp, payload, now)

    def _admit(self, data: bytes, addr: Address) -> tuple[int, int, int, int, bytes] | None:
        """The packet's fields when it belongs to the call's stream: the signalled host
        (strict latching), authentic (SRTP), well formed, a negotiated payload type."""
        if not self._latch.allows_host(addr):
            self._rejected += 1  # not the signalled host: never parsed, never answered
            return None
        try:
            if self.srtp is not None:
                data = self.srtp.unprotect(data)
            fields = parse_fields(data)
        except (SrtpError, RtpParseError):
            self._rejected += 1
            return None
        pt, seq, _, ssrc, _ = fields
        if pt not in (self.codec.payload_type, self.dtmf_payload_type, COMFORT_NOISE_PT):
            self._rejected += 1
            return None
        before = self._latch.target if self._latch.latched else None
        if not self._latch.accept(addr, ssrc, seq):
            self._rejected += 1
            return None
        if addr != before:
            # symmetric RTP: answer where the peer's packets come from
            self.remote_rtcp_addr = rtcp_of(addr)
        return fields

    def _play_in(self, ssrc: int, timestamp: int, payload: bytes, now: float) -> bool:
        if len(payload) == WIRE_SAMPLES:
            self._jitter.put(ssrc, timestamp, payload, now)
            return True
        if not payload or len(payload) % HALF or len(payload) > 8 * WIRE_SAMPLES:
            # not a whole number of 10 ms (e.g. SRTP arriving before its keys): dropped
            self._rejected += 1
            return False
        for packet_ts, whole in self._reframe.push(ssrc, timestamp, payload):
            self._jitter.put(ssrc, packet_ts, whole, now)
        return True

    def _dtmf_in(self, timestamp: int, payload: bytes, now: float) -> bool:
        try:
            events = self._dtmf_rx.receive(payload, timestamp, now)
        except DtmfParseError:
            self._rejected += 1
            return False
        self._dtmf_received += len(events)
        self.events.extend(events)
        return True

    def tick_receive(self, now: float, decode: bool = True) -> Int16Array | None:
        """The inbound 16 kHz frame for this tick (silence for a gap), None before audio."""
        plan = self.receive_plan(now, decode)
        if isinstance(plan, bytes):
            return self.decode_payload(plan)
        return plan

    @property
    def upsampler(self) -> Upsampler:
        return self._up

    def receive_plan(self, now: float, decode: bool = True) -> bytes | Int16Array | None:
        """First half of ``tick_receive``: a ready frame (silence for a gap), None, or a
        G.711 payload that the caller decodes and upsamples with ``upsampler``."""
        late = self._dtmf_rx.poll(now)
        if late is not None:
            self._dtmf_received += 1
            self.events.append(late)
        got = self._jitter.get(now)
        if got is Gap.NOT_STARTED:
            return None
        if isinstance(got, Gap):
            self._concealed += 1
            self._up.reset()
            return np.zeros(FRAME_SAMPLES, dtype=np.int16) if decode else None
        codec = self.codec
        if (
            self._inband is not None
            and isinstance(codec, G711Codec)
            and len(got.payload) == WIRE_SAMPLES
        ):
            event = self._inband.process(codec.decode(got.payload))
            if event is not None:
                self._dtmf_received += 1
                self.events.append(event)
        return got.payload if decode else None

    def _quiet(self, payload: bytes) -> bool:
        """A 20 ms payload of line silence (G.711; a G.722 payload cannot be read alone,
        so it never is): below QUIET_RMS."""
        codec = self.codec
        if not isinstance(codec, G711Codec) or len(payload) != WIRE_SAMPLES:
            return False
        pcm = codec.decode(payload).astype(np.float32)
        return float(np.sqrt(np.mean(pcm * pcm))) < QUIET_RMS

    # --- RTCP --------------------------------------------------------------------------

    def rtcp_due(self, now: float) -> bool:
        if self._next_rtcp is None:
            self._next_rtcp = now + RTCP_INTERVAL * self._rng.uniform(0.5, 1.5)
            return False
        return now >= self._next_rtcp

    def build_rtcp(self, now: float, wallclock: float, *, bye: bool = False) -> bytes:
        """A compound SR (or RR when we have not sent since the last report) + SDES,
        ending with a BYE when the session closes (RFC 3550 section 6.6)."""
        self._next_rtcp = now + RTCP_INTERVAL * self._rng.uniform(0.5, 1.5)
        blocks: tuple[ReportBlock, ...] = ()
        if self._rx is not None:
            lsr, dlsr = 0, 0
            if self._last_sr is not None:
                lsr = self._last_sr[0]
                dlsr = int((now - self._last_sr[1]) * 65536)
            blocks = (self._rx.report_block(lsr, dlsr),)
        report: SenderReport | ReceiverReport
        if self._sent_since_report:
            report = SenderReport(
                self.ssrc,
                ntp_timestamp(wallclock),
                self._timestamp,
                self._sent,
                self._octets,
                blocks,
            )
        else:
            report = ReceiverReport(self.ssrc, blocks)
        self._sent_since_report = False
        packets: list[RtcpPacket] = [report, SourceDescription(self.ssrc, self.cname)]
        if bye:
            packets.append(Bye((self.ssrc,)))
        data = serialize_compound(packets)
        return self.srtp.protect_rtcp(data) if self.srtp else data

    def receive_rtcp(
        self, data: bytes, now: float, wallclock: float, addr: Address | None = None
    ) -> bool:
        """Account an RTCP datagram from the signalled host (others are not read, strict as
        for RTP); a valid one latches our RTCP target at ``addr`` (a NAT may move it)."""
        if addr is not None and not self._latch.allows_host(addr):
            self._rejected += 1
            return False
        try:
            if self.srtp is not None:
                data = self.srtp.unprotect_rtcp(data)
            packets = parse_compound(data)
        except (SrtpError, RtcpParseError):
            self._rejected += 1
            return False
        if addr is not None and self._latch.latched and addr[0] == self.remote_addr_host:
            self.remote_rtcp_addr = addr
        for packet in packets:
            if isinstance(packet, Bye) and self._rx is not None and self._rx.ssrc in packet.sources:
                self.remote_bye = True
            if isinstance(packet, SenderReport):
                self._last_sr = (ntp_middle(packet.ntp_timestamp), now)
            if isinstance(packet, SenderReport | ReceiverReport):
                for block in packet.reports:
                    if block.ssrc == self.ssrc:
                        self._on_report_block(
                            block.fraction_lost, block.jitter, block.lsr, block.dlsr, wallclock
                        )
        return True

    def _on_report_block(
        self, fraction: int, jitter: int, lsr: int, dlsr: int, wallclock: float
    ) -> None:
        self._remote_fraction = fraction / 256
        self._remote_jitter = jitter / CLOCK_RATE * 1000
        if lsr:
            arrival = ntp_middle(ntp_timestamp(wallclock))
            rtt = ((arrival - lsr - dlsr) & 0xFFFFFFFF) / 65536
            if rtt < 60:
                self._rtt = rtt

    # --- statistics --------------------------------------------------------------------

    def stats(self) -> MediaStats:
        rx = self._rx
        return MediaStats(
            packets_sent=self._sent,
            octets_sent=self._octets,
            packets_received=self._rx_packets,
            packets_lost=self._lost_before + (rx.lost_total if rx else 0),
            jitter_ms=rx.snapshot().jitter_seconds * 1000 if rx else 0.0,
            late_packets=self._jitter.stats.late,
            concealed_frames=self._concealed,
            late_ticks=self.late_ticks,
            skipped_ticks=self.skipped_ticks,
            dtmf_sent=self._dtmf_sent,
            dtmf_received=self._dtmf_received,
            ssrc_changes=self._ssrc_changes,
            rejected_packets=self._rejected,
            rtt_ms=None if self._rtt is None else self._rtt * 1000,
            remote_fraction_lost=self._remote_fraction,
            remote_jitter_ms=self._remote_jitter,
        )

