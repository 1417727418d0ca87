"""A pg_dump of a database holding the demo clinic's patients contains no PHI in the clear."""

from __future__ import annotations

import asyncio
import re
import subprocess
from datetime import date
from pathlib import Path

import pytest
import yaml

from carrier.records.crypto import normalize_e164
from carrier.records.embedded import pg_binary
from carrier.records.store import Channel, ConsentKind, Records

pytestmark = pytest.mark.postgres

CLINIC = Path(__file__).resolve().parents[2] / "config" / "clinic.yaml"
EXTRA = [
    {
        "first_name": "Testa",
        "last_name": "Patientson",
        "dob": "1970-01-02",
        "phone": "+15555550101",
        "member_id": "SYN-000101",
    },
    {
        "first_name": "Proba",
        "last_name": "Exampledottir",
        "dob": "1981-12-31",
        "phone": "(555) 555-0142",
        "member_id": "SYN-000142",
    },
]


def _demo_patients() -> list[dict]:
    clinic = yaml.safe_load(CLINIC.read_text(encoding="utf-8")) if CLINIC.exists() else {}
    return [*(clinic or {}).get("patients", []), *EXTRA]


def _phi_strings(p: dict) -> list[str]:
    e164 = normalize_e164(p["phone"])
    national = e164[2:]
    out = [
        f"{p['first_name']} {p['last_name']}",
        p["last_name"],
        p["member_id"],
        p["dob"],
        e164,
        national,
        f"{national[:3]}-{national[3:6]}-{national[6:]}",
    ]
    return [s for s in out if s]


async def test_dump_holds_no_plaintext_phi(records: Records, db_url: str) -> None:
    patients = _demo_patients()
    assert len(patients) >= 3
    for p in patients:
        pid = await records.add_patient(
            f"{p['first_name']} {p['last_name']}",
            str(p["phone"]),
            dob=date.fromisoformat(str(p["dob"])),
            member_id=p.get("member_id"),
            actor="op:seed",
            reason="demo data",
        )
        await records.consent_grant(
            pid,
            Channel.VOICE,
            ConsentKind.TCPA_EXPRESS_WRITTEN,
            source="web_form",
            evidence_ref=f"form-{pid}",
            actor="op:seed",
        )
        await records.find_patients_by_phone(str(p["phone"]), actor="op:seed", reason="check")
        await records.dnc_add(str(p["phone"]), source="verbal", actor="op:seed", reason="demo")
    proc = await asyncio.to_thread(
        subprocess.run,
        [str(pg_binary("pg_dump")), "--no-owner", "--dbname", db_url],
        capture_output=True,
        check=True,
        timeout=60,
    )
    dump = proc.stdout.decode()
    # the dump really holds the rows (so the absence below means something)
    rows = (
        re.escape("COPY public.patients ") + r".* FROM stdin;\n(.+\n){" + str(len(patients)) + "}"
    )
    assert re.search(rows, dump)
    for p in patients:
        for secret in _phi_strings(p):
            assert secret not in dump, "plaintext PHI found in pg_dump output"
    # and the same patients are readable through the API with the key
    [found] = await records.find_patients_by_phone(str(patients[0]["phone"]), actor="t", reason="r")
    assert found.name == f"{patients[0]['first_name']} {patients[0]['last_name']}"
