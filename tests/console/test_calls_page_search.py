"""The call records page over the CDR search to come (``Records.search_calls(CdrQuery)``,
helper es2): the page builds the query from its filters by the query's own field names,
shows the CDR's masked numbers and talk time as they are, and says which filters it could
not apply. The query and rows here have the CDR's shape; the real ones replace them."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from carrier.console.pages import calls
from carrier.console.pages.calls import CallFilter

T0 = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)


@dataclasses.dataclass(frozen=True)
class CdrQuery:
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    number_suffix: str | None = None
    outcome: str | None = None
    sip_status: int | None = None
    hangup_cause: str | None = None
    direction: str | None = None
    limit: int = 100


@dataclasses.dataclass(frozen=True)
class Detail:
    call_id: str
    direction: str
    from_number: str
    to_number: str
    started_at: dt.datetime
    answered_at: dt.datetime | None
    ended_at: dt.datetime
    sip_status: int
    hangup_cause: str

    @property
    def duration_s(self) -> float:
        return 0.0 if self.answered_at is None else (self.ended_at - self.answered_at).seconds


class Cdrs:
    def __init__(self) -> None:
        self.queries: list[Any] = []

    async def search_calls(self, q: CdrQuery) -> list[Detail]:
        self.queries.append(q)
        return [Detail("c1", "inbound", "***0199", "+15550100100", T0,
                       T0 + dt.timedelta(seconds=5), T0 + dt.timedelta(seconds=65), 200,
                       "remote_bye")]


async def test_the_page_searches_the_cdrs_by_the_query_s_own_fields(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(calls, "_cdr_query", lambda: CdrQuery)
    cdrs = Cdrs()
    f = CallFilter(dt.date(2026, 3, 1), dt.date(2026, 3, 2), number="+1 555 010 0199",
                   sip_status="486", hangup_cause="remote_bye", outcome="", direction="inbound")
    rows, unused = await calls._search(cdrs, f, "console:sup")
    (q,) = cdrs.queries
    assert q == CdrQuery(since=T0.replace(day=1, hour=0), until=T0.replace(day=3, hour=0),
                         number_suffix="0199", sip_status=486, hangup_cause="remote_bye",
                         direction="inbound", limit=calls.MAX_ROWS)
    assert unused == []
    (row,) = rows
    assert row["from_masked"] == "***0199"  # stored masked: shown as it is
    assert row["to_masked"] == "+1******0100"  # a clear number is masked here
    assert row["duration_s"] == 60.0  # talk time, from the answer
    assert calls._columns(rows)[:4] == ["call_id", "direction", "started_at", "answered_at"]


async def test_filters_the_query_cannot_take_are_named(monkeypatch: pytest.MonkeyPatch
                                                       ) -> None:
    @dataclasses.dataclass(frozen=True)
    class Narrow:
        since: dt.datetime | None = None
        until: dt.datetime | None = None

    monkeypatch.setattr(calls, "_cdr_query", lambda: Narrow)
    cdrs = Cdrs()
    f = CallFilter(dt.date(2026, 3, 1), dt.date(2026, 3, 2), number="0199", sip_status="486")
    _, unused = await calls._search(cdrs, f, "console:sup")
    assert unused == ["sip_status", "number"]
