"""Upper bounds of the numeric settings: a value above one is refused at start.

The limits are generous (far above any clinic's need) and only catch the absurd: a typo of
a few zeros, a pasted timestamp, an infinity, which would otherwise start 100000 speech
workers, open a database pool the server refuses, or wait years for a drain. Each is
``(limit, why)``; ``trunks[].x`` applies to every trunk. Lower bounds stay with the checks
of :mod:`carrier.settings_checks` and :mod:`carrier.settings`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

from carrier.errors import ConfigError

PORT = (65535, "the highest TCP/UDP port")
HOUR, DAY, WEEK = 3600, 86400, 7 * 86400
CENTURY = 36500

LIMITS: dict[str, tuple[float, str]] = {
    "database.pool_min": (1000, "connections per node"),
    "database.pool_max": (1000, "connections per node"),
    "database.command_timeout_s": (HOUR, "an hour"),
    "keys.checkpoint_interval_s": (WEEK, "a week"),
    "sip.udp_port": PORT,
    "sip.tcp_port": PORT,
    "sip.tls_port": PORT,
    "sip.rtp_port_min": PORT,
    "sip.rtp_port_max": PORT,
    "sip.max_concurrent_calls": (10000, "each call holds an RTP/RTCP port pair and a speech"
                                        " session"),
    "sip.max_calls_per_second": (1000, "new calls per second"),
    "sip.session_expires_s": (DAY, "a day"),
    "sip.drain_timeout_s": (HOUR, "an hour"),
    "sip.max_inbound_call_s": (DAY, "a day"),
    "sip.drain_retry_after_s": (HOUR, "an hour"),
    "trunks[].port": PORT,
    "trunks[].max_concurrent_calls": (10000, "as sip.max_concurrent_calls"),
    "trunks[].calls_per_second": (1000, "new calls per second"),
    "trunks[].options_keepalive_s": (DAY, "a day"),
    "trunks[].register_expires_s": (DAY, "a day"),
    "stir.freshness_s": (HOUR, "an hour (RFC 8224 suggests 60 s)"),
    "stir.max_skew_s": (HOUR, "an hour"),
    "speech.stt_workers": (64, "one speech-to-text process each"),
    "speech.vad_aggressiveness": (3, "the VAD's modes are 0-3"),
    "speech.hangover_ms": (60000, "a minute"),
    "speech.min_speech_ms": (60000, "a minute"),
    "speech.early_pause_ms": (60000, "a minute"),
    "speech.complete_hangover_ms": (60000, "a minute"),
    "speech.incomplete_hangover_ms": (60000, "a minute"),
    "speech.complete_floor_ms": (60000, "a minute"),
    "speech.max_utterance_ms": (300000, "five minutes of audio held per utterance"),
    "dialer.no_show_delay_min": (WEEK // 60, "a week"),
    "dialer.retry_delay_min": (WEEK // 60, "a week"),
    "dialer.max_attempts": (20, "calls to one patient for one reminder"),
    "retention.audit_days": (CENTURY, "a hundred years"),
    "retention.consent_days": (CENTURY, "a hundred years"),
    "retention.transcript_days": (CENTURY, "a hundred years"),
    "retention.recording_days": (CENTURY, "a hundred years"),
    "retention.dial_evidence_days": (CENTURY, "a hundred years"),
    "retention.call_record_days": (CENTURY, "a hundred years"),
    "retention.slot_days": (CENTURY, "a hundred years"),
    "health.dialer_max_failures": (1000, "failed passes in a row"),
    "console.port": PORT,
    "console.idle_timeout_s": (DAY, "a day"),
    "console.lockout_failures": (1000, "failed logins"),
    "console.lockout_s": (WEEK, "a week"),
    "console.phi_lookups_per_hour": (100_000, "lookups of patients an hour"),
    "console.max_sessions_per_operator": (100, "open sessions of one operator"),
    "webchat.port": PORT,
    "webchat.max_sessions": (10000, "open chats, each holding a conversation"),
    "webchat.max_sessions_per_client": (10000, "open chats of one client address"),
    "webchat.idle_timeout_s": (DAY, "a day"),
    "webchat.requests_per_minute": (60000, "per client"),
    "webchat.max_message_chars": (100000, "characters a message"),
    "webchat.max_call_s": (DAY, "a day"),
    "feeds.hl7_port": PORT,
    "feeds.hl7_max_connections": (10000, "open MLLP connections, each a socket and a buffer"),
    "feeds.hl7_max_connections_per_source": (10000, "as feeds.hl7_max_connections"),
    "feeds.hl7_frame_timeout_s": (HOUR, "an hour"),
    "feeds.hl7_idle_timeout_s": (WEEK, "a week"),
    "feeds.fhir_poll_s": (DAY, "a day"),
    "sms.smsc_port": PORT,
    "sms.rate_per_s": (1000, "texts per second"),
    "sms.enquire_link_s": (HOUR, "an hour"),
}


def check_limits(settings: object, src: Callable[[str], str]) -> None:
    """Refuse the first value above its limit (or not a finite number): file, key, why."""
    for key, (limit, why) in LIMITS.items():
        for where, value in _values(settings, key):
            if value is None or isinstance(value, bool):
                continue
            if not (math.isfinite(value) and value <= limit):
                section = key.split(".", 1)[0].removesuffix("[]")
                what = (f"port {value} is out of range" if (limit, why) == PORT
                        else f"{value} is too large")
                raise ConfigError(src(section), where, f"{what}: at most {limit:g} ({why})")


def _values(obj: object, key: str) -> list[tuple[str, float | None]]:
    head, _, rest = key.partition(".")
    if head.endswith("[]"):
        items = getattr(obj, head[:-2])
        return [(f"{head[:-2]}[{i}].{rest}", getattr(item, rest)) for i, item in enumerate(items)]
    value = getattr(obj, head)
    if not rest or not dataclasses.is_dataclass(value):
        return [(key, value)]
    return [(f"{head}.{k}", v) for k, v in _values(value, rest)]
