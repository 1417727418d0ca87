"""Search the call records (table ``call_records``) for the console: by time, direction,
outcome, workflow and patient; newest first, one page at a time.

Reads only what ``call_records`` holds today (no numbers: a number is searched through the
patients it belongs to). The call detail records of issue 15 (trunk, SIP status, hangup
cause, codec, RTCP loss and jitter...) replace this with ``Records.search_calls``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from carrier.records.audit import AuditLog


@dataclass(frozen=True)
class CallSearch:
    start: datetime | None = None
    end: datetime | None = None
    direction: str | None = None
    outcome: str | None = None
    workflow: str | None = None
    patient_ids: Sequence[str] | None = None
    """Only calls with one of these patients (an empty list finds nothing)."""
    limit: int = 200
    offset: int = 0


@dataclass(frozen=True)
class CallRow:
    call_id: str
    direction: str
    started_at: datetime
    ended_at: datetime | None
    workflow: str | None
    outcome: str | None
    stir_status: str | None
    verstat: str | None
    amd: str | None
    origid: str | None
    patient_id: str | None


async def search_call_records(records: AuditLog, q: CallSearch) -> list[CallRow]:
    where: list[str] = []
    args: list[Any] = []

    def add(clause: str, value: Any) -> None:
        args.append(value)
        where.append(clause.format(f"${len(args)}"))

    if q.start is not None:
        add("started_at >= {}", q.start)
    if q.end is not None:
        add("started_at < {}", q.end)
    for name in ("direction", "outcome", "workflow"):
        value = getattr(q, name)
        if value is not None:
            add(f"{name} = {{}}", value)
    if q.patient_ids is not None:
        add("patient_id = ANY({}::text[])", list(q.patient_ids))
    args += [q.limit, q.offset]
    sql = ("SELECT call_id, direction, started_at, ended_at, workflow, outcome, stir_status,"  # noqa: S608 - only placeholders are joined in
           " verstat, amd, origid, patient_id FROM call_records"
           f"{' WHERE ' + ' AND '.join(where) if where else ''}"
           f" ORDER BY started_at DESC, call_id LIMIT ${len(args) - 1} OFFSET ${len(args)}")
    rows = await records._read(lambda conn: conn.fetch(sql, *args,
                                                        timeout=records.read_timeout))
    return [CallRow(**dict(r)) for r in rows]
