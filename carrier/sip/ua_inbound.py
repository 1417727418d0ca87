"""The user agent's answer to a request outside any dialog and to the ones naming a
dialog we do not have (RFC 3261 8.2 checks in order, then 12.2.2 / 9.2 / 13.3), sans-IO.

`on_request(ua, ...)` is what `UserAgent` calls for every new request but an ACK; it
returns the outputs like the user agent does. An INVITE that passes every check becomes
an `InviteSession` and an `IncomingCall` event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from carrier.sip.body import body_refusal
from carrier.sip.dialog import Replaces, SessionExpires, bad_contact
from carrier.sip.events import IncomingCall, MessageReceived, Out, PolicyRefused
from carrier.sip.message import Request, Response
from carrier.sip.policy import Refusal
from carrier.sip.session import InviteSession
from carrier.sip.session_core import ALLOW
from carrier.sip.transaction import Address
from carrier.sip.ua_config import (
    IN_DIALOG,
    KNOWN_METHODS,
    MESSAGE_MAX,
    SUPPORTED,
    URI_SCHEMES,
)

if TYPE_CHECKING:
    from carrier.sip.ua import UserAgent


def on_request(  # noqa: PLR0911 - one exit per RFC 3261 8.2 check
    ua: UserAgent, req: Request, key: str | None, source: Address, now: float
) -> list[Out]:
    if req.method not in KNOWN_METHODS:
        return ua.reply(req, key, 501, now, (("Allow", ALLOW),))
    if req.uri.scheme not in URI_SCHEMES:
        return ua.reply(req, key, 416, now)
    if req.method == "CANCEL":  # matched by its INVITE's transaction, To tag or not (9.2)
        return _on_cancel(ua, req, key, source, now)
    if req.to.tag is not None:
        call = ua.calls.get(req.call_id)
        if call is None or call.local_tag != req.to.tag or (
                call.dialog is not None and call.dialog.remote_tag != (req.from_.tag or "")):
            return ua.reply(req, key, 481, now)  # no dialog with these three (12.2.2)
        if (refused := _in_dialog_refusal(ua, req, key, now)) is not None:
            return refused
        return call.on_request(req, key, source, now)
    if req.method == "MESSAGE":
        return _on_message(ua, req, key, source, now)
    if req.method not in ALLOW.split(", "):
        return ua.reply(req, key, 405, now, (("Allow", ALLOW),))
    if (unsupported := _unsupported(req)) is not None:
        return ua.reply(req, key, 420, now, unsupported)
    if req.method == "OPTIONS":
        caps = (("Allow", ALLOW), ("Accept", "application/sdp"))
        return ua.reply(req, key, 200, now, (*caps, ("Supported", ", ".join(SUPPORTED))))
    if req.method in IN_DIALOG:
        return ua.reply(req, key, 481, now)
    return _on_invite(ua, req, key, source, now)


def _unsupported(req: Request) -> tuple[tuple[str, str], ...] | None:
    """The Unsupported header of a 420 (RFC 3261 8.2.2.3), or None."""
    unsupported = [t for t in req.tokens("Require") if t.lower() not in SUPPORTED]
    return (("Unsupported", ", ".join(unsupported)),) if unsupported else None


def _in_dialog_refusal(ua: UserAgent, req: Request, key: str | None, now: float
                       ) -> list[Out] | None:
    """The RFC 3261 8.2 checks a request in one of our dialogs gets too: a method we do
    not serve (405), an option tag we do not support (420), a session interval below
    our Min-SE in a re-INVITE or UPDATE (422, RFC 4028 8)."""
    if req.method not in ALLOW.split(", "):
        return ua.reply(req, key, 405, now, (("Allow", ALLOW),))
    if (unsupported := _unsupported(req)) is not None:
        return ua.reply(req, key, 420, now, unsupported)
    if req.method in ("INVITE", "UPDATE") and bad_contact(req):  # a target refresh (12.2.2)
        return ua.reply(req, key, 400, now)
    se_value = req.get("Session-Expires") if req.method in ("INVITE", "UPDATE") else None
    if se_value is not None and SessionExpires.parse(se_value).seconds < ua.config.min_se:
        return ua.reply(req, key, 422, now, (("Min-SE", str(ua.config.min_se)),))
    return None


def _on_message(ua: UserAgent, req: Request, key: str | None, source: Address, now: float
                ) -> list[Out]:
    """RFC 3428: only from a trunk's networks (403), plain text (415), <= 1300 B (513)."""
    if not (ua.takes_messages and ua.policy.trunks):  # no taker, or no trunks
        return ua.reply(req, key, 405, now, (("Allow", ALLOW),))
    trunk = ua.policy.trunk_for(source[1])
    if trunk is None:
        return ua.reply(req, key, 403, now)
    if (req.content_type or "").split(";")[0].strip().lower() != "text/plain":
        return ua.reply(req, key, 415, now, (("Accept", "text/plain"),))
    if len(req.body) > MESSAGE_MAX:
        return ua.reply(req, key, 513, now)
    text = req.body.decode(errors="replace")
    event = MessageReceived(source, trunk.name, req.from_.uri.user or "",
                            req.to.uri.user or "", text)
    return [*ua.reply(req, key, 200, now), event]


def _on_cancel(ua: UserAgent, req: Request, key: str | None, source: Address, now: float
               ) -> list[Out]:
    invite_tx = ua.tx.invite_for_cancel(req)
    call = ua.calls.get(req.call_id)
    if invite_tx is None or call is None or call.role != "uas":
        return ua.reply(req, key, 481, now)
    if not call.from_peer(source):
        # RFC 3261 9.2 sends CANCEL hop by hop, so it comes from where the INVITE
        # came from: a CANCEL forged from elsewhere must not end a ringing call.
        return ua.reply(req, key, 403, now)
    out = ua.reply(req, key, 200, now)
    return out + call.on_cancel(now)


def _on_invite(  # noqa: PLR0911 - one exit per refusal reason
    ua: UserAgent, req: Request, key: str | None, source: Address, now: float
) -> list[Out]:
    if key is None:
        return []
    if bad_contact(req):  # not one SIP URI: nowhere to send the dialog's requests
        return ua.reply(req, key, 400, now)
    if (accepted := body_refusal(req)) is not None:
        return ua.reply(req, key, 415, now, accepted)
    accept = [a.split(";")[0].strip().lower() for a in req.get_all("Accept")]
    if accept and not {"application/sdp", "application/*", "*/*"} & set(accept):
        return ua.reply(req, key, 406, now, (("Accept", "application/sdp"),))
    se_value = req.get("Session-Expires")
    if se_value is not None and SessionExpires.parse(se_value).seconds < ua.config.min_se:
        return ua.reply(req, key, 422, now, (("Min-SE", str(ua.config.min_se)),))
    if req.call_id in ua.calls:
        return ua.reply(req, key, 482, now)
    trunk = ua.policy.trunk_for(source[1])
    trunk_calls = 0 if trunk is None else ua.active_calls_on(trunk.name)
    refusal: Refusal | None = ua.policy.check(
        source[1], ua.active_calls, now, trunk_calls=trunk_calls
    )
    if refusal is not None:
        extra = (("Retry-After", str(refusal.retry_after)),) if refusal.retry_after else ()
        out = ua.reply(req, key, refusal.status, now, extra)
        return [*out, PolicyRefused(source, refusal.rule, refusal.status, req.call_id)]
    replaces = Replaces.parse(value) if (value := req.get("Replaces")) else None
    call = InviteSession.incoming(
        ua, req, ua.new_id(), source=source, server_key=key,
        trunk=None if trunk is None else trunk.name,
    )  # fmt: skip
    ua.calls[req.call_id] = call
    out = ua.respond(key, Response.for_request(req, 100), now)
    return [*out, IncomingCall(call, req, replaces)]
