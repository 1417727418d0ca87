"""A language the clinic does not call in, as the EHR says it (HL7 PID-15 "VIE", FHIR
"vi", the CSV's "vi"): kept for staff, the calls fall back to English, and the console
shows whose word the preferred language is and that an interpreter may be needed.
Before: the feeds dropped such a language (the CSV refused the whole row, so the
patient's appointment was not imported), and nothing told staff."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

import pytest

from carrier.console.app import ConsoleContext
from carrier.feeds.csv_import import validate_schedule_csv
from carrier.feeds.hl7_in import parse_message
from carrier.feeds.store import FeedItem, FeedStore, PatientIn
from tests.console.conftest import SignedIn
from tests.feeds.hl7_samples import adt
from tests.feeds.test_patient_language_feeds import with_pid15

pytestmark = pytest.mark.postgres
SignIn = Callable[..., Awaitable[SignedIn]]
PHONE = "+15555550141"


def test_the_feeds_keep_a_language_the_clinic_does_not_call_in() -> None:
    now = dt.datetime.now(dt.UTC)
    hl7 = parse_message(with_pid15(adt("A08", "V1", sent=now), "VIE^Vietnamese^HL70296"),
                        tz=dt.UTC)
    assert hl7.patient.language == "vi"
    rows, errors = validate_schedule_csv(
        "mrn,last_name,phone,appointment_id,start,language\n"
        "M1,Nguyen,(555) 555-0141,A1,2030-01-07T09:00,vi\n", today=dt.date(2029, 1, 1))
    assert errors == []
    assert rows[0].patient.language == "vi"


async def test_staff_see_the_ehr_s_language_and_the_interpreter_need(
        console: ConsoleContext, signin: SignIn) -> None:
    store = FeedStore(console.records, None)
    now = dt.datetime.now(dt.UTC)

    def item(msg: str, language: str | None, hours: int) -> FeedItem:
        return FeedItem("fhir", msg, "Patient", PatientIn(
            "CLINIC", "M9", "Testa Nguyen", PHONE, None, None, language), None,
            sent_at=now - dt.timedelta(hours=hours))

    await store.apply(item("v1", "es", 3), now)
    pid = await console.records.pool.fetchval("SELECT patient_id FROM feed_patients")
    await store.apply(item("v2", "vi", 2), now)  # the EHR now says Vietnamese
    s = await signin("scheduler")
    got = (await s.client.get(f"/api/v1/patients/{pid}", params={"reason": "check"})).json()
    assert (got["language"], got["language_source"], got["ehr_language"],
            got["interpreter_needed"]) == (None, "feed", "vi", True)  # calls: English
    r = await s.client.post("/patients", data={"csrf_token": s.csrf, "phone": PHONE,
                                               "reason": "rebooking"})
    assert "EHR: vi" in r.text
    assert "interpreter" in r.text
    # Staff set Spanish (the patient speaks it too): kept over the unchanged "vi".
    r = await s.client.put(f"/api/v1/patients/{pid}/language", headers=s.headers(),
                           json={"language": "es", "reason": "patient asked"})
    assert r.status_code == 200, r.text
    await store.apply(item("v3", "vi", 1), now)
    got = (await s.client.get(f"/api/v1/patients/{pid}", params={"reason": "check"})).json()
    assert (got["language"], got["language_source"], got["ehr_language"]) == (
        "es", "staff", "vi")
