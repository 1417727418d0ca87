"""``carrier serve`` with ``sms.enabled``: the SMPP link bound for the stack's life (or,
with ``sms.transport: sip``, SIP MESSAGE on the gateway's endpoint and the trunk that owns
``sms.from_number``), the SMS service on it (gate, keywords, ledger), and the
application's text handler.

Inbound texts go from the link's receive hook into a bounded queue and are handled by one
consumer task here: handling a text sends texts (replies), whose submit_sm_resp the same
receive loop must read, so nothing is handled inside the hook.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
from collections.abc import Callable
from typing import Protocol

from carrier.dialer.ports import ReminderTexts, TextChannel
from carrier.dialer.records_adapter import RecordsDecisionRecorder, RecordsDirectory, RecordsFacts
from carrier.dialer.store import OutreachStore
from carrier.dialer.wiring import gate_from_settings
from carrier.errors import ConfigError
from carrier.plugin import Application, TextApplication
from carrier.records.store import Records
from carrier.settings import Settings
from carrier.sip.events import MessageReceived
from carrier.sms.service import SmsService, TextSender
from carrier.sms.settings import reminder_templates
from carrier.sms.sip_message import MessageEndpoint, SipMessageSender, inbound_text
from carrier.sms.smpp import InboundText, SmppLink, SmsRefused

log = logging.getLogger("carrier.sms")
INBOX = 256
RETRY_S = 30.0


def build_service(settings: Settings, records: Records, sender: TextSender) -> SmsService:
    return SmsService(sender, records, gate_from_settings(settings), settings=settings.sms,
                      facts=RecordsFacts(records), history=OutreachStore(records.pool),
                      locks=OutreachStore(records.pool),
                      directory=RecordsDirectory(records),
                      recorder=RecordsDecisionRecorder(records),
                      clock=lambda: dt.datetime.now(dt.UTC))


class MessageTaker(MessageEndpoint, Protocol):
    """The gateway's SIP endpoint, as ``sms.transport: sip`` uses it."""

    def take_messages(self, hook: Callable[[MessageReceived], None] | None) -> None: ...


async def run_sms(settings: Settings, records: Records, app: Application,
                  stop: asyncio.Event, texts: TextChannel | None = None, *,
                  endpoint: MessageTaker | None = None) -> None:
    """Until ``stop``: the link, the service and the application's handler. An SMSC that
    refuses or cannot be reached is retried every ``RETRY_S``; calls go on meanwhile.
    ``texts`` (the dialer's): while the link is bound its texter is the application's
    handler, so the dialer's loop sends the reminders ``sms.reminders_by_text_h`` names."""
    if settings.sms.transport == "sip":
        if endpoint is None:
            raise ConfigError(settings.config_dir, "sms.transport",
                              "'sip' needs the gateway's SIP endpoint (carrier serve)")
        await _sip_session(settings, records, app, endpoint, stop, texts=texts)
        return
    password = os.environ.get(settings.sms.password_env)
    if not password:
        raise ConfigError(settings.config_dir, "sms.password_env",
                          f"${settings.sms.password_env} holds no SMPP password")
    while not stop.is_set():
        try:
            await _session(settings, records, app, password, stop, texts=texts)
        except (OSError, TimeoutError, SmsRefused) as exc:
            log.warning("sms link down (%s); retrying in %.0f s", type(exc).__name__, RETRY_S)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RETRY_S):
                    await stop.wait()


async def _session(settings: Settings, records: Records, app: Application, password: str,
                   stop: asyncio.Event, *, texts: TextChannel | None) -> None:
    sms = settings.sms
    inbox: asyncio.Queue[InboundText] = asyncio.Queue(maxsize=INBOX)
    async with SmppLink.from_settings(sms, password, on_text=inbox.put) as link:
        log.info("sms link bound", extra={"smsc_port": sms.smsc_port})
        await _serve(build_service(settings, records, link), app, inbox, stop, texts=texts)


async def _sip_session(settings: Settings, records: Records, app: Application,
                       endpoint: MessageTaker, stop: asyncio.Event, *,
                       texts: TextChannel | None) -> None:
    """Texts by SIP MESSAGE: out to the trunk owning ``from_number`` (checked at load),
    in from the endpoint (already answered 200, from a trunk's networks only)."""
    sms = settings.sms
    trunk = next(t for t in settings.trunks if sms.from_number in t.numbers)
    sender = SipMessageSender(endpoint, host=trunk.host, port=trunk.port,
                              transport=trunk.transport, sender=sms.from_number)
    inbox: asyncio.Queue[InboundText] = asyncio.Queue(maxsize=INBOX)

    def on_message(event: MessageReceived) -> None:
        try:
            inbox.put_nowait(inbound_text(event))
        except asyncio.QueueFull:
            log.warning("sms inbox full; a text was dropped")  # already answered 200

    endpoint.take_messages(on_message)
    try:
        log.info("sms by SIP MESSAGE", extra={"trunk": trunk.name})
        await _serve(build_service(settings, records, sender), app, inbox, stop, texts=texts)
    finally:
        endpoint.take_messages(None)  # nobody takes texts any more: 405, never a lost 200


async def _serve(service: SmsService, app: Application, inbox: asyncio.Queue[InboundText],
                 stop: asyncio.Event, *, texts: TextChannel | None) -> None:
    """The application's handler on the service, lent to the dialer (``texts``) while the
    transport is up; inbound texts handled until ``stop``."""
    handler = (app.texts(service, reminder_templates(service.settings))
               if isinstance(app, TextApplication) else None)
    async with contextlib.AsyncExitStack() as exits:
        if handler is not None:
            service.handler = await exits.enter_async_context(handler)
        if texts is not None and isinstance(service.handler, ReminderTexts):
            texts.current = service.handler
            exits.callback(setattr, texts, "current", None)  # link down: reminders wait
        await _consume(service, inbox, stop)


async def _consume(service: SmsService, inbox: asyncio.Queue[InboundText],
                   stop: asyncio.Event) -> None:
    stopping = asyncio.ensure_future(stop.wait())
    getting: asyncio.Future[InboundText] | None = None
    try:
        while not stop.is_set():
            getting = asyncio.ensure_future(inbox.get())
            await asyncio.wait({getting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not getting.done():
                break
            await service.on_inbound(getting.result())
    finally:
        # Both waits are ours: cancelled (also when we are), so no orphaned get() takes
        # a text from the inbox after the consumer is gone.
        for waiting in (stopping, getting):
            if waiting is not None:
                waiting.cancel()
        await asyncio.gather(stopping, *([getting] if getting else []), return_exceptions=True)
