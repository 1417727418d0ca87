"""The user agent's settings and the pure helpers of its out-of-dialog work: where a
URI sends to, the Via stamp of RFC 3261 18.2.1 / RFC 3581, a REGISTER's granted expiry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from carrier.sip.digest import Credentials
from carrier.sip.headers import Via
from carrier.sip.message import Request, Response
from carrier.sip.transaction import Address, Timers
from carrier.sip.uri import URI

KNOWN_METHODS = frozenset(
    {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "INFO", "PRACK", "SUBSCRIBE",
     "NOTIFY", "UPDATE", "MESSAGE", "REFER", "PUBLISH"}
)  # fmt: skip
IN_DIALOG = frozenset({"BYE", "INFO", "UPDATE", "REFER", "NOTIFY", "PRACK"})
SUPPORTED = ("timer", "replaces", "norefersub")
MESSAGE_MAX = 1300  # bytes of a MESSAGE body without congestion control (RFC 3428 9)
MESSAGE_TYPE = "text/plain;charset=UTF-8"
URI_SCHEMES = ("sip", "sips", "tel")

@dataclass(frozen=True)
class UaConfig:
    """Identity and timers of one endpoint. `contacts` maps a transport name to the
    (host, port) written in Via and Contact for requests we send over it."""

    contacts: dict[str, tuple[str, int]]
    user: str = "gateway"
    user_agent: str = "carrier-sip/0.1"
    timers: Timers = field(default_factory=Timers)
    session_expires: int = 1800
    min_se: int = 90
    symmetric_response: bool = True


@dataclass
class Registration:
    """A registration binding we keep alive (RFC 3261 sec 10.2)."""

    registrar: URI
    aor: str
    credentials: Credentials | None = None
    expires: int = 3600
    call_id: str = ""
    seq: int = 0
    registered: bool = False


def dest_for(uri: URI) -> Address:
    """The transport address a URI names (no DNS here; hostnames pass through)."""
    transport = uri.transport
    host = uri.param("maddr") or uri.host
    port = uri.port or (5061 if transport == "TLS" else 5060)
    return (transport, host.strip("[]"), port)


def stamp_via(req: Request, source: Address) -> None:
    """RFC 3261 18.2.1 received, RFC 3581 rport."""
    values = req.get_all("Via")
    via = Via.parse(values[0])
    changed = via
    if via.host.strip("[]") != source[1]:
        changed = changed.with_param("received", source[1])
    if via.has_rport:
        changed = changed.with_param("received", source[1]).with_param("rport", str(source[2]))
    if changed is via:
        return
    rest = values[1:]
    req.remove("Via")
    req.prepend("Via", str(changed))
    for value in rest:
        req.add("Via", value)
    # keep Via first in the header order for readability of traces
    vias = [h for h in req.headers if h[0] == "Via"]
    req.headers = vias + [h for h in req.headers if h[0] != "Via"]


def granted_expiry(resp: Response, asked: int) -> int:
    for contact in resp.contacts:
        value = contact.param("expires")
        if value and value.isdigit():
            return int(value)
    header = resp.get("Expires")
    return int(header) if header and header.isdigit() else asked
