"""Data keys in the database: bootstrap, load, rotate, re-wrap, re-encrypt rows.

``data_keys`` holds each data key wrapped by the KEK, with the KEK's id. ``rotate`` adds a
new ``field`` version (new writes use it at once; other processes pick it up when they meet
a ciphertext naming a version they have not loaded). ``rewrap`` moves every data key under a
new KEK (KEK rotation) without touching row ciphertexts. ``reencrypt_patients`` rewrites rows
still under older versions (every other encrypted column: :mod:`carrier.records.rekey`), so
an old version can be retired (``retire``). ``rotate`` notifies running nodes
(``KEYS_CHANNEL``), which load the new version into the key ring they hold.
``encrypt_legacy_transcripts`` encrypts transcript text stored in clear before migration 0302
(the cell binding is ``calls.transcript_row_id``: ``<call_id>/<seq>``).
"""

from __future__ import annotations

import asyncio
import os
from uuid import UUID

import asyncpg

from carrier.errors import OperatorError
from carrier.records.crypto import (
    KEY_BYTES,
    DecryptError,
    KeyEncryptionKey,
    KeyRing,
    wrap_context,
)

PATIENT_PHI = ("phone_ct", "name_ct", "dob_ct", "member_id_ct")


class KekMismatch(OperatorError):
    """A data key this process lacks is wrapped by another KEK than the one it holds."""


async def _insert_key(
    conn: asyncpg.Connection, kek: KeyEncryptionKey, purpose: str, version: int
) -> bool:
    wrapped = kek.wrap(os.urandom(KEY_BYTES), wrap_context(purpose, version))
    status = await conn.execute(
        "INSERT INTO data_keys (purpose, version, wrapped, kek_id) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT DO NOTHING",
        purpose,
        version,
        wrapped,
        kek.key_id,
    )
    return bool(status.endswith(" 1"))


async def load_keyring(conn: asyncpg.Connection, kek: KeyEncryptionKey,
                       known: KeyRing | None = None) -> KeyRing:
    """Unwrap every data key, creating the first ones on a new database.

    ``known``: the keys this process already holds (a reload): only versions it lacks are
    unwrapped, so a node started on the previous KEK keeps its keys after a KEK rotation."""
    for purpose in ("field", "blind_index"):
        if not await conn.fetchval("SELECT count(*) FROM data_keys WHERE purpose = $1", purpose):
            await _insert_key(conn, kek, purpose, 1)
    rows = await conn.fetch("SELECT purpose, version, wrapped, kek_id FROM data_keys")
    field_keys: dict[int, bytes] = {}
    index_key = b""
    for row in rows:
        held = _held(known, row["purpose"], row["version"])
        if held is not None:
            key = held
        elif row["kek_id"] != kek.key_id:
            raise KekMismatch(
                f"data key {row['purpose']} v{row['version']} is wrapped by {row['kek_id']},"
                f" not by the configured key-encryption key {kek.key_id} (if the settings"
                " now name a new key-encryption key: carrier keys rotate --old-kek-file"
                " <the previous key file>; a running node restarts to load the new one)"
            )
        else:
            key = _unwrap(kek, row)
        if row["purpose"] == "field":
            field_keys[row["version"]] = key
        else:
            index_key = key
    return KeyRing(field_keys, index_key)


def _held(known: KeyRing | None, purpose: str, version: int) -> bytes | None:
    if known is None:
        return None
    if purpose == "field":
        return known.field_keys.get(version)
    return known.index_key or None


def _unwrap(kek: KeyEncryptionKey, row: asyncpg.Record) -> bytes:
    try:
        return kek.unwrap(bytes(row["wrapped"]), wrap_context(row["purpose"], row["version"]))
    except DecryptError as exc:
        raise OperatorError(
            f"data key {row['purpose']} v{row['version']} does not unwrap with the"
            " configured key-encryption key"
        ) from exc


async def rotate(conn: asyncpg.Connection, kek: KeyEncryptionKey) -> int:
    """Add a new field data-key version; return it."""
    async with conn.transaction():
        await conn.execute("LOCK TABLE data_keys IN SHARE ROW EXCLUSIVE MODE")
        version = int(
            await conn.fetchval(
                "SELECT coalesce(max(version), 0) + 1 FROM data_keys WHERE purpose = 'field'"
            )
        )
        await _insert_key(conn, kek, "field", version)
        await notify_nodes(conn)
    return version


KEYS_CHANNEL = "carrier_data_keys"
"""Nodes (``Records.open(watch_keys=True)``) LISTEN here and load new data-key versions."""


async def notify_nodes(conn: asyncpg.Connection) -> None:
    """Tell running nodes the data keys changed (delivered when the transaction commits)."""
    await conn.execute(f"NOTIFY {KEYS_CHANNEL}")


async def rewrap(conn: asyncpg.Connection, old: KeyEncryptionKey, new: KeyEncryptionKey) -> int:
    """Re-wrap every data key from ``old`` KEK to ``new`` in one transaction (all or none:
    a crash leaves every key under ``old``); return how many. Keys already under ``new``
    (a rotation run twice) are left as they are when ``old`` is another key."""
    async with conn.transaction():
        rows = await conn.fetch(
            "SELECT purpose, version, wrapped, kek_id FROM data_keys FOR UPDATE")
        if old.key_id != new.key_id:
            rows = [r for r in rows if r["kek_id"] != new.key_id]
        for row in rows:
            context = wrap_context(row["purpose"], row["version"])
            try:
                key = old.unwrap(bytes(row["wrapped"]), context)
            except DecryptError as exc:
                raise OperatorError(
                    f"data key {row['purpose']} v{row['version']} does not unwrap with the"
                    " old key-encryption key; nothing was re-wrapped"
                ) from exc
            await conn.execute(
                "UPDATE data_keys SET wrapped = $3, kek_id = $4"
                " WHERE purpose = $1 AND version = $2",
                row["purpose"],
                row["version"],
                new.wrap(key, context),
                new.key_id,
            )
    return len(rows)


async def reencrypt_patients(conn: asyncpg.Connection, keys: KeyRing, *, batch: int = 1000,
                             stop: asyncio.Event | None = None) -> int:
    """Rewrite patient rows under older field-key versions with the active one. A row with
    a value that does not decrypt is passed over, not stopped at: the per-column pass
    (:func:`carrier.records.rekey.reencrypt_all`) moves its other values and names it."""
    active = keys.active_version
    total = 0
    after = UUID(int=0)
    while stop is None or not stop.is_set():  # ``stop`` set: no further batch
        async with conn.transaction():
            rows = await conn.fetch(
                "SELECT id, phone_ct, name_ct, dob_ct, member_id_ct FROM patients"
                " WHERE key_version < $1 AND id > $3 ORDER BY id LIMIT $2"
                " FOR UPDATE SKIP LOCKED",
                active,
                batch,
                after,
            )
            if not rows:
                return total
            after = rows[-1]["id"]
            for row in rows:
                try:
                    values = [
                        None
                        if row[col] is None
                        else keys.encrypt(
                            keys.decrypt(bytes(row[col]), "patients", col, row["id"]),
                            "patients",
                            col,
                            row["id"],
                        )
                        for col in PATIENT_PHI
                    ]
                except DecryptError:
                    continue
                await conn.execute(
                    "UPDATE patients SET phone_ct = $2, name_ct = $3, dob_ct = $4,"
                    " member_id_ct = $5, key_version = $6 WHERE id = $1",
                    row["id"],
                    *values,
                    active,
                )
                total += 1
    return total


async def encrypt_legacy_transcripts(conn: asyncpg.Connection, keys: KeyRing, *,
                                     batch: int = 1000, stop: asyncio.Event | None = None
                                     ) -> int:
    """Move transcript text stored in clear (before migration 0302) into ``text_ct``."""
    total = 0
    while stop is None or not stop.is_set():
        async with conn.transaction():
            rows = await conn.fetch(
                "SELECT call_id, seq, text FROM call_transcripts WHERE text IS NOT NULL"
                " LIMIT $1 FOR UPDATE SKIP LOCKED",
                batch,
            )
            if not rows:
                return total
            await conn.executemany(
                "UPDATE call_transcripts SET text = NULL, text_ct = $3"
                " WHERE call_id = $1 AND seq = $2",
                [
                    (r["call_id"], r["seq"], keys.encrypt(
                        r["text"], "call_transcripts", "text_ct", f"{r['call_id']}/{r['seq']}"))
                    for r in rows
                ],
            )
            total += len(rows)
    return total


async def mark_patients_current(conn: asyncpg.Connection, active: int, old_sql: str) -> None:
    """``key_version`` of each patient whose every field is under ``active`` (``old_sql``:
    the condition of a value under another version, ``{c}`` for the column, ``$1`` active)."""
    stale = " OR ".join(f"({old_sql.format(c=c)})" for c in PATIENT_PHI)
    await conn.execute(
        f"UPDATE patients SET key_version = $1 WHERE key_version <> $1 AND NOT ({stale})",  # noqa: S608 - constants
        active)


async def retire(conn: asyncpg.Connection, version: int) -> None:
    """Delete field data-key ``version`` (the caller checked that nothing is under it)."""
    await conn.execute(
        "DELETE FROM data_keys WHERE purpose = 'field' AND version = $1", version)
