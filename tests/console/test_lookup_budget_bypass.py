"""No form of the patients and consent pages shows the people on a number without
spending a lookup, except the page shown again after a change to one of those people.

Before: the pages shown again after a form (the preferred language, a consent grant or
revoke, a DNC entry, and every refusal of those: an unknown patient id, an unknown
action, a missing reason) looked up the number the form carried without spending the
operator's budget. A form with a made-up patient id and any number was a free lookup, as
many times as the operator liked: the budget bounded only the lookup form itself. Now the
page after a form spends a lookup like the lookup form (429 once spent, nothing shown),
unless the form changed a patient on that number; after a change that happened, an
exhausted budget leaves the people out rather than hide that the change was recorded."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from carrier.console.app import ConsoleContext
from tests.console.conftest import SignedIn

pytestmark = pytest.mark.postgres
SignIn = Callable[..., Awaitable[SignedIn]]
BUDGET = pytest.mark.parametrize(
    "console_settings", [{"phi_lookups_per_hour": 2, "idle_timeout_s": 7200.0}], indirect=True)
NAME, PHONE, OTHER = "Testa Patientson", "+15555550142", "+15555550143"


@BUDGET
async def test_a_refused_language_form_spends_the_budget(
        console: ConsoleContext, signin: SignIn) -> None:
    await console.records.add_patient(NAME, PHONE, actor="test", reason="fixture")
    s = await signin("scheduler")
    shown = []
    for _ in range(3):
        r = await s.client.post("/patients/language", data={
            "csrf_token": s.csrf, "patient_id": "not-a-patient", "phone": PHONE,
            "reason": "walk", "language": "es"})
        shown.append((r.status_code, NAME in r.text))
    assert shown == [(404, True), (404, True), (429, False)]


@BUDGET
async def test_a_refused_consent_form_spends_the_budget(
        console: ConsoleContext, signin: SignIn) -> None:
    await console.records.add_patient(NAME, PHONE, actor="test", reason="fixture")
    c = await signin("compliance")
    shown = []
    for verb in ("grant", "bogus", "revoke"):
        r = await c.client.post(f"/consent/{verb}", data={
            "csrf_token": c.csrf, "phone": PHONE, "patient_id": "", "channel": "voice",
            "evidence_ref": "form 7"})
        shown.append((r.status_code, NAME in r.text))
    assert [seen for _, seen in shown] == [True, True, False]
    assert shown[2][0] == 429


@BUDGET
async def test_a_change_shows_its_own_patient_free_and_others_within_the_budget(
        console: ConsoleContext, signin: SignIn) -> None:
    own = await console.records.add_patient(NAME, PHONE, actor="test", reason="fixture")
    await console.records.add_patient("Sample Otherperson", OTHER, actor="test",
                                      reason="fixture")
    c = await signin("compliance")
    for _ in range(3):  # the patient changed is on the number: free, every time
        r = await c.client.post("/consent/revoke", data={
            "csrf_token": c.csrf, "phone": PHONE, "patient_id": str(own), "channel": "voice",
            "evidence_ref": "patient asked"})
        assert r.status_code == 200
        assert NAME in r.text
    seen = []
    for _ in range(3):  # a change to one patient, shown with another number's people
        r = await c.client.post("/consent/revoke", data={
            "csrf_token": c.csrf, "phone": OTHER, "patient_id": str(own), "channel": "sms",
            "evidence_ref": "patient asked"})
        seen.append((r.status_code, "Consent revoke recorded." in r.text,
                     "Sample Otherperson" in r.text))
    assert seen == [(200, True, True), (200, True, True), (200, True, False)]
    seen = []
    for _ in range(1):  # a DNC entry is recorded; the number's people within the budget
        r = await c.client.post("/consent/dnc", data={"csrf_token": c.csrf, "phone": OTHER})
        seen.append((r.status_code, "Added to the do-not-call list." in r.text,
                     "Sample Otherperson" in r.text))
    assert seen == [(200, True, False)]
    assert (await console.records.dnc_status(OTHER)).org


@BUDGET
async def test_a_dnc_status_by_number_spends_the_budget(
        console: ConsoleContext, signin: SignIn) -> None:
    """The organisation's DNC list is the numbers of people who asked the clinic to stop:
    whether a number is on it says the clinic knows that person. Before, the API's
    status-by-number was neither budgeted nor audited; now it is a lookup by number."""
    c = await signin("compliance")
    codes = [(await c.client.post("/api/v1/dnc/status", headers=c.headers(),
                                  json={"phone": PHONE})).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
