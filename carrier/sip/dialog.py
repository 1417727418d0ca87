"""Dialog state (RFC 3261 sec 12) and small in-dialog payloads: Replaces (RFC 3891),
message/sipfrag (RFC 3515), application/dtmf-relay INFO, Session-Expires (RFC 4028).
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field

from carrier.sip.errors import LocalProtocolError, SipParseError
from carrier.sip.headers import NameAddr, split_list
from carrier.sip.message import Request, Response
from carrier.sip.uri import URI, WS, get_param, is_digits, parse_params


def contact_target(message: Request | Response) -> URI | None:
    """The remote target a message names: its one Contact, when that is a SIP or SIPS
    URI (RFC 3261 8.1.1.8); None for none, "*", several, or another scheme."""
    values = [v for value in message.get_all("Contact") for v in split_list(value)]
    if len(values) != 1 or values[0].strip() == "*":
        return None
    contacts = message.contacts
    if len(contacts) != 1 or contacts[0].uri.scheme not in ("sip", "sips"):
        return None
    return contacts[0].uri


def bad_contact(req: Request) -> bool:
    """A Contact is there but is not one SIP or SIPS URI: the request cannot set a
    dialog's target (400). No Contact at all is taken (RFC 2543 peers)."""
    return bool(req.get_all("Contact")) and contact_target(req) is None


@dataclass
class Dialog:
    """One dialog as seen from our side; `local_seq` counts our requests."""

    call_id: str
    local_tag: str
    remote_tag: str
    local: NameAddr  # our From (UAC) or To (UAS), with our tag
    remote: NameAddr  # the peer's, with its tag
    remote_target: URI
    route_set: list[NameAddr] = field(default_factory=list)
    local_seq: int = 1
    remote_seq: int | None = None
    secure: bool = False
    early: bool = True

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.call_id, self.local_tag, self.remote_tag)

    @classmethod
    def from_uac(cls, invite: Request, response: Response) -> Dialog:
        """RFC 3261 12.1.2: route set is the reversed Record-Route of the response."""
        remote = response.to
        if remote.tag is None:
            raise SipParseError("response without To tag")
        local = invite.from_
        return cls(
            call_id=invite.call_id,
            local_tag=local.tag or "",
            remote_tag=remote.tag,
            local=local,
            remote=remote,
            remote_target=contact_target(response) or invite.uri,
            route_set=list(reversed(response.record_routes)),
            local_seq=invite.cseq.seq,
            secure=invite.uri.scheme == "sips",
            early=response.status < 200,
        )

    @classmethod
    def from_uas(cls, invite: Request, local_tag: str) -> Dialog:
        """RFC 3261 12.1.1: route set is the Record-Route of the request, in order."""
        remote = invite.from_
        # RFC 2543 INVITEs may lack Contact (RFC 4475 3.4.1): fall back to From.
        target = contact_target(invite) or remote.uri
        return cls(
            call_id=invite.call_id,
            local_tag=local_tag,
            remote_tag=remote.tag or "",
            local=invite.to.with_tag(local_tag),
            remote=remote,
            remote_target=target,
            route_set=invite.record_routes,
            local_seq=0,
            remote_seq=invite.cseq.seq,
            secure=invite.uri.scheme == "sips",
        )

    def next_hop(self) -> URI:
        """Where in-dialog requests go first: the top route, else the remote target."""
        return self.route_set[0].uri if self.route_set else self.remote_target

    def new_request(self, method: str, *, seq: int | None = None) -> Request:
        """RFC 3261 12.2.1.1 (loose routing). Via/Contact/Max-Forwards are added by the UA."""
        if method == "ACK" and seq is None:
            raise LocalProtocolError("ACK needs the INVITE's CSeq number")
        if seq is None:
            self.local_seq += 1
            seq = self.local_seq
        req = Request(method=method, uri=self.remote_target.without_headers())
        for route in self.route_set:
            req.add("Route", str(route))
        req.add("From", str(self.local))
        req.add("To", str(self.remote))
        req.add("Call-ID", self.call_id)
        req.add("CSeq", f"{seq} {method}")
        return req

    def accept_remote_cseq(self, request: Request) -> bool:
        """RFC 3261 12.2.2: a lower CSeq than the last one is out of order (answer 500)."""
        seq = request.cseq.seq
        if request.method in ("ACK", "CANCEL"):
            return True
        if self.remote_seq is not None and seq <= self.remote_seq:
            return False
        self.remote_seq = seq
        return True

    def refresh_target(self, message: Request | Response) -> None:
        """Target refresh by re-INVITE / UPDATE or their 2xx (RFC 3261 12.2.1.2, 12.2.2)."""
        target = contact_target(message)
        if target is not None:
            self.remote_target = target


@dataclass(frozen=True)
class Replaces:
    """`Replaces: call-id;to-tag=..;from-tag=..[;early-only]` (RFC 3891 sec 6.1)."""

    call_id: str
    to_tag: str
    from_tag: str
    early_only: bool = False

    @classmethod
    def parse(cls, value: str) -> Replaces:
        call_id, semi, rest = value.strip(WS).partition(";")
        params = parse_params(rest) if semi else ()
        to_tag, from_tag = get_param(params, "to-tag"), get_param(params, "from-tag")
        if not call_id.strip() or to_tag is None or from_tag is None:
            raise SipParseError("bad Replaces")
        return cls(call_id.strip(), to_tag, from_tag, get_param(params, "early-only") is not None)

    def __str__(self) -> str:
        text = f"{self.call_id};to-tag={self.to_tag};from-tag={self.from_tag}"
        return text + (";early-only" if self.early_only else "")


@dataclass(frozen=True)
class ReferTarget:
    """A parsed Refer-To: where to go, and for an attended transfer the call to replace."""

    uri: URI
    replaces: Replaces | None

    @classmethod
    def parse(cls, value: str) -> ReferTarget:
        addr = NameAddr.parse(value)
        replaces = None
        for name, hvalue in addr.uri.headers:
            if name.lower() == "replaces":
                replaces = Replaces.parse(urllib.parse.unquote(hvalue))
        return cls(addr.uri.without_headers(), replaces)


def refer_to_value(target: URI, replaces: Replaces | None = None) -> str:
    """The Refer-To value, with an escaped Replaces header for an attended transfer."""
    if replaces is None:
        return f"<{target}>"
    escaped = urllib.parse.quote(str(replaces), safe="")
    return f"<{target.without_headers()}?Replaces={escaped}>"


def sipfrag(status: int, reason: str) -> bytes:
    """Body of a REFER NOTIFY (RFC 3515 sec 2.4.5)."""
    return f"SIP/2.0 {status} {reason}\r\n".encode()


def parse_sipfrag(body: bytes) -> int:
    """Status code of a message/sipfrag status line; 400-class error if unreadable."""
    line = body.split(b"\r\n", 1)[0].split(b"\n", 1)[0].decode("utf-8", "replace").split(" ")
    if len(line) < 2 or line[0].upper() != "SIP/2.0" or not is_digits(line[1], 3):
        raise SipParseError("bad sipfrag")
    return int(line[1])


@dataclass(frozen=True)
class DtmfRelay:
    """An INFO DTMF digit (application/dtmf-relay, or application/dtmf)."""

    digit: str
    duration_ms: int = 160

    def __post_init__(self) -> None:
        if self.digit not in "0123456789*#ABCD" or len(self.digit) != 1:
            raise SipParseError("bad DTMF digit")

    def body(self) -> bytes:
        return f"Signal={self.digit}\r\nDuration={self.duration_ms}\r\n".encode()


def parse_dtmf_info(content_type: str | None, body: bytes) -> DtmfRelay | None:
    text = body.decode("ascii", "replace").strip()
    if content_type == "application/dtmf":
        return DtmfRelay(text[:1].upper()) if text else None
    if content_type != "application/dtmf-relay":
        return None
    fields: dict[str, str] = {}
    for line in text.splitlines():
        name, _, value = line.partition("=")
        fields[name.strip().lower()] = value.strip()
    signal = fields.get("signal", "")
    duration = fields.get("duration", "160")
    if not signal:
        raise SipParseError("dtmf-relay without Signal")
    return DtmfRelay(signal.upper(), int(duration) if duration.isdigit() else 160)


@dataclass(frozen=True)
class SessionExpires:
    """`Session-Expires: delta[;refresher=uac|uas]` (RFC 4028 sec 4)."""

    seconds: int
    refresher: str | None = None

    @classmethod
    def parse(cls, value: str) -> SessionExpires:
        delta, semi, rest = value.strip(WS).partition(";")
        if not delta.strip().isdigit():
            raise SipParseError("bad Session-Expires")
        refresher = get_param(parse_params(rest), "refresher") if semi else None
        if refresher not in (None, "uac", "uas"):
            raise SipParseError("bad refresher")
        return cls(min(int(delta.strip()), 2**31), refresher)

    def __str__(self) -> str:
        return f"{self.seconds}" + (f";refresher={self.refresher}" if self.refresher else "")
