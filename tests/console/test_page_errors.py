"""A form or a page link the server refuses answers with a page, not the API's problem
document.

Before: a form field over its server-side limit (a phone number pasted with words around
it, a long evidence reference, a staff task note pasted far past its box), a missing
field, a date that is no date, a page's own 422 (a date out of range on /calls) or an
unknown page all answered a browser with ``application/problem+json``: the operator saw
a JSON document on a white page, no navigation, no way back but the browser's, and
nothing saying whether anything changed. Now pages (everything outside ``/api/``,
``/static/``, ``/health``, ``/metrics``) answer with the console's page: the same status,
what was wrong (the field and its rule, never the value sent), that nothing was changed,
and a link back to the page the form belongs to. The API keeps its problem documents.

Over real HTTPS on 127.0.0.1 (uvicorn), the real database, signed in by password + TOTP.
"""

from __future__ import annotations

import pytest

from carrier.console.app import ConsoleContext
from tests.console import test_bad_input
from tests.console.test_bad_input import Operator

pytestmark = pytest.mark.postgres
base, operator = test_bad_input.base, test_bad_input.operator  # the fixtures

HTML = "text/html; charset=utf-8"


def _is_the_error_page(r, back: str, *words: str) -> None:  # type: ignore[no-untyped-def]
    assert r.headers["content-type"] == HTML, (r.status_code, r.text[:200])
    assert 'id="page-problem"' in r.text
    assert f'href="{back}"' in r.text
    assert 'id="logout"' in r.text  # the console's page, signed in, with its navigation
    for word in words:
        assert word in r.text, word


async def test_form_fields_the_server_refuses_answer_with_a_page(
        console: ConsoleContext, operator: Operator) -> None:
    sched, s = await operator("scheduler")
    comp, c = await operator("compliance")
    sup, u = await operator("supervisor")
    pasted = "+1 (555) 010-0123 mobile, call after 5"  # 38 characters
    r = await sched.post("/patients", data={"csrf_token": s, "phone": pasted, "reason": "x"})
    assert r.status_code == 422
    _is_the_error_page(r, "/patients", "phone", "at most 32 characters", "Nothing was changed")
    assert pasted not in r.text  # what was sent is not echoed
    r = await comp.post("/consent/grant", data={
        "csrf_token": c, "phone": "+15555550123", "patient_id": "x", "channel": "sms",
        "kind": "tcpa_express", "evidence_ref": "e" * 201})
    assert r.status_code == 422
    _is_the_error_page(r, "/consent", "evidence_ref", "at most 200 characters")
    r = await comp.post("/consent", data={"csrf_token": c})
    assert r.status_code == 422
    _is_the_error_page(r, "/consent", "phone", "required")
    r = await sup.post("/tasks/1/done", data={"csrf_token": u, "note": "n" * 2001})
    assert r.status_code == 422
    _is_the_error_page(r, "/tasks", "note", "at most 2000 characters")
    r = await comp.post("/audit/export", data={"csrf_token": c, "start": "soon", "end": ""})
    assert r.status_code == 422
    _is_the_error_page(r, "/audit", "start")
    await console.records.drain_spool()
    assert await console.records.pool.fetchval("SELECT count(*) FROM consent_ledger") == 0


async def test_a_page_s_own_refusal_and_an_unknown_page_answer_with_a_page(
        operator: Operator) -> None:
    sup, _ = await operator("supervisor")
    r = await sup.get("/calls", params={"start": "0001-01-01"})
    assert r.status_code == 422
    _is_the_error_page(r, "/calls", "dates are YYYY-MM-DD")
    r = await sup.get("/no-such-page")
    assert r.status_code == 404
    _is_the_error_page(r, "/")


async def test_the_api_keeps_its_problem_documents(operator: Operator) -> None:
    sched, s = await operator("scheduler")
    r = await sched.post("/api/v1/patients/search", json={"phone": "+15555550123"},
                         headers={"X-CSRF-Token": s})
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    r = await sched.get("/api/v1/no-such-route")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"


async def test_the_forms_hold_their_fields_to_the_server_s_limits(operator: Operator) -> None:
    """The browser stops at the limit the server checks (before: no maxlength on the
    phone and evidence fields, so the first a careless operator heard was the refusal)."""
    sched, _ = await operator("scheduler")
    comp, _ = await operator("compliance")
    page = (await sched.get("/patients")).text
    assert 'name="phone" value="" maxlength="32"' in page
    page = (await comp.post("/consent", data={"csrf_token": (await comp.get(
        "/api/v1/session")).json()["csrf_token"], "phone": "+15555550123"})).text
    assert 'maxlength="32"' in page
