"""While Postgres is away, what the records write goes to the spool in the data folder:
none of it may hold a patient's identifiers in clear (nor base64 of them), whatever the
caller handed in. The leak detector (tests/privacy/phi_scan.py) reads every spool file,
including each base64 blob decoded, while the database is still down."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import asyncpg
import pytest

from carrier.records.store import CallRecord, Channel, Records, RecordsUnavailable
from tests.privacy.phi_scan import find, scan_files

pytestmark = pytest.mark.postgres
PHONE = "+15550100123"


async def test_the_spool_holds_no_phi_in_clear(
    make_cluster, tmp_path: Path, test_kek
) -> None:
    cluster = make_cluster()
    conn = await asyncpg.connect(cluster.uri())
    from agent import MIGRATIONS as AGENT_MIGRATIONS  # noqa: PLC0415
    from carrier.records.migrate import migrate, plan  # noqa: PLC0415

    await migrate(conn, plan(AGENT_MIGRATIONS))
    await conn.close()
    records = await Records.open(cluster.uri(), test_kek, tmp_path / "spool",
                                 retry_interval=3600)  # replay only when asked
    try:
        pid: UUID = await records.add_patient("Testa Patientson", PHONE, actor="t",
                                              reason="r")
        await asyncio.to_thread(cluster.stop)
        with pytest.raises(RecordsUnavailable):
            await records.find_patients_by_phone(PHONE, actor="t", reason="r")
        start = datetime.now(UTC)
        await records.add_call_answers("out-1", "intake", str(pid),
                                       {"name": "Testa Patientson", "dob": "1980-03-05",
                                        "callback": "555-010-0123"})
        await records.dnc_add(PHONE, source="voice_opt_out", actor="agent", reason="opt-out")
        await records.consent_revoke(pid, Channel.VOICE, source="call_voice",
                                     evidence_ref="out-1", actor="agent")
        await records.record_call(
            CallRecord("out-1", "inbound", start, start + timedelta(seconds=30),
                       workflow="patient_intake", outcome="opted_out"),
            [("caller", "this is Testa Patientson, born March 5, 1980, at 555-010-0123")],
            recording=b"\x01\x02" * 800)
        assert records.outbox.spooled >= 3
        spooled = sorted(p.name for p in (tmp_path / "spool").rglob("*") if p.is_file())
        assert spooled  # the scan below reads real files
        leaks = scan_files(tmp_path / "spool")
        assert not leaks, "\n".join(map(str, leaks))
        assert find(" ".join(spooled)) == []
        await asyncio.to_thread(cluster.start)
        assert await records.drain_spool()
    finally:
        await records.close()
