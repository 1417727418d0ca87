"""ADT^A40 (merge patient): MRG-1, the prior identifier, merged into PID-3, the survivor's.

What is done, in the message's transaction (the patients' advisory locks held):

* the prior is on file and the survivor is not (the EHR found a duplicate of a patient we
  know under one identifier only): the feed link is re-keyed to the survivor's identifier.
  The patient is the same row, so their appointments, consent ledger, DNC entries and
  language stay theirs unchanged; the PID's demographics then apply as an update would,
  and ``feed.patient.merge`` is audited. Later messages under the survivor's id reach
  them, and so does a late one under the prior id (``feed_merged``: an engine's queue, a
  resend; its demographics, from before the merge, are not taken). One sent after the
  merge (its MSH-7 after the A40's, ``feed_merged.merged_at``; arrival stands in for a
  missing one) is refused, AE 204 at PID^1^3 (:class:`~carrier.feeds.store.
  RetiredIdentifier`): in HL7 v2 merge semantics the prior identifier ceases to name
  anyone, so an EHR that issues it again means another person or a mistake, and neither
  may change the survivor or book for them; nor is a new patient made for it (it may be
  the survivor after all). The clinic sorts it;
* the prior is not on file, or both identifiers already name the same patient: nothing to
  merge, the PID applies as an update (a repeat of the same A40 is acknowledged again);
* both are on file as two patients: refused (``AR`` 201 at MRG^1^1) and nothing changes;
  ``feed.patient.merge_refused`` is audited for both. Merging two records is not done
  from a message: the appointments are the application's (the carrier hands changes to
  its ``ScheduleFeed`` and has no way to move them), two consent ledgers and DNC histories
  would have to be reconciled with evidence that belongs to each number, and a wrong
  merge by the EHR (they happen, and an A40 has no undo) would put one person's calls
  under another's consent. The clinic merges them (and the EHR's next messages for the
  survivor then reach the one kept).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING
from uuid import UUID

import asyncpg

from carrier.feeds.store import FeedItem, FeedRejected
from carrier.records.patients import LanguageFromFeed

if TYPE_CHECKING:
    from carrier.feeds.store import FeedStore

REFUSED = ("both patients are on file: merging two records is not applied from a message"
           " (appointments and consent need review); have the clinic merge them")


class MergeRefused(FeedRejected):
    """An A40 naming two patients on file (``patients``: their ids, for the audit)."""

    def __init__(self, patients: tuple[UUID, UUID]) -> None:
        super().__init__("MRG^1^1", REFUSED)
        self.patients = patients


async def relink(store: FeedStore, conn: asyncpg.Connection, item: FeedItem,
                 now: dt.datetime
                 ) -> tuple[UUID, bool, LanguageFromFeed | None, tuple[str, ...]]:
    """Apply an A40 (see the module): (the surviving patient, whether a link moved, what
    the message's PID-15 did to their language, the fields its nulls cleared)."""
    assert item.merge_from is not None
    p = item.patient
    prior_key = store.patient_key(*item.merge_from)
    survivor_key = store.patient_key(p.authority, p.mrn)
    for key in sorted({prior_key, survivor_key}):  # one order: no deadlock between two A40s
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))",
                           "feed-patient:" + key.hex())
    rows = {bytes(r["ref_bidx"]): r["patient_id"] for r in await conn.fetch(
        "SELECT ref_bidx, patient_id FROM feed_patients WHERE ref_bidx = ANY($1::bytea[])",
        [prior_key, survivor_key])}
    prior, survivor = rows.get(prior_key), rows.get(survivor_key)
    if prior is None or prior == survivor:
        pid, _, language, cleared = await store._patient(conn, item, now)
        return pid, False, language, cleared
    if survivor is not None:
        raise MergeRefused((prior, survivor))
    await conn.execute(
        "UPDATE feed_patients SET ref_bidx = $2, authority = $3, ref_ct = $4, key_form = 1"
        " WHERE ref_bidx = $1", prior_key, survivor_key, p.authority,
        store.records.keys.encrypt(p.mrn, "feed_patients", "ref_ct", survivor_key.hex()))
    await conn.execute(
        "INSERT INTO feed_merged (ref_bidx, patient_id, merged_at) VALUES ($1, $2, $3)"
        " ON CONFLICT (ref_bidx) DO UPDATE SET patient_id = EXCLUDED.patient_id,"
        " merged_at = EXCLUDED.merged_at", prior_key, prior, item.sent_at or now)
    pid, _, language, cleared = await store._patient(conn, item, now)
    return pid, True, language, cleared
