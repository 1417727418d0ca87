"""Consent ledger and audit log: append-only for the app role and (by trigger) for everyone;
tampering by a superuser who disables the triggers is caught by verification."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import uuid4

import asyncpg
import pytest

from carrier.records.store import Channel, ConsentKind, Records, verify_chain

pytestmark = pytest.mark.postgres

TABLES = ("audit_log", "consent_ledger")


@pytest.fixture
async def filled(records: Records) -> Records:
    pid = uuid4()
    for i in range(4):
        await records.consent_grant(
            pid,
            Channel.VOICE,
            ConsentKind.TCPA_EXPRESS_WRITTEN,
            source="web_form",
            evidence_ref=f"form-{i}",
            actor="op:test",
        )
    for i in range(6):
        await records.audit("op:test", "patient.read", ("patient", i), "care")
    return records


@pytest.fixture
async def superuser(db_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(db_url)
    yield conn
    await conn.close()


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize(
    "statement",
    ["UPDATE {t} SET actor = 'x' WHERE seq = 2", "DELETE FROM {t} WHERE seq = 2", "TRUNCATE {t}"],
)
async def test_app_role_cannot_change_or_delete(
    filled: Records, table: str, statement: str
) -> None:
    async with filled.pool.acquire() as conn:
        assert await conn.fetchval("SELECT current_user") == "carrier_app"
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(statement.format(t=table))


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize(
    "statement",
    ["UPDATE {t} SET actor = 'x' WHERE seq = 2", "DELETE FROM {t} WHERE seq = 2", "TRUNCATE {t}"],
)
async def test_trigger_refuses_even_the_superuser(
    filled: Records, superuser: asyncpg.Connection, table: str, statement: str
) -> None:
    assert await superuser.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await superuser.execute(statement.format(t=table))
    assert await superuser.fetchval(f"SELECT count(*) FROM {table}") > 0


async def test_app_role_cannot_move_the_anchor(filled: Records) -> None:
    async with filled.pool.acquire() as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("UPDATE chain_heads SET anchor_seq = 3")


CHAINS = {"audit_log": "audit", "consent_ledger": "consent"}
TAMPER = {
    "edit": ["UPDATE {t} SET actor = 'op:mallory' WHERE seq = 2"],
    "edit_time": ["UPDATE {t} SET at = at - interval '1 day' WHERE seq = 3"],
    "delete_middle": ["DELETE FROM {t} WHERE seq = 2"],
    "delete_last": ["DELETE FROM {t} WHERE seq = (SELECT max(seq) FROM {t})"],
    "reorder": [
        "UPDATE {t} SET seq = -2 WHERE seq = 2",
        "UPDATE {t} SET seq = 2 WHERE seq = 3",
        "UPDATE {t} SET seq = 3 WHERE seq = -2",
    ],
    "insert_copy": [
        "INSERT INTO {t} SELECT * FROM {t} WHERE seq = 1",
    ],
}


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("attack", sorted(TAMPER))
async def test_superuser_tampering_is_detected(
    filled: Records, superuser: asyncpg.Connection, table: str, attack: str
) -> None:
    chain = CHAINS[table]
    assert await verify_chain(superuser, chain) == []
    await superuser.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
    for template in TAMPER[attack]:
        stmt = template.format(t=table)
        if attack == "insert_copy":
            # a forged row at the end, with fresh ids, copying an old row's hashes
            stmt = (
                f"INSERT INTO {table} SELECT * FROM jsonb_populate_record(NULL::{table},"
                f" (SELECT to_jsonb(x) || jsonb_build_object('seq', (SELECT max(seq) + 1 FROM"
                f" {table}), 'entry_id', gen_random_uuid()) FROM {table} x WHERE seq = 1))"
            )
        await superuser.execute(stmt)
    await superuser.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
    faults = await verify_chain(superuser, chain)
    assert faults, f"{attack} on {table} went unnoticed"
