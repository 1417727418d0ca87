"""The call records page's search over the CDRs (``Records.search_calls(CdrQuery)``): the
page's filters become the query, and a CDR's stored-masked numbers and talk time are shown
as they are."""

from __future__ import annotations

import datetime as dt

from carrier.console.pages import calls
from carrier.console.pages.calls import CallFilter
from carrier.records.cdr import CallDetail, CdrQuery

T0 = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)


def test_the_filters_become_the_cdr_query() -> None:
    f = CallFilter(dt.date(2026, 3, 1), dt.date(2026, 3, 2), number="+1 555 010 0199",
                   sip_status="486", hangup_cause="remote_bye", outcome="", direction="inbound")
    assert calls._query(f) == CdrQuery(
        since=T0.replace(day=1, hour=0), until=T0.replace(day=3, hour=0),
        number_suffix="0199", sip_status=486, hangup_cause="remote_bye",
        direction="inbound", limit=calls.MAX_ROWS)
    odd = CallFilter(dt.date(2026, 3, 1), dt.date(2026, 3, 2), number="abc",
                     sip_status="4x", direction="sideways")
    assert calls._query(odd) == CdrQuery(since=T0.replace(day=1, hour=0),
                                         until=T0.replace(day=3, hour=0),
                                         limit=calls.MAX_ROWS)


def test_a_cdr_row_shows_masked_numbers_and_talk_time() -> None:
    d = CallDetail("c1", "inbound", T0, T0 + dt.timedelta(seconds=65), "remote_bye",
                   from_number="+15550100199", to_number="+15550100100",
                   answered_at=T0 + dt.timedelta(seconds=5), sip_status=200)
    row = calls._row(d)
    assert (row["from_masked"], row["to_masked"]) == ("***0199", "***0100")
    assert "from_number" not in row
    assert row["duration_s"] == 60.0  # talk time, from the answer
    assert calls._columns([row])[:4] == ["call_id", "direction", "started_at", "answered_at"]
