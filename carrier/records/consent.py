"""The consent ledger: hash-chained grants and revocations per patient, channel and kind.

* ``consent_grant`` / ``consent_revoke`` append to the ledger (and the audit log); durable
  when they return (committed, or fsync'd to the spool while Postgres is away).
* ``consent_status`` gives the latest word per channel and kind; ``has_consent`` answers
  for a phone number: a grant of that kind (or stronger) is the latest word on that channel
  for someone at the number, and nobody at the number revoked it since. While this process
  still holds consent entries in its spool (Postgres was away), it replays them first and
  answers False if it cannot; it also answers False while a consent entry sits in the
  dead-letter file (a revocation may be among them), until an operator clears it.
* ``consent_settled`` is that check on its own: the dialer's facts ask it before
  ``consent_status``, so a revocation taken during an outage stops the very next dial.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

from carrier.records.audit import AuditLog, now_or
from carrier.records.safe import safe_text


class Channel(enum.StrEnum):
    VOICE = "voice"
    SMS = "sms"
    EMAIL = "email"


class ConsentKind(enum.StrEnum):
    TCPA_EXPRESS = "tcpa_express"  # prior express consent (informational calls)
    TCPA_EXPRESS_WRITTEN = "tcpa_express_written"  # prior express written consent
    HIPAA_AUTHORIZATION = "hipaa_authorization"
    ALL = "all"  # only for revocations: every kind on the channel


# A grant of the key also satisfies a check for each kind in its value.
_SATISFIES = {
    ConsentKind.TCPA_EXPRESS: (ConsentKind.TCPA_EXPRESS, ConsentKind.TCPA_EXPRESS_WRITTEN),
    ConsentKind.TCPA_EXPRESS_WRITTEN: (ConsentKind.TCPA_EXPRESS_WRITTEN,),
    ConsentKind.HIPAA_AUTHORIZATION: (ConsentKind.HIPAA_AUTHORIZATION,),
}


@dataclass(frozen=True)
class ConsentEntry:
    seq: int
    entry_id: UUID
    at: datetime
    patient_id: UUID
    channel: str
    kind: str
    event: str
    source: str
    evidence_ref: str
    actor: str


_HAS_CONSENT_SQL = """
SELECT coalesce(bool_or(l.event = 'grant') AND NOT bool_or(l.event = 'revoke'), false)
FROM patients p
CROSS JOIN LATERAL (
    SELECT c.event FROM consent_ledger c
    WHERE c.patient_id = p.id AND c.channel = $2 AND c.kind = ANY($3::text[])
    ORDER BY c.seq DESC LIMIT 1
) l
WHERE p.phone_bidx = $1
"""


class ConsentLedger(AuditLog):
    async def _consent(
        self,
        patient_id: UUID,
        channel: str,
        kind: str,
        *,
        event: str,
        source: str,
        evidence_ref: str,
        actor: str,
        at: datetime | None,
    ) -> UUID:
        entry_id = uuid4()
        when = now_or(at)
        source, evidence_ref, actor = (
            safe_text(source), safe_text(evidence_ref), safe_text(actor)
        )
        await self.consent_writer.append(
            {
                "entry_id": entry_id,
                "at": when,
                "patient_id": patient_id,
                "channel": Channel(channel).value,
                "kind": ConsentKind(kind).value,
                "event": event,
                "source": source,
                "evidence_ref": evidence_ref,
                "actor": actor,
            }
        )
        await self.audit(
            actor,
            f"consent.{event}",
            ("patient", patient_id),
            source,
            {"channel": str(channel), "kind": str(kind), "entry_id": str(entry_id)},
            at=when,
        )
        return entry_id

    async def consent_grant(
        self,
        patient_id: UUID,
        channel: Channel | str,
        kind: ConsentKind | str,
        *,
        source: str,
        evidence_ref: str,
        actor: str,
        at: datetime | None = None,
    ) -> UUID:
        if ConsentKind(kind) is ConsentKind.ALL:
            raise ValueError("a grant names one consent kind")
        return await self._consent(
            patient_id,
            channel,
            kind,
            event="grant",
            source=source,
            evidence_ref=evidence_ref,
            actor=actor,
            at=at,
        )

    async def consent_revoke(
        self,
        patient_id: UUID,
        channel: Channel | str,
        kind: ConsentKind | str = ConsentKind.ALL,
        *,
        source: str,
        evidence_ref: str,
        actor: str,
        at: datetime | None = None,
    ) -> UUID:
        return await self._consent(
            patient_id,
            channel,
            kind,
            event="revoke",
            source=source,
            evidence_ref=evidence_ref,
            actor=actor,
            at=at,
        )

    async def consent_history(self, patient_id: UUID) -> list[ConsentEntry]:
        rows = await self.pool.fetch(
            "SELECT seq, entry_id, at, patient_id, channel, kind, event, source, evidence_ref,"
            " actor FROM consent_ledger WHERE patient_id = $1 ORDER BY seq",
            patient_id,
        )
        return [ConsentEntry(**dict(r)) for r in rows]

    async def consent_status(self, patient_id: UUID) -> dict[tuple[str, str], bool]:
        """``(channel, kind) -> granted`` for every kind that ever had an entry."""
        state: dict[tuple[str, str], bool] = {}
        for e in await self.consent_history(patient_id):
            if e.kind == ConsentKind.ALL:
                for channel, kind in list(state):
                    if channel == e.channel:
                        state[(channel, kind)] = False
            else:
                state[(e.channel, e.kind)] = e.event == "grant"
        return state

    async def consent_settled(self) -> bool:
        """Whether the ledger in Postgres holds this process's last word: its spool is
        replayed now (False if that cannot be done yet) and nothing sits in the dead-letter
        file (a refused entry may be a revocation: False until an operator looks). A reader
        that decides on consent (the dialer's gate) treats False as "not known yet"."""
        if self.consent_writer.quarantined:
            return False
        return not self.consent_writer.spooled or await self.consent_writer.drain()

    async def has_consent(
        self,
        phone: str,
        channel: Channel | str,
        kind: ConsentKind | str = ConsentKind.TCPA_EXPRESS_WRITTEN,
    ) -> bool:
        kinds = [k.value for k in _SATISFIES[ConsentKind(kind)]] + [ConsentKind.ALL.value]
        if not await self.consent_settled():
            return False
        return bool(
            await self.pool.fetchval(
                _HAS_CONSENT_SQL, self.keys.phone_index(phone), str(channel), kinds
            )
        )
