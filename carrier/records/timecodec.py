"""Times as integer microseconds since the Unix epoch, the form spools and chains keep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def from_micros(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)
