"""Pieces of the gateway that need none of its state: number forms, the STIR/SHAKEN
context and counters it is built with, the typed call context from the untyped form of
before, and the SIP endpoint's configuration from settings."""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from carrier.plugin import CallContext
from carrier.settings import Settings, TrunkSettings
from carrier.sip.endpoint import EndpointConfig
from carrier.tls_files import tls_files

_TN = re.compile(r"^\+?(\d{4,15})$")


def tn_of(uri_user: str | None) -> str:
    """E.164 (with +) from a URI user part, or the user part as it is."""
    if not uri_user:
        return ""
    m = _TN.match(uri_user.split(";")[0])
    return f"+{m.group(1)}" if m else uri_user


def trunk_for(settings: Settings, source_ip: str) -> TrunkSettings | None:
    """The trunk whose ACL holds the source address of an INVITE, if any."""
    addr = ipaddress.ip_address(source_ip)
    for trunk in settings.trunks:
        if any(addr in ipaddress.ip_network(n, strict=False) for n in trunk.acl):
            return trunk
    return None


def mask(number: str) -> str:
    """Numbers in logs keep only their last two digits (STYLE.md practice 11)."""
    return f"***{number[-2:]}" if len(number) > 2 else "***"


@dataclass
class StirContext:
    """What the gateway needs to sign and verify; built by the app from settings."""

    signer: Any | None
    verifier: Any | None
    fetcher: Any | None
    own_numbers: frozenset[str] = frozenset()
    customer_numbers: frozenset[str] = frozenset()
    rcd_names: Mapping[str, str] = field(default_factory=dict)


@dataclass
class GatewayStats:
    inbound: int = 0
    outbound: int = 0
    active: int = 0
    stir_failed: int = 0


def as_context(base: CallContext, given: CallContext | Mapping[str, Any]) -> CallContext:
    if isinstance(given, CallContext):
        return given
    typed = {"patient_id", "purpose", "appointment_id", "max_duration_s", "origid", "trunk"}
    values = {k: v for k, v in given.items() if k in typed and v is not None}
    if "max_duration_s" in values:
        values["max_duration_s"] = float(values["max_duration_s"])
    extra = {**base.extra, **{k: v for k, v in given.items()
                              if k not in typed and k != "direction"}}
    return dataclasses.replace(base, **values, extra=extra)


def endpoint_config(settings: Settings) -> EndpointConfig:
    sip = settings.sip
    tls = tls_files(settings)  # a self-signed certificate on loopback when none is set
    return EndpointConfig(
        udp=(sip.bind_host, sip.udp_port), tcp=(sip.bind_host, sip.tcp_port),
        tls=(sip.bind_host, sip.tls_port) if tls and sip.tls_port is not None else None,
        tls_cert=tls[0] if tls else None, tls_key=tls[1] if tls else None,
        session_expires=sip.session_expires_s,
    )


def identity_headers(stir: StirContext | None, req: Any, attest: str, now: float
                     ) -> list[tuple[str, str]]:  # fmt: skip
    """The Identity headers of an outbound INVITE (a ``carrier.call.DialRequest``):
    ``shaken``, then ``rcd`` when a branded name is set, ``div`` when diverted."""
    if stir is None or stir.signer is None:
        return []
    signer = stir.signer
    headers = [("Identity", signer.sign(req.from_number, req.to, attest, req.origid,
                                        now).format())]  # fmt: skip
    name = stir.rcd_names.get(req.from_number)
    if name:
        headers.append(("Identity", signer.sign_rcd(req.from_number, req.to, now,
                                                    nam=name).format()))  # fmt: skip
    if req.diverted_from:
        div = signer.sign_div(req.from_number, req.to, str(req.diverted_from), now)
        headers.append(("Identity", div.format()))
    return headers
