"""Stored patient identifiers keyed as fields are read now, once, never merging patients.

Since HL7 fields are read with control characters as spaces (runs of spaces one, trimmed:
:func:`carrier.feeds.hl7_text.clean`), an MRN stored before with a tab or a ``\\X09\\`` in
it would no longer be found, and the next message for that patient would make a new one.
Patient identifiers are now keyed by their cleaned form (``FeedStore.patient_key``), and
the rows keyed before (``key_form`` 0, migration 0503) are re-keyed here, in one
transaction under the table lock, the first time a store applies anything:

* a row whose cleaned key is its own, or no other row's: re-keyed (``key_form`` 1, its MRN
  re-encrypted as written under the new key), audited ``feed.patient.rekey``;
* rows whose cleaned keys meet (two stored identifiers that differ only in control
  characters or spaces, or one that meets a patient keyed since): none is merged or
  moved. A row already holding that key keeps it; the others stay as they were
  (``key_form`` 2), each listed in ``feed_key_conflicts`` and audited
  ``feed.patient.key_conflict``; while no row holds the key, a message naming it is
  refused (AE 205) rather than making yet another patient. A warning says how many.

Ids only in the audit and the log; the identifiers themselves stay encrypted.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from uuid import UUID

if TYPE_CHECKING:
    from carrier.feeds.store import FeedStore

log = logging.getLogger(__name__)


@dataclass
class Rekeyed:
    rekeyed: list[UUID] = field(default_factory=list)
    conflicts: list[UUID] = field(default_factory=list)


async def rekey_identifiers(store: FeedStore, now: dt.datetime) -> Rekeyed:
    """Re-key the patient identifiers stored before keys were cleaned (see the module)."""
    keys, out = store.records.keys, Rekeyed()
    async with store.records.pool.acquire(timeout=store.timeout) as conn, \
            conn.transaction():
        if await conn.fetchval("SELECT NOT EXISTS (SELECT 1 FROM feed_patients"
                               " WHERE key_form = 0)"):
            return out
        await conn.execute("LOCK TABLE feed_patients IN SHARE ROW EXCLUSIVE MODE")
        rows = await conn.fetch("SELECT ref_bidx, authority, ref_ct, patient_id"
                                " FROM feed_patients WHERE key_form = 0")
        groups: dict[bytes, list[tuple[bytes, str, UUID]]] = {}
        for r in rows:
            old = bytes(r["ref_bidx"])
            mrn = keys.decrypt_str(bytes(r["ref_ct"]), "feed_patients", "ref_ct", old.hex())
            new = store.patient_key(r["authority"], mrn)
            groups.setdefault(new, []).append((old, mrn, r["patient_id"]))
        held = {bytes(r["ref_bidx"]) for r in await conn.fetch(
            "SELECT ref_bidx FROM feed_patients WHERE ref_bidx = ANY($1::bytea[])",
            list(groups))}
        for new, group in groups.items():
            if len(group) == 1 and (group[0][0] == new or new not in held):
                old, mrn, pid = group[0]
                await conn.execute(
                    "UPDATE feed_patients SET ref_bidx = $2, ref_ct = $3, key_form = 1"
                    " WHERE ref_bidx = $1", old, new,
                    keys.encrypt(mrn, "feed_patients", "ref_ct", new.hex()))
                if old != new:
                    out.rekeyed.append(pid)
                continue
            for old, _, pid in group:
                if old == new:
                    await conn.execute("UPDATE feed_patients SET key_form = 1"
                                       " WHERE ref_bidx = $1", old)
                    continue  # it holds the key already: it keeps it
                await conn.execute("UPDATE feed_patients SET key_form = 2 WHERE ref_bidx = $1",
                                   old)
                await conn.execute(
                    "INSERT INTO feed_key_conflicts (ref_bidx, patient_id, noted_at)"
                    " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", new, pid, now)
                out.conflicts.append(pid)
    for pid in out.rekeyed:
        await store.records.audit("feed", "feed.patient.rekey", ("patient", pid),
                                  "identifier keyed by its cleaned form", at=now)
    for pid in out.conflicts:
        await store.records.audit("feed", "feed.patient.key_conflict", ("patient", pid),
                                  "identifier meets another patient's once cleaned;"
                                  " not merged", at=now)
    if out.rekeyed:
        log.info("feeds: %d patient identifiers re-keyed by their cleaned form",
                 len(out.rekeyed))
    if out.conflicts:
        log.warning("feeds: %d patient identifiers meet another patient's once cleaned;"
                    " not merged (audit feed.patient.key_conflict)", len(out.conflicts))
    return out
