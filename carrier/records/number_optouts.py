"""Opt-outs by phone number taken while Postgres is away (a STOP texted in an outage).

A STOP names no patient, only the number it came from, and finding the number's patients
needs the database. ``revoke_at_number`` is durable when it returns either way: with the
database up, each patient at the number has ``channels`` revoked in the consent ledger
(none: the number goes on the organisation's do-not-call list, every channel); with it
away, one line ``{phone_bidx, channels, source, evidence_ref, actor, at}`` (the number's
blind index, no PHI) is fsync'd to ``<spool>/optouts.jsonl`` and applied the same way
once it is back. Until then ``consent_settled`` and ``dnc_settled`` are False (the gate
decides "not known yet": no dial, no text), and each call of them, or ``drain_spool``,
tries to apply the waiting opt-outs first: the first decision after the outage sees them.
A crash between applying and emptying the file applies them again on the next start (one
more revocation entry, the same state).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from carrier.records.audit import now_or
from carrier.records.chain import micros
from carrier.records.consent import ConsentLedger
from carrier.records.dbedge import UNAVAILABLE, RecordsUnavailable
from carrier.records.dnc import DoNotCall
from carrier.records.safe import safe_text
from carrier.records.spool import Spool, SpoolCorrupt
from carrier.records.timecodec import from_micros

log = logging.getLogger(__name__)
_UNAVAILABLE: tuple[type[BaseException], ...] = (RecordsUnavailable, *UNAVAILABLE)


class NumberOptOuts(ConsentLedger, DoNotCall):
    optouts: Spool
    _optouts_lock: asyncio.Lock

    async def revoke_at_number(self, phone: str, channels: Iterable[str], *, source: str,
                               evidence_ref: str, actor: str,
                               at: datetime | None = None) -> list[UUID] | None:
        """Revoke ``channels`` for every patient at ``phone`` (none: do-not-call). The
        patients' ids, or None when the database is away and the opt-out waits, durable,
        in the spool. ``phone`` is PHI: never logged, never spooled."""
        record = {"phone_bidx": self.keys.phone_index(phone).hex(), "channels": list(channels),
                  "source": safe_text(source), "evidence_ref": safe_text(evidence_ref),
                  "actor": safe_text(actor), "at": micros(now_or(at))}
        if not await self._optouts_settled():  # earlier ones first, in order
            await asyncio.to_thread(self.optouts.append, [record])
            return None
        try:
            return await self._apply_optout(record)
        except _UNAVAILABLE:
            await asyncio.to_thread(self.optouts.append, [record])
            return None

    async def _apply_optout(self, record: dict[str, Any]) -> list[UUID]:
        bidx = bytes.fromhex(record["phone_bidx"])
        ids = [r["id"] for r in await self._read(lambda conn: conn.fetch(
            "SELECT id FROM patients WHERE phone_bidx = $1 ORDER BY created_at", bidx,
            timeout=self.read_timeout))]
        at = from_micros(record["at"])
        who = {k: record[k] for k in ("source", "evidence_ref", "actor")}
        if not ids:
            await self.outbox.put("dnc_add", {"phone_bidx": bidx.hex(), "at": record["at"],
                                              "source": who["source"], "actor": who["actor"]})
            await self.audit(who["actor"], "dnc.add", ("dnc_org", bidx.hex()[:16]),
                             f"opt-out by text ({who['evidence_ref']})",
                             {"source": who["source"]}, at=at)
        for pid in ids:
            for channel in record["channels"]:
                await self.consent_revoke(pid, channel, at=at, **who)
        return ids

    async def _optouts_settled(self) -> bool:
        """Apply the opt-outs waiting in the spool, in order; False while any still waits."""
        async with self._optouts_lock:
            waiting = await asyncio.to_thread(self._waiting)
            if waiting is None:
                return False  # a damaged line may be a STOP: not known until an operator looks
            if not waiting:
                return True
            try:
                for record in waiting:
                    await self._apply_optout(record)
            except _UNAVAILABLE:
                return False  # applied ones again next time: the same revocations
            await asyncio.to_thread(self.optouts.clear)
            return True

    def _waiting(self) -> list[dict[str, Any]] | None:
        """The waiting opt-outs; None when the file is damaged (kept as it is)."""
        try:
            return self.optouts.read()
        except SpoolCorrupt:
            log.error("the spool of opt-outs by number is damaged: every consent and "  # noqa: TRY400 - no traceback needed
                      "do-not-call answer stays unknown until an operator looks")
            return None

    def optouts_waiting(self) -> int:
        waiting = self._waiting()
        return 1 if waiting is None else len(waiting)

    def optout_waiting_for(self, phone: str) -> bool:
        """A STOP from ``phone`` waits in the spool (nothing more may be sent to it); a
        damaged file may hold one: True."""
        bidx = self.keys.phone_index(phone).hex()
        waiting = self._waiting()
        return waiting is None or any(r.get("phone_bidx") == bidx for r in waiting)

    async def consent_settled(self) -> bool:
        return await self._optouts_settled() and await super().consent_settled()

    async def dnc_settled(self) -> bool:
        return await self._optouts_settled() and await super().dnc_settled()
