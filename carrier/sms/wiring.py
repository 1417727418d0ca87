"""``carrier serve`` with ``sms.enabled``: the SMPP link bound for the stack's life, the
SMS service on it (gate, keywords, ledger), and the application's text handler.

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

from carrier.dialer.records_adapter import RecordsDecisionRecorder, RecordsDirectory, RecordsFacts
from carrier.dialer.store import OutreachStore
from carrier.dialer.wiring import gate_from_settings
from carrier.errors import ConfigError
from carrier.plugin import Application, TextApplication
from carrier.records.store import Records
from carrier.settings import Settings
from carrier.sms.service import SmsService, TextSender
from carrier.sms.smpp import InboundText, SmppLink, SmsRefused

log = logging.getLogger("carrier.sms")
INBOX = 256
RETRY_S = 30.0


def build_service(settings: Settings, records: Records, sender: TextSender) -> SmsService:
    return SmsService(sender, records, gate_from_settings(settings), settings=settings.sms,
                      facts=RecordsFacts(records), history=OutreachStore(records.pool),
                      directory=RecordsDirectory(records),
                      recorder=RecordsDecisionRecorder(records),
                      clock=lambda: dt.datetime.now(dt.UTC))


async def run_sms(settings: Settings, records: Records, app: Application,
                  stop: asyncio.Event) -> None:
    """Until ``stop``: the link, the service and the application's handler. An SMSC that
    refuses or cannot be reached is retried every ``RETRY_S``; calls go on meanwhile."""
    password = os.environ.get(settings.sms.password_env)
    if not password:
        raise ConfigError(settings.config_dir, "sms.password_env",
                          f"${settings.sms.password_env} holds no SMPP password")
    while not stop.is_set():
        try:
            await _session(settings, records, app, password, stop)
        except (OSError, TimeoutError, SmsRefused) as exc:
            log.warning("sms link down (%s); retrying in %.0f s", type(exc).__name__, RETRY_S)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RETRY_S):
                    await stop.wait()


async def _session(settings: Settings, records: Records, app: Application, password: str,
                   stop: asyncio.Event) -> None:
    sms = settings.sms
    inbox: asyncio.Queue[InboundText] = asyncio.Queue(maxsize=INBOX)
    async with SmppLink.from_settings(sms, password, on_text=inbox.put) as link:
        service = build_service(settings, records, link)
        handler = (app.texts(service, sms.reminder_template)
                   if isinstance(app, TextApplication) else None)
        async with contextlib.AsyncExitStack() as exits:
            if handler is not None:
                service.handler = await exits.enter_async_context(handler)
            log.info("sms link bound", extra={"smsc_port": sms.smsc_port})
            await _consume(service, inbox, stop)


async def _consume(service: SmsService, inbox: asyncio.Queue[InboundText],
                   stop: asyncio.Event) -> None:
    stopping = asyncio.ensure_future(stop.wait())
    try:
        while not stop.is_set():
            getting = asyncio.ensure_future(inbox.get())
            await asyncio.wait({getting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not getting.done():
                getting.cancel()
                break
            await service.on_inbound(getting.result())
    finally:
        stopping.cancel()
