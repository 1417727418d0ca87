"""Prometheus metrics: the one module every room's edges report through.

Emitted at the edges only (the gateway, a call's media leg at its end, the speech
workers, the dialer's gate, the records writers), never from the pure protocol cores.
Names follow the Prometheus conventions: prefix ``carrier_``, base units (seconds),
``_total`` on counters. Labels carry codes, rules and directions: never numbers or
names (no PHI, bounded cardinality).

``carrier serve`` exposes :data:`REGISTRY` as ``GET /metrics`` on the console port
(``console.bind_host:console.port``, :mod:`carrier.health`). Levels that are read, not
counted (spool depth, writer and dialer liveness) come from :class:`StackCollector`,
asked at each scrape, and so do the application's own (``carrier.plugin.levels_of``: the
voice agent's speech routes), counters among them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Seconds: a call's set-up (INVITE to ACK / 200), a voice reply, a speech step.
_SETUP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
_SPEECH_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)
_JITTER_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16)

ACTIVE_CALLS = Gauge("carrier_active_calls", "Calls up now", ["direction"],
                     registry=REGISTRY)
CALL_ATTEMPTS = Counter("carrier_call_attempts_total", "Calls offered or dialled",
                        ["direction"], registry=REGISTRY)
CALL_FAILURES = Counter("carrier_call_failures_total", "Calls that did not come up, by SIP code",
                        ["direction", "code"], registry=REGISTRY)
CALL_SETUP = Histogram("carrier_call_setup_seconds", "INVITE to answered and confirmed",
                       ["direction"], buckets=_SETUP_BUCKETS, registry=REGISTRY)
RTP_RECEIVED = Counter("carrier_rtp_packets_received_total", "RTP packets received",
                       registry=REGISTRY)
RTP_LOST = Counter("carrier_rtp_packets_lost_total", "RTP packets lost (sequence gaps)",
                   registry=REGISTRY)
RTP_JITTER = Histogram("carrier_rtp_jitter_seconds", "Interarrival jitter at a call's end",
                       buckets=_JITTER_BUCKETS, registry=REGISTRY)
REPLY_LATENCY = Histogram("carrier_reply_latency_seconds",
                          "End of the caller's turn to the first audio of the reply",
                          buckets=_SPEECH_BUCKETS, registry=REGISTRY)
STT_TIME = Histogram("carrier_stt_seconds", "Speech-to-text time per utterance",
                     buckets=_SPEECH_BUCKETS, registry=REGISTRY)
TTS_TIME = Histogram("carrier_tts_seconds", "Text-to-speech time to first audio",
                     buckets=_SPEECH_BUCKETS, registry=REGISTRY)
GATE_DECISIONS = Counter("carrier_gate_decisions_total", "Compliance gate decisions by rule",
                         ["decision", "rule"], registry=REGISTRY)
SIP_DROPPED = Counter("carrier_sip_dropped_total",
                      "SIP messages dropped unanswered (no response could be formed)",
                      ["reason"], registry=REGISTRY)
DRAINING = Gauge("carrier_draining", "1 while the node drains (refuses new calls)",
                 registry=REGISTRY)


def call_attempt(direction: str) -> None:
    CALL_ATTEMPTS.labels(direction).inc()


def call_failed(direction: str, code: int | None) -> None:
    CALL_FAILURES.labels(direction, str(code) if code is not None else "none").inc()


def call_up(direction: str, setup_s: float) -> None:
    CALL_SETUP.labels(direction).observe(max(0.0, setup_s))
    ACTIVE_CALLS.labels(direction).inc()


def call_down(direction: str) -> None:
    ACTIVE_CALLS.labels(direction).dec()


def media_stats(received: int, lost: int, jitter_ms: float) -> None:
    """One call's RTP figures, reported once when its media leg closes."""
    RTP_RECEIVED.inc(max(0, received))
    RTP_LOST.inc(max(0, lost))
    RTP_JITTER.observe(max(0.0, jitter_ms) / 1000.0)


def reply_latency(seconds: float) -> None:
    REPLY_LATENCY.observe(max(0.0, seconds))


def stt_time(seconds: float) -> None:
    STT_TIME.observe(max(0.0, seconds))


def tts_time(seconds: float) -> None:
    TTS_TIME.observe(max(0.0, seconds))


def sip_dropped(status: int) -> None:
    """A malformed message nothing could answer (a response, an ACK, no Via...): by what a
    request would have got, 513 ``oversized`` or else ``malformed``."""
    SIP_DROPPED.labels("oversized" if status == 513 else "malformed").inc()


def gate_decision(allowed: bool, rule: str) -> None:
    GATE_DECISIONS.labels("allow" if allowed else "refuse", rule or "none").inc()


@dataclass(frozen=True)
class Level:
    """A read-at-scrape sample: metric name, help, labels, value; a gauge, or a counter
    (a total kept by its owner; the name without ``_total``, which the exposition adds)."""

    name: str
    help: str
    labels: tuple[tuple[str, str], ...]
    value: float
    counter: bool = False


class StackCollector(Collector):
    """Gauges and counters read at scrape from the running stack (``levels`` returns
    them)."""

    def __init__(self, levels: Callable[[], Iterable[Level]]) -> None:
        self.levels = levels

    def collect(self) -> Iterator[Metric]:
        families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}
        for level in self.levels():
            family = families.get(level.name)
            if family is None:
                kind = CounterMetricFamily if level.counter else GaugeMetricFamily
                family = kind(level.name, level.help, labels=[k for k, _ in level.labels])
                families[level.name] = family
            family.add_metric([v for _, v in level.labels], level.value)
        yield from families.values()


def attach(levels: Callable[[], Iterable[Level]]) -> Callable[[], None]:
    """Register a stack's levels; returns the function that unregisters them."""
    collector = StackCollector(levels)
    REGISTRY.register(collector)
    return lambda: REGISTRY.unregister(collector)


def exposition() -> bytes:
    """The text exposition of :data:`REGISTRY` (what ``GET /metrics`` answers)."""
    return generate_latest(REGISTRY)
