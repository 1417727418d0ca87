"""Texts by SIP MESSAGE (RFC 3428) on a trunk that carries them: the same ``TextSender``
port as the SMPP link, so ``SmsService`` (gate, keywords, ledger) does not care which.

A MESSAGE carries the whole text (the trunk's SMSC segments it; at most 1300 bytes here,
RFC 3428 9); a final status other than 2xx raises :class:`SmsRefused` with that status.
Inbound, the endpoint's ``on_message`` hook gets each ``MessageReceived`` (already answered
200, from a trunk's networks only); :func:`inbound_text` turns it into the ``InboundText``
the service takes.
"""

from __future__ import annotations

from typing import Protocol

from carrier.sip.events import MessageReceived
from carrier.sip.uri import URI
from carrier.sms.smpp import InboundText, SmsRefused


class MessageEndpoint(Protocol):
    async def message(self, target: URI | str, text: str, *, sender: str,
                      timeout: float = 32.0) -> int | None: ...  # noqa: ASYNC109 - house style: keyword timeout=


class SipMessageSender:
    """``send(to, text)`` as one MESSAGE to ``sip:<to>@<trunk host>:<port>``."""

    def __init__(self, endpoint: MessageEndpoint, *, host: str, port: int, transport: str,
                 sender: str, timeout: float = 32.0) -> None:
        self.endpoint = endpoint
        self.host, self.port, self.transport = host, port, transport
        self.sender = sender
        self.timeout = timeout

    async def send(self, to: str, text: str) -> list[str]:
        target = f"sip:{to}@{self.host}:{self.port};transport={self.transport}"
        try:
            status = await self.endpoint.message(target, text, sender=self.sender,
                                                 timeout=self.timeout)
        except TimeoutError:
            status = None  # no final answer within our wait (the transaction's is 32 s)
        if status is None or not 200 <= status < 300:
            refused = SmsRefused(408 if status is None else status, "MESSAGE not accepted")
            # a final 3xx-6xx: the one MESSAGE was not taken; no answer (408): unknown
            refused.nothing_sent = status is not None and status != 408
            raise refused
        return [f"sip-{status}"]


def inbound_text(event: MessageReceived) -> InboundText:
    return InboundText(event.sender, event.to, event.text)
