"""A full phone number typed into the call records filter does not stay in the page's URL.

The filter is a GET form (a search is a link an operator can keep), and CDRs keep a
number's last four digits only. Before, a full number typed in went into the URL as
typed: the browser's history, the CSV link on the page, and any proxy's log kept the
patient's whole number, though only its last four digits were used. Now such a request
is answered with a redirect to the same search by the last four digits, before anything
is looked up; the page and its CSV link carry those four only."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from carrier.console.app import ConsoleContext
from tests.console.conftest import SignedIn

pytestmark = pytest.mark.postgres
SignIn = Callable[..., Awaitable[SignedIn]]


@pytest.mark.parametrize("path", ["/calls", "/calls.csv"])
async def test_a_full_number_in_the_filter_is_cut_to_its_last_four_digits(
        console: ConsoleContext, signin: SignIn, path: str) -> None:
    s = await signin("supervisor")
    r = await s.client.get(path, params={"number": "+1 (555) 010-0199", "outcome": "confirmed"})
    assert r.status_code == 303
    assert r.headers["location"] == f"{path}?number=0199&outcome=confirmed"
    assert await console.records.pool.fetchval(
        "SELECT count(*) FROM console_phi_lookups") == 0  # nothing looked up yet
    page = await s.client.get(r.headers["location"])
    assert page.status_code == 200
    assert "5550100199" not in page.text
    assert "010-0199" not in page.text
