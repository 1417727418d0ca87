"""State public holidays from the `holidays` package (pure computation, cached)."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

import holidays

from carrier.dialer.rules import CallingRules


class HolidayCalendar(Protocol):
    def holiday_name(self, state: str, day: dt.date) -> str | None:
        """The name of the public holiday on `day` in `state`, or None."""


class PackageHolidays:
    """Holidays of `rules.holiday_country` with the state as subdivision."""

    def __init__(self, rules: CallingRules) -> None:
        self._country = rules.holiday_country
        self._categories = rules.holiday_categories
        self._cache: dict[tuple[str, int], holidays.HolidayBase] = {}
        self._subdivisions = frozenset(holidays.country_holidays(self._country).subdivisions)

    def _table(self, state: str, year: int) -> holidays.HolidayBase:
        key = (state, year)
        table = self._cache.get(key)
        if table is None:
            subdiv = state if state in self._subdivisions else None
            table = holidays.country_holidays(
                self._country, subdiv=subdiv, years=year, categories=self._categories
            )
            self._cache[key] = table
        return table

    def holiday_name(self, state: str, day: dt.date) -> str | None:
        name = self._table(state, day.year).get(day)
        return None if name is None else str(name)


class FixedHolidays:
    """A given set of (state, date) holidays: for tests and operator overrides."""

    def __init__(self, days: dict[tuple[str, dt.date], str]) -> None:
        self._days = dict(days)

    def holiday_name(self, state: str, day: dt.date) -> str | None:
        return self._days.get((state, day))
