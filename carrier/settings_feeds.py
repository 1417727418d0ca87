"""The ``feeds`` settings section (schedule feeds in, outcomes out; docs/feeds.md) and its
checks, kept beside ``carrier.settings`` so that module stays small. Refusals name the key."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from typing import Literal

from carrier.errors import ConfigError


@dataclass(frozen=True)
class FeedsSettings:
    """Schedule feeds in (HL7 v2 over MLLP, FHIR R4, CSV) and outcomes back out (docs/feeds.md)."""

    hl7_enabled: bool = False
    """Run the MLLP listener inside ``carrier serve`` (``carrier hl7 serve`` always does)."""
    hl7_host: str = "127.0.0.1"
    hl7_port: int = 2575
    hl7_tls_cert: str | None = None
    """PEM certificate (with ``hl7_tls_key``): the listener speaks MLLP over TLS."""
    hl7_tls_key: str | None = None
    hl7_max_connections: int = 32
    """MLLP connections open at once; one more is closed as soon as it is accepted."""
    hl7_max_connections_per_source: int = 8
    """MLLP connections open at once from one sender address (within ``hl7_max_connections``)."""
    hl7_frame_timeout_s: float = 30.0
    """Seconds a message may take from its start block to its end block; a frame not ended
    by then is refused (AR) and its connection closed."""
    hl7_idle_timeout_s: float = 900.0
    """Seconds an MLLP connection may stay silent between messages before it is closed."""
    timezone: str = "America/New_York"
    """IANA zone of HL7 and CSV times that carry no UTC offset."""
    phone_is_consent: bool = False
    """A phone number the clinic registered for a new patient is their prior express consent
    to healthcare calls (TCPA ``tcpa_express``, recorded in the consent ledger)."""
    writeback_hl7: str | None = None
    """``host:port`` of the MLLP receiver that takes outcomes back (None: no HL7 write-back)."""
    writeback_hl7_message: Literal["siu", "oru"] = "siu"
    """Outcomes as SIU^S14 (appointment status) or ORU^R01 (an observation per outcome)."""
    writeback_fhir: bool = False
    """Write outcomes back to ``fhir_base_url`` (Appointment status, Task for refills)."""
    fhir_base_url: str | None = None
    fhir_token_url: str | None = None
    """SMART Backend Services token endpoint (None: no authorisation header)."""
    fhir_client_id: str | None = None
    fhir_key_file: str | None = None
    """PEM private key (RSA or EC) that signs the client-credentials JWT assertion."""
    fhir_poll_s: float = 60.0
    """Seconds between FHIR polls (``_lastUpdated``) inside ``carrier serve``."""


def check_feeds(f: FeedsSettings, file: str) -> None:
    if not 0 <= f.hl7_port <= 65535:
        raise ConfigError(file, "feeds.hl7_port", f"port {f.hl7_port} is out of range")
    for key in ("hl7_max_connections", "hl7_max_connections_per_source"):
        if getattr(f, key) < 1:
            raise ConfigError(file, f"feeds.{key}", "must be at least 1")
    for key in ("hl7_frame_timeout_s", "hl7_idle_timeout_s"):
        if not getattr(f, key) > 0:
            raise ConfigError(file, f"feeds.{key}", "must be a positive number of seconds")
    if (f.hl7_tls_cert is None) != (f.hl7_tls_key is None):
        raise ConfigError(file, "feeds.hl7_tls_key", "hl7_tls_cert and hl7_tls_key go together")
    try:
        zoneinfo.ZoneInfo(f.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(file, "feeds.timezone", f"unknown time zone {f.timezone!r}") from None
    if f.writeback_hl7 is not None:
        host, _, port = f.writeback_hl7.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) <= 65535:
            raise ConfigError(file, "feeds.writeback_hl7", "must be host:port")
    if (f.writeback_fhir or f.fhir_token_url) and not f.fhir_base_url:
        raise ConfigError(file, "feeds.fhir_base_url", "required for FHIR write-back or auth")
    if f.fhir_token_url and not (f.fhir_client_id and f.fhir_key_file):
        raise ConfigError(file, "feeds.fhir_client_id",
                          "fhir_client_id and fhir_key_file are required with fhir_token_url")
    if not f.fhir_poll_s > 0:
        raise ConfigError(file, "feeds.fhir_poll_s", "must be a positive number of seconds")
