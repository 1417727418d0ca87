"""The records repository: patients (encrypted), consent ledger, audit log, do-not-call.

    records = await Records.open(dsn, kek, spool_dir=data_dir / "spool")
    pid = await records.add_patient("Testa Patientson", "+1 555 555 0101",
                                    dob=date(1970, 1, 1), member_id="SYN-0001",
                                    actor="op:alice", reason="registration")
    await records.consent_grant(pid, Channel.VOICE, ConsentKind.TCPA_EXPRESS_WRITTEN,
                                source="web_form", evidence_ref="form-123", actor="op:alice")
    ok = await records.has_consent("+15555550101", Channel.VOICE)   # the dialer's hot path
    await records.audit("op:alice", "config.change", ("trunk", "t1"), "new route", {"k": 1})
    await records.record_dial_decision(outreach_id, patient_id, dial=False, rule="dnc.org",
                                       actor="dialer")
    await records.close()

* ``add_patient`` / ``get_patient`` / ``find_patients_by_phone``: PHI is AES-256-GCM encrypted
  per cell (``KeyRing``); phone lookup is by keyed blind index. Every call is audited.
* ``consent_grant`` / ``consent_revoke`` append to the hash-chained ledger (and the audit
  log); ``consent_status`` gives the latest word per channel and kind; ``has_consent``
  answers for a phone number: a grant of that kind (or stronger) is the latest word on
  that channel for someone at the number, and nobody at the number revoked it since.
  While this process still holds consent entries in its spool (Postgres was away), it
  replays them first and answers False if it cannot.
* ``audit(actor, action, record, reason, details)``: ``record`` is ``(type, id)``; details
  hold identifiers and codes only (``PhiInDetails`` refuses anything that looks like PHI).
* Consent and audit writes are durable when the call returns: committed, or fsync'd to the
  spool while Postgres is away (see ``appender.py``).
* ``dnc_add`` / ``dnc_status`` / ``import_national_dnc``: do-not-call by blind index.
* ``verify_chain("audit" | "consent")``: list of ``ChainFault`` (empty when intact).
* Other PHI (raw slot values, transcripts, audio) in other components' tables:
  ``records.keys.encrypt(value, table, column, row_id) -> bytes`` into a ``bytea`` column and
  ``records.keys.decrypt(blob, table, column, row_id)``; the AAD binds the cell, so use the
  same three names both ways. ``records.keys.phone_index(number)`` gives the blind index.
* ``records.pool`` is shared (role ``carrier_app``). It skips asyncpg's per-release session
  reset for speed, so never leave session state on a pooled connection (``SET``, ``LISTEN``,
  session advisory locks); use ``SET LOCAL`` / ``pg_advisory_xact_lock`` in a transaction.

Timestamps default to the wall clock; pass ``at=`` to control them (tests, replays).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from carrier.records import chain as chainmod
from carrier.records import keys as keysmod
from carrier.records.appender import AUDIT, CONSENT, ChainWriter
from carrier.records.crypto import KeyEncryptionKey, KeyRing, UnknownKeyVersion, normalize_e164
from carrier.records.spool import Spool


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


class PhiInDetails(ValueError):
    """Audit details must carry identifiers and codes, never PHI (the value is not echoed)."""


@dataclass(frozen=True)
class Patient:
    id: UUID
    name: str
    phone: str
    dob: date | None
    member_id: str | None

    def __repr__(self) -> str:  # never print PHI by accident
        return f"Patient(id={self.id})"


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


@dataclass(frozen=True)
class DncStatus:
    org: bool
    national: bool
    national_imported_at: datetime | None

    @property
    def listed(self) -> bool:
        return self.org or self.national


_PHI_KEYS = re.compile(r"name|phone|dob|birth|member|address|email|ssn|transcript|audio", re.I)
_DIGIT_RUN = re.compile(r"\d[\d\s().+-]{8,}\d")
_UUIDISH = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)

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


def _exempt(value: str) -> bool:
    """UUIDs and date-times (not bare dates: a date of birth is PHI) are not numbers."""
    if _UUIDISH.match(value):
        return True
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return "T" in value


def check_details(details: Mapping[str, Any]) -> None:
    for key, value in details.items():
        if _PHI_KEYS.search(key):
            raise PhiInDetails(f"audit detail key {key!r} names a PHI field")
        if isinstance(value, str) and not _exempt(value) and _DIGIT_RUN.search(value):
            raise PhiInDetails(f"audit detail {key!r} looks like a phone or member number")
        if not isinstance(value, (str, int, bool)) and value is not None:
            raise PhiInDetails(f"audit detail {key!r} must be a string, integer or boolean")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pool reset hook: skip asyncpg's ``RESET ALL; UNLISTEN *; ...`` round trip on every
    release (it doubles the cost of a consent check). asyncpg still rolls back an open
    transaction. Callers must not leave session state on pooled connections: use
    ``SET LOCAL`` inside a transaction, never ``SET``/``LISTEN``/session advisory locks."""


def _now(at: datetime | None) -> datetime:
    return datetime.now(UTC) if at is None else at


class Records:
    def __init__(
        self,
        pool: asyncpg.Pool,
        keys: KeyRing,
        kek: KeyEncryptionKey,
        spool_dir: Path,
        *,
        retry_interval: float = 1.0,
    ) -> None:
        self.pool = pool
        self.keys = keys
        self.kek = kek
        self.audit_writer = ChainWriter(
            pool, AUDIT, Spool(spool_dir / "audit.jsonl"), retry_interval=retry_interval
        )
        self.consent_writer = ChainWriter(
            pool, CONSENT, Spool(spool_dir / "consent.jsonl"), retry_interval=retry_interval
        )

    @classmethod
    async def open(
        cls,
        dsn: str,
        kek: KeyEncryptionKey,
        spool_dir: Path,
        *,
        app_role: str | None = "carrier_app",
        min_size: int = 2,
        max_size: int = 10,
        retry_interval: float = 1.0,
    ) -> Records:
        """Connect as the application role (no UPDATE/DELETE on the ledgers) and start.

        ``retry_interval``: seconds between attempts to replay the spool after an outage.
        """
        pool = await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            reset=_keep_session,
            **({"user": app_role} if app_role else {}),
        )
        try:
            async with pool.acquire() as conn:
                keys = await keysmod.load_keyring(conn, kek)
        except BaseException:
            await pool.close()
            raise
        self = cls(pool, keys, kek, spool_dir, retry_interval=retry_interval)
        self.audit_writer.start()
        self.consent_writer.start()
        return self

    async def close(self) -> None:
        await self.audit_writer.close()
        await self.consent_writer.close()
        await self.pool.close()

    async def drain_spool(self) -> bool:
        """Replay spooled writes now; True when nothing is left waiting."""
        a = await self.audit_writer.drain()
        c = await self.consent_writer.drain()
        return a and c

    async def reload_keys(self) -> None:
        async with self.pool.acquire() as conn:
            self.keys = await keysmod.load_keyring(conn, self.kek)

    # -- audit -------------------------------------------------------------------------

    async def audit(
        self,
        actor: str,
        action: str,
        record: tuple[str, object],
        reason: str,
        details: Mapping[str, Any] | None = None,
        *,
        at: datetime | None = None,
    ) -> UUID:
        details = dict(details or {})
        check_details(details)
        entry_id = uuid4()
        await self.audit_writer.append(
            {
                "entry_id": entry_id,
                "at": _now(at),
                "actor": actor,
                "action": action,
                "record_type": record[0],
                "record_id": str(record[1]),
                "reason": reason,
                "details": chainmod.canonical_json(details),
            }
        )
        return entry_id

    async def record_dial_decision(
        self,
        outreach_id: object,
        patient_id: object,
        *,
        dial: bool,
        rule: str,
        actor: str = "dialer",
        at: datetime | None = None,
    ) -> UUID:
        """Every decision to dial or not, with the rule that decided it (durable)."""
        return await self.audit(
            actor,
            "dial.decision",
            ("outreach", outreach_id),
            rule,
            {"patient_id": str(patient_id), "dial": dial, "rule": rule},
            at=at,
        )

    # -- patients ----------------------------------------------------------------------

    def encrypt_patient(
        self, pid: UUID, name: str, phone: str, dob: date | None, member_id: str | None
    ) -> tuple[Any, ...]:
        """The row tuple stored for a patient (also used by bulk loaders)."""
        e164 = normalize_e164(phone)
        k = self.keys
        return (
            pid,
            k.phone_index(e164),
            k.encrypt(e164, "patients", "phone_ct", pid),
            k.encrypt(name, "patients", "name_ct", pid),
            None if dob is None else k.encrypt(dob.isoformat(), "patients", "dob_ct", pid),
            None if member_id is None else k.encrypt(member_id, "patients", "member_id_ct", pid),
            k.active_version,
        )

    async def add_patient(
        self,
        name: str,
        phone: str,
        *,
        dob: date | None = None,
        member_id: str | None = None,
        actor: str,
        reason: str,
        at: datetime | None = None,
        patient_id: UUID | None = None,
    ) -> UUID:
        # A caller may fix the id (a stable id derived from an EHR or demo id).
        pid = patient_id or uuid4()
        row = self.encrypt_patient(pid, name, phone, dob, member_id)
        await self.pool.execute(
            "INSERT INTO patients (id, phone_bidx, phone_ct, name_ct, dob_ct, member_id_ct,"
            " key_version, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            *row,
            _now(at),
        )
        await self.audit(actor, "patient.create", ("patient", pid), reason, at=at)
        return pid

    async def _decrypt_patient(self, row: Mapping[str, Any]) -> Patient:
        try:
            return self._decode(row)
        except UnknownKeyVersion:
            await self.reload_keys()  # another process rotated the data key
            return self._decode(row)

    def _decode(self, row: Mapping[str, Any]) -> Patient:
        pid = row["id"]
        k = self.keys

        def opt(col: str) -> str | None:
            return (
                None if row[col] is None else k.decrypt_str(bytes(row[col]), "patients", col, pid)
            )

        dob = opt("dob_ct")
        return Patient(
            id=pid,
            name=k.decrypt_str(bytes(row["name_ct"]), "patients", "name_ct", pid),
            phone=k.decrypt_str(bytes(row["phone_ct"]), "patients", "phone_ct", pid),
            dob=None if dob is None else date.fromisoformat(dob),
            member_id=opt("member_id_ct"),
        )

    async def get_patient(self, patient_id: UUID, *, actor: str, reason: str) -> Patient | None:
        row = await self.pool.fetchrow("SELECT * FROM patients WHERE id = $1", patient_id)
        await self.audit(
            actor, "patient.read", ("patient", patient_id), reason, {"found": row is not None}
        )
        return None if row is None else await self._decrypt_patient(row)

    async def find_patients_by_phone(self, phone: str, *, actor: str, reason: str) -> list[Patient]:
        rows = await self.pool.fetch(
            "SELECT * FROM patients WHERE phone_bidx = $1 ORDER BY created_at",
            self.keys.phone_index(phone),
        )
        patients = [await self._decrypt_patient(r) for r in rows]
        await self.audit(
            actor,
            "patient.lookup",
            ("patient", ",".join(str(p.id) for p in patients) or "-"),
            reason,
            {"matches": len(patients)},
        )
        return patients

    # -- consent -----------------------------------------------------------------------

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
        when = _now(at)
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

    async def has_consent(
        self,
        phone: str,
        channel: Channel | str,
        kind: ConsentKind | str = ConsentKind.TCPA_EXPRESS_WRITTEN,
    ) -> bool:
        kinds = [k.value for k in _SATISFIES[ConsentKind(kind)]] + [ConsentKind.ALL.value]
        if self.consent_writer.spooled and not await self.consent_writer.drain():
            # A revocation may be waiting in the spool: without the ledger's last word,
            # the answer is no.
            return False
        return bool(
            await self.pool.fetchval(
                _HAS_CONSENT_SQL, self.keys.phone_index(phone), str(channel), kinds
            )
        )

    # -- do not call -------------------------------------------------------------------

    async def dnc_add(
        self, phone: str, *, source: str, actor: str, reason: str, at: datetime | None = None
    ) -> None:
        bidx = self.keys.phone_index(phone)
        await self.pool.execute(
            "INSERT INTO dnc_org (phone_bidx, added_at, source, actor) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT DO NOTHING",
            bidx,
            _now(at),
            source,
            actor,
        )
        await self.audit(
            actor, "dnc.add", ("dnc_org", bidx.hex()[:16]), reason, {"source": source}, at=at
        )

    async def dnc_status(self, phone: str) -> DncStatus:
        row = await self.pool.fetchrow(
            "SELECT EXISTS (SELECT 1 FROM dnc_org WHERE phone_bidx = $1) AS org,"
            " EXISTS (SELECT 1 FROM dnc_national WHERE phone_bidx = $1) AS national,"
            " (SELECT max(imported_at) FROM dnc_national_imports) AS imported_at",
            self.keys.phone_index(phone),
        )
        return DncStatus(row["org"], row["national"], row["imported_at"])

    async def import_national_dnc(
        self, numbers: Iterable[str], *, source: str, actor: str, at: datetime | None = None
    ) -> int:
        """Replace the national registry copy with ``numbers`` (one transaction, COPY)."""
        when = _now(at)
        bidx = {self.keys.phone_index(n) for n in numbers}
        async with self.pool.acquire() as conn, conn.transaction():
            import_id = await conn.fetchval(
                "INSERT INTO dnc_national_imports (imported_at, source, row_count)"
                " VALUES ($1, $2, $3) RETURNING id",
                when,
                source,
                len(bidx),
            )
            await conn.execute("DELETE FROM dnc_national")
            await conn.copy_records_to_table(
                "dnc_national",
                records=[(b, import_id) for b in bidx],
                columns=["phone_bidx", "import_id"],
            )
        await self.audit(
            actor,
            "dnc.national_import",
            ("dnc_national_imports", import_id),
            "registry refresh",
            {"source": source, "rows": len(bidx)},
            at=when,
        )
        return len(bidx)

    # -- integrity ---------------------------------------------------------------------

    async def verify_chain(self, chain: str) -> list[chainmod.ChainFault]:
        async with self.pool.acquire() as conn:
            return await verify_chain(conn, chain)


async def verify_chain(conn: asyncpg.Connection, chain: str) -> list[chainmod.ChainFault]:
    """Walk a whole chain from its anchor to its head, streaming rows with a cursor."""
    table = {"audit": "audit_log", "consent": "consent_ledger"}[chain]
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        head = await conn.fetchrow("SELECT * FROM chain_heads WHERE chain = $1", chain)
        verifier = chainmod.Verifier(
            chain, chainmod.Head(head["anchor_seq"], bytes(head["anchor_hash"]))
        )
        query = f"SELECT * FROM {table} ORDER BY seq"  # noqa: S608 - table from the fixed map
        async for row in conn.cursor(query, prefetch=5000):
            verifier.feed(row)
    return verifier.finish(chainmod.Head(head["seq"], bytes(head["row_hash"])))
