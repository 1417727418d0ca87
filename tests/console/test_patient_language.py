"""The preferred language on the console: the API (``PUT /api/v1/patients/{id}/language``,
the language in every patient read) and the patients page's form, with a real database.
Before: there was no such field, so a Spanish-speaking patient could not be marked."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable

import pytest

from carrier.console.app import ConsoleContext
from tests.console.conftest import SignedIn

pytestmark = pytest.mark.postgres
SignIn = Callable[..., Awaitable[SignedIn]]
PHONE = "+15555550124"


async def _changes(console: ConsoleContext) -> list[tuple[str, str, str, str]]:
    await console.records.drain_spool()
    rows = await console.records.pool.fetch(
        "SELECT actor, reason, details FROM audit_log WHERE action = 'patient.language'"
        " ORDER BY seq")
    out = []
    for r in rows:
        d = r["details"] if isinstance(r["details"], dict) else json.loads(r["details"])
        out.append((r["actor"], r["reason"], d.get("was", ""), d["language"]))
    return out


async def test_the_api_sets_reads_and_refuses_a_language_the_clinic_lacks(
        console: ConsoleContext, signin: SignIn) -> None:
    s = await signin("scheduler")
    r = await s.client.post("/api/v1/patients", headers=s.headers(), json={
        "name": "Testa Lingua", "phone": "(555) 555-0124", "language": "Spanish"})
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    got = await s.client.get(f"/api/v1/patients/{pid}", params={"reason": "check"})
    assert got.json()["language"] == "es"
    r = await s.client.put(f"/api/v1/patients/{pid}/language", headers=s.headers(),
                           json={"language": "en", "reason": "patient asked on the phone"})
    assert r.status_code == 200, r.text
    assert r.json() == {"id": pid, "language": "en"}
    found = await s.client.post("/api/v1/patients/search", headers=s.headers(),
                                json={"phone": PHONE, "reason": "x"})
    assert [p["language"] for p in found.json()] == ["en"]
    for bad in ("fr", "Klingon", "e"):
        r = await s.client.put(f"/api/v1/patients/{pid}/language", headers=s.headers(),
                               json={"language": bad})
        assert r.status_code == 422, r.text
        assert "language must be one of en, es" in r.text
    r = await s.client.post("/api/v1/patients", headers=s.headers(), json={
        "name": "Testa Other", "phone": "(555) 555-0125", "language": "fr"})
    assert r.status_code == 422
    assert await console.records.pool.fetchval("SELECT count(*) FROM patients") == 1
    r = await s.client.put(f"/api/v1/patients/{uuid.uuid4()}/language", headers=s.headers(),
                           json={"language": "es"})
    assert r.status_code == 404
    r = await s.client.put(f"/api/v1/patients/{pid}/language", headers=s.headers(),
                           json={"language": None, "reason": "not known after all"})
    assert r.json()["language"] is None
    changes = await _changes(console)
    assert changes[0] == ("console:op-scheduler", "console: patient asked on the phone",
                          "es", "en")
    assert changes[-1][2:] == ("en", "-")


async def test_the_patients_page_sets_the_language_from_the_lookup(
        console: ConsoleContext, signin: SignIn) -> None:
    pid = await console.records.add_patient("Dee Lingua", PHONE, actor="test",
                                            reason="fixture")
    s = await signin("scheduler")
    r = await s.client.post("/patients", data={"csrf_token": s.csrf, "phone": PHONE,
                                               "reason": "rebooking"})
    assert 'name="language"' in r.text
    base = {"csrf_token": s.csrf, "patient_id": str(pid), "phone": PHONE,
            "reason": "rebooking"}
    r = await s.client.post("/patients/language", data={**base, "language": "es"})
    assert r.status_code == 200, r.text
    assert "Preferred language: Español." in r.text
    assert '<option value="es" selected>' in r.text
    r = await s.client.post("/patients/language", data={**base, "language": "fr"})
    assert r.status_code == 422
    assert "must be one of" in r.text
    r = await s.client.post("/patients/language", data={**base, "language": "en",
                                                         "reason": " "})
    assert r.status_code == 422
    r = await s.client.post("/patients/language", data={**base, "patient_id": "nope"})
    assert r.status_code == 404
    assert [c[1:] for c in await _changes(console)] == [("console: rebooking", "-", "es")]
