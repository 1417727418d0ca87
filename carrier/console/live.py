"""The console's read-only view of live calls, and the two verbs a supervisor has.

:class:`LiveCalls` is the port: ``snapshot(now)`` lists what is up (numbers masked, no
PHI), ``hangup``/``transfer`` act on one call by id. :class:`GatewayLiveCalls` is the
adapter over the running :class:`carrier.gateway.Gateway`. :func:`transfer_target` is what
the API and the page accept as a transfer target (the gateway's REFER takes it as is).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from carrier.records.crypto import InvalidPhoneNumber, normalize_e164
from carrier.sip.errors import SipParseError
from carrier.sip.uri import parse_uri

if TYPE_CHECKING:
    from carrier.gateway import Gateway

URI_SCHEMES = ("sip:", "sips:", "tel:")


def transfer_target(text: str) -> str | None:
    """A supervisor's transfer target as the SIP layer takes it: a SIP, SIPS or tel URI
    that parses (in its canonical form), or a phone number (as ``tel:`` E.164); None for
    anything else, which is refused before it reaches a call."""
    text = text.strip()
    if not text or len(text) > 256:
        return None
    if text.lower().startswith(URI_SCHEMES):
        try:
            return str(parse_uri(text))
        except SipParseError:
            return None
    try:
        return "tel:" + normalize_e164(text)
    except InvalidPhoneNumber:
        return None


def mask_number(number: str) -> str:
    """All but the last four digits hidden: ``+1******0101``."""
    digits = sum(ch.isdigit() for ch in number)
    if digits <= 4:
        return "*" * len(number)
    seen, out = 0, []
    for ch in number:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen > digits - 4 or (seen == 1 and number.startswith("+1"))
                       else "*")
        else:
            out.append(ch)
    return "".join(out)


@dataclass(frozen=True)
class LiveCallView:
    call_id: str
    direction: str
    caller: str  # masked
    called: str  # masked
    trunk: str | None
    verstat: str
    attestation: str | None
    stir_status: str
    workflow: str | None
    state: str
    duration_s: float


class LiveCalls(Protocol):
    def snapshot(self) -> Sequence[LiveCallView]: ...

    async def hangup(self, call_id: str, reason: str) -> bool: ...

    async def transfer(self, call_id: str, target: str) -> bool: ...


class GatewayLiveCalls:
    """Live calls as the gateway holds them."""

    def __init__(self, gateway: Gateway, clock: Callable[[], float] = time.monotonic) -> None:
        self.gateway = gateway
        self.clock = clock

    def snapshot(self) -> list[LiveCallView]:
        now = self.clock()
        out = []
        for call, answered_at in self.gateway.live_calls():
            ctx = call.context
            out.append(LiveCallView(
                call_id=call.call_id, direction=call.direction.value,
                caller=mask_number(call.caller.number), called=mask_number(call.called),
                trunk=ctx.trunk, verstat=call.caller.verstat,
                attestation=call.caller.attestation, stir_status=call.caller.stir_status,
                workflow=ctx.purpose, state="ended" if call.ended.is_set() else "up",
                duration_s=round(max(0.0, now - answered_at), 1)))
        return out

    def _find(self, call_id: str):  # type: ignore[no-untyped-def]
        for call, _ in self.gateway.live_calls():
            if call.call_id == call_id:
                return call
        return None

    async def hangup(self, call_id: str, reason: str) -> bool:
        call = self._find(call_id)
        if call is None:
            return False
        await call.hangup(reason)
        return True

    async def transfer(self, call_id: str, target: str) -> bool:
        call = self._find(call_id)
        if call is None:
            return False
        return bool(await call.transfer(target, {"by": "supervisor"}))
