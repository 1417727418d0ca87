"""A call leg's media statistics (``MediaStats``, what ``RtpStream.stats()`` gives), and
receiver statistics per RFC 3550 appendix A.1 (sequence validation), A.3 (loss) and
A.8 (interarrival jitter). Pure: arrival times come in as RTP timestamp units.
"""

from __future__ import annotations

from dataclasses import dataclass

from media.rtcp import ReportBlock

MAX_DROPOUT = 3000
MAX_MISORDER = 100
MIN_SEQUENTIAL = 2
RTP_SEQ_MOD = 1 << 16


@dataclass(frozen=True, slots=True)
class ReceptionReport:
    """A snapshot for operators and the ``stats()`` call."""

    ssrc: int
    received: int
    expected: int
    lost: int
    jitter_seconds: float
    highest_sequence: int


@dataclass(frozen=True, slots=True)
class MediaStats:
    packets_sent: int
    octets_sent: int
    packets_received: int
    packets_lost: int
    jitter_ms: float
    late_packets: int  # arrived after their play-out time
    concealed_frames: int  # inbound frames replaced by silence (loss or underrun)
    late_ticks: int  # send ticks that fired more than half a packet time late
    skipped_ticks: int  # send ticks abandoned because the loop fell far behind
    dtmf_sent: int
    dtmf_received: int
    ssrc_changes: int
    rejected_packets: int  # malformed, wrong payload type, SRTP failure, foreign source
    rtt_ms: float | None
    remote_fraction_lost: float | None
    remote_jitter_ms: float | None


class ReceiverStats:
    """Statistics for one source SSRC. A different SSRC means a new ``ReceiverStats``."""

    __slots__ = (
        "_bad_seq",
        "_base_seq",
        "_clock_rate",
        "_cycles",
        "_expected_prior",
        "_jitter",
        "_lost_before",
        "_max_seq",
        "_probation",
        "_received",
        "_received_prior",
        "_transit",
        "ssrc",
    )

    def __init__(self, ssrc: int, seq: int, clock_rate: int) -> None:
        self.ssrc = ssrc
        self._clock_rate = clock_rate
        self._init_seq(seq)
        self._max_seq = (seq - 1) & 0xFFFF
        self._probation = MIN_SEQUENTIAL
        self._jitter = 0.0
        self._transit: int | None = None
        self._expected_prior = 0
        self._received_prior = 0
        self._lost_before = 0  # lost in the runs before a sequence restart (A.1 resync)

    def _init_seq(self, seq: int) -> None:
        self._base_seq = seq
        self._max_seq = seq
        self._bad_seq = RTP_SEQ_MOD + 1
        self._cycles = 0
        self._received = 0
        self._received_prior = 0
        self._expected_prior = 0

    def update(self, seq: int, rtp_timestamp: int, arrival: int, timed: bool = True) -> bool:
        """Account one packet. ``arrival`` is the arrival time in RTP clock units.

        ``timed=False`` (telephone-event packets, whose timestamp is the event start)
        counts the packet without feeding the jitter estimate.

        Returns False when the packet is not (yet) valid per A.1 (probation, a large
        jump awaiting confirmation); such packets should not be played.
        """
        udelta = (seq - self._max_seq) & 0xFFFF
        if self._probation:
            if seq == (self._max_seq + 1) & 0xFFFF:
                self._probation -= 1
                self._max_seq = seq
                if self._probation == 0:
                    self._init_seq(seq)
                    self._received += 1
                    if timed:
                        self._jitter_update(rtp_timestamp, arrival)
                    return True
            else:
                self._probation = MIN_SEQUENTIAL - 1
                self._max_seq = seq
            return False
        if udelta < MAX_DROPOUT:
            if seq < self._max_seq:
                self._cycles += RTP_SEQ_MOD
            self._max_seq = seq
        elif udelta <= RTP_SEQ_MOD - MAX_MISORDER:
            if seq == self._bad_seq:
                # Two sequential packets after a big jump: the source restarted. A.1
                # counts afresh from here; what the old run lost stays in ``lost_total``.
                self._lost_before += max(0, self.lost)
                self._init_seq(seq)
            else:
                self._bad_seq = (seq + 1) & 0xFFFF
                return False
        # else: duplicate or reordered packet, counted but does not move max_seq
        self._received += 1
        if timed:
            self._jitter_update(rtp_timestamp, arrival)
        return True

    def _jitter_update(self, rtp_timestamp: int, arrival: int) -> None:
        transit = (arrival - rtp_timestamp) & 0xFFFFFFFF
        if transit >= 1 << 31:
            transit -= 1 << 32
        if self._transit is not None:
            d = abs(transit - self._transit)
            # A transit change past a second is a timestamp jump (a new media source
            # under one SSRC, a clock reset), not network jitter: a new baseline, or one
            # packet would read as 1/16 of the jump and take ~50 packets to fade.
            if d <= self._clock_rate:
                self._jitter += (d - self._jitter) / 16.0
        self._transit = transit

    @property
    def extended_max(self) -> int:
        return self._cycles + self._max_seq

    @property
    def expected(self) -> int:
        return 0 if self._probation else self.extended_max - self._base_seq + 1

    @property
    def received(self) -> int:
        return self._received

    @property
    def lost(self) -> int:
        """Cumulative lost; negative when duplicates outnumber losses (A.3)."""
        return self.expected - self._received

    @property
    def lost_total(self) -> int:
        """Lost over the whole source, across sequence restarts (never negative): what the
        call's record and metrics report."""
        return self._lost_before + max(0, self.lost)

    @property
    def jitter(self) -> int:
        return int(self._jitter)

    def report_block(self, lsr: int, dlsr: int) -> ReportBlock:
        """Build a report block and start a new interval for the fraction lost."""
        expected = self.expected
        expected_interval = expected - self._expected_prior
        received_interval = self._received - self._received_prior
        self._expected_prior = expected
        self._received_prior = self._received
        lost_interval = expected_interval - received_interval
        fraction = 0
        if expected_interval > 0 and lost_interval > 0:
            fraction = min(255, (lost_interval << 8) // expected_interval)
        lost = max(-(1 << 23), min((1 << 23) - 1, self.lost))
        return ReportBlock(
            self.ssrc, fraction, lost, self.extended_max & 0xFFFFFFFF, self.jitter, lsr, dlsr
        )

    def snapshot(self) -> ReceptionReport:
        return ReceptionReport(
            self.ssrc,
            self._received,
            self.expected,
            self.lost_total,
            self._jitter / self._clock_rate,
            self.extended_max,
        )
