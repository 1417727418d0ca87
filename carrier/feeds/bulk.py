"""A whole file of feed items in one transaction, in a few statements (the CSV import).

Same rules as ``FeedStore.apply`` for one message (claim each row's id, upsert patients by
the keyed blind index of ``authority|mrn`` with the records' own encryption, skip stale
appointment changes, hand the rest to the application, remember the mapping), but with
arrays and ``executemany`` instead of a round trip per row, so 100,000 rows load in
one transaction in reasonable time. The caller holds the transaction and the table lock.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from carrier.feeds.store import (
    AmbiguousPatient,
    Applied,
    FeedItem,
    FeedRejected,
    FeedStore,
    RetiredIdentifier,
)
from carrier.plugin import ENDING_KINDS, ScheduleChange
from carrier.records.patients import LanguageFromFeed, PatientFields


async def _claim(conn: asyncpg.Connection, items: Sequence[FeedItem], now: dt.datetime
                 ) -> set[tuple[str, str]]:
    rows = await conn.fetch(
        "INSERT INTO feed_messages (source, control_id, kind, received_at)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])"
        " ON CONFLICT DO NOTHING RETURNING source, control_id",
        [i.source for i in items], [i.message_id for i in items], [i.kind for i in items],
        [now] * len(items))
    return {(r["source"], r["control_id"]) for r in rows}


def _plan(store: FeedStore, items: Sequence[FeedItem], known: dict[bytes, UUID],
          bidx: Sequence[bytes], now: dt.datetime) -> tuple[list[Any], ...]:
    """Which rows are new patients, links and updates; the links' MRNs encrypted
    (CPU-bound for a whole file: run off the event loop)."""
    keys = store.records.keys
    new_rows: list[tuple[UUID, PatientFields]] = []
    links: list[tuple[Any, ...]] = []
    updates: list[tuple[UUID, PatientFields]] = []
    ids: list[UUID] = []
    created: list[bool] = []
    for item, b in zip(items, bidx, strict=True):
        p = item.patient
        pid = known.get(b)
        if pid is None:
            if not p.name or not p.phone:
                raise FeedRejected(item.fields[0] if not p.name else item.fields[1],
                                   "name and phone required for a new patient")
            pid = known[b] = uuid4()
            new_rows.append((pid, p.fields()))
            links.append((b, p.authority, keys.encrypt(p.mrn, "feed_patients", "ref_ct",
                                                       b.hex()), pid, now))
            created.append(True)
        else:
            created.append(False)
            if p.name and p.phone:
                updates.append((pid, p.fields()))
        ids.append(pid)
    return new_rows, links, updates, ids, created


async def _patients(store: FeedStore, conn: asyncpg.Connection, items: Sequence[FeedItem],
                    now: dt.datetime
                    ) -> tuple[list[UUID], list[bool], dict[UUID, LanguageFromFeed]]:
    # Keyed hashes and AES-GCM for a whole file take seconds: in a thread, so the event
    # loop (SIP, RTP pacing, the console) keeps running meanwhile.
    bidx = await asyncio.to_thread(
        lambda: [store.patient_key(i.patient.authority, i.patient.mrn) for i in items])
    rows = await conn.fetch("SELECT ref_bidx, patient_id FROM feed_patients"
                            " WHERE ref_bidx = ANY($1::bytea[])", list(set(bidx)))
    known: dict[bytes, UUID] = {bytes(r["ref_bidx"]): r["patient_id"] for r in rows}
    merged = await conn.fetch(
        "SELECT ref_bidx, patient_id, merged_at FROM feed_merged"
        " WHERE ref_bidx = ANY($1::bytea[])", [b for b in set(bidx) if b not in known])
    # Merged away by an A40: a row from before the merge is the survivor's; one from after
    # names an identifier retired (carrier.feeds.merge), and the file is refused for it.
    merged_at = {bytes(r["ref_bidx"]): r["merged_at"] for r in merged}
    for i, key in zip(items, bidx, strict=True):
        if key in merged_at and (i.sent_at or now) > merged_at[key]:
            raise RetiredIdentifier(i.fields[-1])
    known.update({bytes(r["ref_bidx"]): r["patient_id"] for r in merged})
    ambiguous = await conn.fetchval(
        "SELECT ref_bidx FROM feed_key_conflicts WHERE ref_bidx = ANY($1::bytea[]) LIMIT 1",
        [b for b in set(bidx) if b not in known])
    if ambiguous is not None:  # see carrier.feeds.rekey: never a new patient for it
        raise AmbiguousPatient(items[bidx.index(bytes(ambiguous))].fields[-1])
    new_rows, links, updates, ids, created = await asyncio.to_thread(
        _plan, store, items, known, bidx, now)
    await store.records.create_patients_on(conn, new_rows, now)
    await conn.executemany(
        "INSERT INTO feed_patients (ref_bidx, authority, ref_ct, patient_id, updated_at)"
        " VALUES ($1, $2, $3, $4, $5)", links)
    languages = await store.records.update_patients_on(conn, updates)
    return ids, created, {lang.patient_id: lang for lang in languages}


async def apply_bulk(store: FeedStore, conn: asyncpg.Connection, items: Sequence[FeedItem],
                     now: dt.datetime) -> list[Applied]:
    claimed = await _claim(conn, items, now)
    fresh = [i for i in items if (i.source, i.message_id) in claimed]
    pids, created, languages = await _patients(store, conn, fresh, now) if fresh \
        else ([], [], {})
    by_item = {id(i): (p, c) for i, p, c in zip(fresh, pids, created, strict=True)}
    with_appt = [i for i in fresh if i.appointment is not None]
    refs = [i.appointment.ref for i in with_appt if i.appointment is not None]
    rows = await conn.fetch("SELECT source, ref, source_ts FROM feed_appointments WHERE"
                            " ref = ANY($1::text[]) FOR UPDATE", refs) if refs else []
    last = {(r["source"], r["ref"]): r["source_ts"] for r in rows}
    todo: list[tuple[FeedItem, ScheduleChange]] = []
    stale: set[int] = set()
    for i in with_appt:
        a = i.appointment
        assert a is not None
        seen = last.get((i.source, a.ref))
        if seen is not None and (i.sent_at or now) < seen:
            stale.add(id(i))
            continue
        todo.append((i, ScheduleChange(
            source=i.source, appointment_ref=a.ref, patient_id=str(by_item[id(i)][0]),
            kind=a.kind, starts_at=a.starts_at, ends_at=a.ends_at, changed_at=now,
            provider_ref=a.provider_ref, provider_name=a.provider_name)))
    app_ids: dict[int, str] = {}
    if todo:
        if store.feed is None:
            raise FeedRejected("appointment_id", "this application takes no schedule feed")
        got = await store.feed.apply_schedules(conn, [c for _, c in todo])
        app_ids = {id(i): app for (i, _), app in zip(todo, got, strict=True)}
        await conn.executemany(
            "INSERT INTO feed_appointments (source, ref, app_id, patient_id, source_ts, ended)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (source, ref) DO UPDATE SET"
            " app_id = EXCLUDED.app_id, patient_id = EXCLUDED.patient_id,"
            " source_ts = EXCLUDED.source_ts, ended = EXCLUDED.ended",
            [(i.source, c.appointment_ref, app_ids[id(i)], UUID(c.patient_id),
              i.sent_at or now, c.kind in ENDING_KINDS) for i, c in todo])
    out = []
    for i in items:
        if id(i) not in by_item:
            out.append(Applied(duplicate=True))
            continue
        pid, made = by_item[id(i)]
        out.append(Applied(False, pid, made, app_ids.get(id(i)), stale=id(i) in stale,
                           language=languages.pop(pid, None)))  # audited once per patient
    return out


AUDIT_BATCH = 500  # audit appends in flight at once (the chain writer batches them)


async def apply_many(store: FeedStore, items: Sequence[FeedItem], now: dt.datetime
                     ) -> list[Applied]:
    """All of ``items`` in one transaction (all land, or none do), then audited."""
    await store.ready(now)
    async with store.records.pool.acquire(timeout=store.timeout) as conn, conn.transaction():
        # One table lock instead of a lock per patient (a file may hold 100,000 rows; that
        # many advisory locks would overflow the lock table). Messages meanwhile wait.
        await conn.execute("LOCK TABLE feed_patients IN SHARE ROW EXCLUSIVE MODE")
        out = await apply_bulk(store, conn, items, now)
    pairs = list(zip(items, out, strict=True))
    for k in range(0, len(pairs), AUDIT_BATCH):
        await asyncio.gather(*(store.audit(i, a, now, queued=True)
                               for i, a in pairs[k:k + AUDIT_BATCH]))
    return out
