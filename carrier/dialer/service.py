"""The dialer's long-running loop for `carrier serve`: sync appointments, dial, repeat.

Several processes may run this loop against one database: outreach rows are leased
(`FOR UPDATE SKIP LOCKED`), so each is dialled by exactly one of them. No-show
reactivation is as prompt as `interval` (default 30 s, well within "minutes").

A pass that fails because the database (or the application's appointment source) is
unreachable does not end the loop: the failure is logged by class (never PHI), counted
in the loop's :class:`carrier.health.Liveness`, and the next pass comes after a bounded
exponential back-off (`Backoff`). The first good pass resets both.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from carrier.call import Call
from carrier.dialer.campaign import offset_label
from carrier.dialer.gate import GateRequest
from carrier.dialer.gateway_adapter import GatewayDialer, OutboundGateway
from carrier.dialer.ports import DialResult, Outcome, TextChannel
from carrier.dialer.records_adapter import (
    RecordsDecisionRecorder,
    RecordsDirectory,
    RecordsFacts,
)
from carrier.dialer.runner import OUTAGE_ERRORS, DialerRunner, PassReport
from carrier.dialer.store import OutreachStore
from carrier.dialer.sync import SyncReport, sync_campaigns
from carrier.dialer.wiring import gate_from_settings, policy_from_settings
from carrier.health import Liveness
from carrier.plugin import AppointmentSource, CallOutcome, OutcomeKind
from carrier.records.store import Records
from carrier.settings import Settings

log = logging.getLogger(__name__)


# What a failed pass may raise that could be an outage (`is_outage` decides).
PASS_ERRORS: tuple[type[BaseException], ...] = (*OUTAGE_ERRORS, ExceptionGroup)


def is_outage(exc: BaseException) -> bool:
    """An outage error, or a group (the pass's dialling TaskGroup) made only of them."""
    if isinstance(exc, BaseExceptionGroup):
        _, rest = exc.split(OUTAGE_ERRORS)
        return rest is None
    return isinstance(exc, OUTAGE_ERRORS)


@dataclass
class Backoff:
    """Bounded exponential back-off: `base`, doubling per failure, at most `cap` seconds."""

    base: float = 1.0
    cap: float = 60.0

    def delay(self, failures: int) -> float:
        return float(min(self.cap, self.base * 2.0 ** max(0, failures - 1)))


def dial_result(outcome: CallOutcome | None) -> DialResult:
    """The application's `CallOutcome` as the dialer's result (None: the call was cut at
    its length limit before the application returned)."""
    if outcome is None:
        return DialResult(Outcome.ANSWERED)
    kind = outcome.kind
    if kind is OutcomeKind.MACHINE_MESSAGE:
        return DialResult(Outcome.MACHINE)
    return DialResult(Outcome.ANSWERED, confirmed=kind is OutcomeKind.CONFIRMED,
                      cancelled=kind is OutcomeKind.CANCELLED)


class DialerService:
    """What `carrier serve` runs: sync + pass every `interval`, surviving outages."""

    def __init__(self, runner: DialerRunner, appointments: AppointmentSource, *,
                 liveness: Liveness | None = None, backoff: Backoff | None = None,
                 sleep: Callable[[float], Awaitable[None]] | None = None) -> None:
        self.runner = runner
        self.appointments = appointments
        self.liveness = liveness or Liveness("dialer")
        self.backoff = backoff or Backoff()
        self._sleep = sleep

    @classmethod
    def build(cls, settings: Settings, records: Records, gateway: OutboundGateway,
              appointments: AppointmentSource, *, rules_dir: Path | None = None,
              worker: str | None = None) -> DialerService:
        async def on_answer(call: Call, request: GateRequest) -> DialResult:
            context = {
                "patient_id": request.patient_id,
                "purpose": request.purpose,
                "appointment_id": call.context.appointment_id,
                "max_duration_s": call.context.max_duration_s,
            }
            try:
                outcome = await gateway.run_outbound(call, context)
            except Exception as exc:  # noqa: BLE001 - one call's handler failure is that call's
                # The call was answered and is over (the gateway hung it up and logged the
                # failure by type); it counts as an answered call. Before, the failure ended
                # the pass's TaskGroup: every other call in flight was cut and the loop
                # stopped, so every later reminder was lost.
                log.warning("outbound call handler failed (%s)", type(exc).__name__)
                return DialResult(Outcome.ANSWERED)
            return dial_result(outcome)

        runner = DialerRunner(
            store=OutreachStore(records.pool, records.outbox),
            gate=gate_from_settings(settings, rules_dir),
            facts=RecordsFacts(records),
            directory=RecordsDirectory(records),
            recorder=RecordsDecisionRecorder(records),
            dialer=GatewayDialer(gateway, settings.dialer.caller_id, on_answer),
            trunk=settings.dialer.trunk,
            policy=policy_from_settings(settings.dialer),
            worker=worker or f"{socket.gethostname()}:{os.getpid()}",
            clock=utc_now,
            appointments=appointments,
            texts=text_channel(settings),
        )
        liveness = Liveness("dialer", max_failures=settings.health.dialer_max_failures)
        return cls(runner, appointments, liveness=liveness)

    async def run_pass(self, *, limit: int = 50, stop: asyncio.Event | None = None
                       ) -> tuple[SyncReport, PassReport]:
        """One sync and one dialer pass (what `carrier campaign run` does once); ``stop``
        ends the pass early (see `DialerRunner.run_once`)."""
        synced = await sync_campaigns(self.runner.store, self.appointments,
                                      self.runner.policy, self.runner.clock())
        return synced, await self.runner.run_once(limit=limit, stop=stop)

    async def run(self, stop: asyncio.Event, *, interval: float = 30.0, limit: int = 50
                  ) -> None:
        while not stop.is_set():
            try:
                synced, report = await self.run_pass(limit=limit, stop=stop)
            except PASS_ERRORS as exc:  # OUTAGE_ERRORS, alone or grouped
                if not is_outage(exc):
                    raise
                self.liveness.failure(exc)
                wait = self.backoff.delay(self.liveness.failures)
                log.warning("dialer pass failed; retrying", extra={
                    "error": type(exc).__name__, "failures": self.liveness.failures,
                    "retry_in_s": wait})
                await self._pause(stop, wait)
                continue
            self.liveness.success()
            log.info("dialer pass", extra={
                "added": synced.added, "stopped": synced.stopped, "leased": report.leased,
                "dialled": report.dialled, "texted": report.texted,
                "refused": dict(report.refused)})
            if report.leased >= limit:
                continue  # more is due: no pause
            await self._pause(stop, interval)

    async def _pause(self, stop: asyncio.Event, seconds: float) -> None:
        if self._sleep is not None:  # tests drive time by hand
            await self._sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=seconds)


def text_channel(settings: Settings) -> TextChannel | None:
    """The reminders ``sms.reminders_by_text_h`` sends by text (None: texts are off, or
    every reminder is a call). ``run_sms`` fills in the texter while its link is bound."""
    sms = settings.sms
    if not sms.enabled or not sms.reminders_by_text_h:
        return None
    return TextChannel(frozenset(offset_label(dt.timedelta(hours=h))
                                 for h in sms.reminders_by_text_h))


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
