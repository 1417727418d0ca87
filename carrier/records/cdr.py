"""Call detail records: one row per call, however it ended (issue 15, "Call records").

``CallDetail`` is what an operator's CDR holds: direction, masked numbers, trunk, start /
answer / end times, the INVITE's final SIP status and the hangup cause, codec, loss and
jitter (ours, and the far end's from its RTCP report), STIR/SHAKEN attestation and
verstat, the answering-machine result, workflow and outcome, transfer target, and the
references of the consent and the compliance gate's decision (the ``dial.decision`` audit
entry id). No PHI: numbers are masked to their last four digits before they are stored.

* ``record_cdr(detail)``: durable when it returns (Postgres, or the outbox spool while the
  database is away, replayed later; a replay of a row already there changes nothing).
* ``search_calls(CdrQuery)``: the console's and the CLI's search, newest first.
* ``cdr_csv(rows)``: the CSV export (numbers masked, as stored).

Hangup causes (``CAUSES``) name who or what ended the call, in the CDR's own words.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from carrier.records.audit import AuditLog
from carrier.records.chain import micros
from carrier.records.outbox import Op
from carrier.records.safe import safe_text
from carrier.records.timecodec import from_micros

CAUSES = frozenset({
    "remote_bye",        # the other party hung up
    "local_bye",         # we hung up (the conversation ended, or the handler finished)
    "length_limit",      # the carrier ended it at the call's length limit
    "transfer",          # handed over (REFER accepted, or bridged to a human)
    "ack_timeout",       # we answered and no ACK came (RFC 3261 Timer H): we sent BYE
    "session_expired",   # RFC 4028
    "transport_error",
    "busy",              # 486 / 600
    "no_answer",         # 408 / 480 / 487, or our ring timeout (we CANCELled)
    "rejected",          # another final failure response to our INVITE
    "trunk_down",        # no trunk could carry it
    "no_media_port",     # we had no free RTP port pair for a dial; nothing was sent
    "too_late",          # the gate's calling window was closing before a trunk slot came
    "gate_refused",      # the compliance gate refused the dial; nothing was sent
    "refused",           # we refused an inbound INVITE (STIR/SHAKEN, SDP, ACL, overload)
    "cancelled",         # the caller cancelled before the call was set up
    "gateway_closed",    # dialled but never run, when the gateway shut down
    "shutdown",          # we hung up: the process was stopping and its drain time ran out
    "stopped",           # the process was stopping before a trunk slot came; nothing was sent
})


def mask_number(number: str | None) -> str:
    """``+15550100124`` -> ``***0124``: enough to find a call, not to identify a person."""
    digits = "".join(c for c in (number or "") if c.isdigit())
    if not digits:
        return "" if not number else "***"
    return "***" + digits[-4:]


@dataclass(frozen=True)
class CallDetail:
    """One call's CDR (no PHI). ``from_number``/``to_number`` are masked on creation."""

    call_id: str
    direction: str  # "inbound" | "outbound"
    started_at: datetime
    ended_at: datetime
    hangup_cause: str
    from_number: str = ""
    to_number: str = ""
    trunk: str | None = None
    answered_at: datetime | None = None
    sip_status: int | None = None
    codec: str | None = None
    packets_lost: int | None = None
    jitter_ms: float | None = None
    remote_loss_pct: float | None = None
    remote_jitter_ms: float | None = None
    attestation: str | None = None
    verstat: str | None = None
    amd: str | None = None
    workflow: str | None = None
    outcome: str | None = None
    transfer_target: str | None = None
    consent_ref: str | None = None
    gate_ref: str | None = None
    attempts: int = 1  # INVITEs this row stands for (a refusal summary's count)

    def __post_init__(self) -> None:
        if self.direction not in ("inbound", "outbound"):
            raise ValueError("direction is inbound or outbound")
        if self.hangup_cause not in CAUSES:
            raise ValueError(f"unknown hangup cause {self.hangup_cause!r}")
        if self.ended_at < self.started_at:
            raise ValueError("a call ends after it starts")
        for name in ("from_number", "to_number"):
            value = getattr(self, name)
            if value and not value.startswith("***"):
                object.__setattr__(self, name, mask_number(value))
        if self.transfer_target:
            object.__setattr__(self, "transfer_target", _mask_target(self.transfer_target))

    @property
    def duration_s(self) -> float:
        """Talk time: from the answer to the end (0 for a call never answered)."""
        if self.answered_at is None:
            return 0.0
        return max(0.0, (self.ended_at - self.answered_at).total_seconds())


def _is_number(text: str) -> bool:
    return text.lstrip("+").isdigit() or text.startswith("***")


def _mask_target(target: str) -> str:
    """``tel:+15550100199`` -> ``tel:***0199``, ``sip:+1555...@host`` -> ``sip:***0199@host``;
    a queue name or a named SIP user stays as it is."""
    scheme, sep, rest = target.partition(":")
    if not sep:
        return mask_number(target) if _is_number(target) else target
    if scheme == "tel":
        return f"tel:{mask_number(rest)}"
    user, at, host = rest.partition("@")
    if at and _is_number(user):
        return f"{scheme}:{mask_number(user)}@{host}"
    return target


_COLUMNS = ("call_id", "direction", "from_masked", "to_masked", "trunk", "started_at",
            "answered_at", "ended_at", "sip_status", "hangup_cause", "codec", "packets_lost",
            "jitter_ms", "remote_loss_pct", "remote_jitter_ms", "attestation", "verstat",
            "amd", "workflow", "outcome", "transfer_target", "consent_ref", "gate_ref",
            "attempts")
_TIMES = ("started_at", "answered_at", "ended_at")
_RENAMED = {"from_masked": "from_number", "to_masked": "to_number"}


def _to_record(detail: CallDetail) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for column in _COLUMNS:
        value = getattr(detail, _RENAMED.get(column, column))
        if column in _TIMES:
            value = None if value is None else micros(value)
        elif isinstance(value, str):
            value = safe_text(value, limit=256)
        out[column] = value
    return out


async def _apply_cdr(conn: asyncpg.Connection, record: Mapping[str, Any]) -> None:
    values = [from_micros(record[c]) if c in _TIMES and record[c] is not None else record[c]
              for c in _COLUMNS]
    marks = ",".join(f"${i}" for i in range(1, len(_COLUMNS) + 1))
    await conn.execute(
        f"INSERT INTO call_details ({','.join(_COLUMNS)}) VALUES ({marks})"  # noqa: S608 - fixed names
        " ON CONFLICT (call_id) DO NOTHING", *values)


OPS = (Op("cdr", _apply_cdr),)


@dataclass(frozen=True)
class CdrQuery:
    """A search of the call records; every criterion is optional, results newest first."""

    since: datetime | None = None
    until: datetime | None = None
    number_suffix: str | None = None  # last digits of either number (up to 4)
    outcome: str | None = None
    sip_status: int | None = None
    hangup_cause: str | None = None
    direction: str | None = None
    limit: int = 100
    offset: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= 10_000 or self.offset < 0:
            raise ValueError("limit is 1..10000 and offset is not negative")
        if self.number_suffix is not None:
            digits = "".join(c for c in self.number_suffix if c.isdigit())
            if not digits:
                raise ValueError("a number suffix is digits")
            object.__setattr__(self, "number_suffix", digits[-4:])
        if self.direction not in (None, "inbound", "outbound"):
            raise ValueError("direction is inbound or outbound")

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        args: list[Any] = []

        def add(sql: str, value: Any) -> None:
            args.append(value)
            clauses.append(sql.replace("?", f"${len(args)}"))

        if self.since is not None:
            add("started_at >= ?", self.since)
        if self.until is not None:
            add("started_at < ?", self.until)
        if self.number_suffix:
            add("(from_masked LIKE '%' || ? OR to_masked LIKE '%' || ?)", self.number_suffix)
        for name in ("outcome", "sip_status", "hangup_cause", "direction"):
            value = getattr(self, name)
            if value is not None:
                add(f"{name} = ?", value)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


_REALS = ("jitter_ms", "remote_loss_pct", "remote_jitter_ms")


def _detail(row: Mapping[str, Any]) -> CallDetail:
    values = {_RENAMED.get(c, c): row[c] for c in _COLUMNS}
    for name in _REALS:  # stored as ``real`` (float4): back to the written 3 decimals
        if values[name] is not None:
            values[name] = round(values[name], 3)
    return CallDetail(**values)


@dataclass(frozen=True)
class GatedCall:
    """A call the compliance gate let be dialled: its CDR's facts and the outreach its
    ``dial.decision`` audit entry names (no PHI)."""

    call_id: str
    started_at: datetime
    outcome: str | None
    amd: str | None
    hangup_cause: str
    outreach_id: int


# A gate reference is the dial.decision entry's uuid; anything else (a test double's
# name) is no entry, and must not break the cast.
_GATED = """
SELECT c.call_id, c.started_at, c.outcome, c.amd, c.hangup_cause, a.record_id
FROM call_details c
JOIN audit_log a ON a.entry_id = (CASE WHEN c.gate_ref ~* '^[0-9a-f]{8}-[0-9a-f-]{27}$'
                                       THEN c.gate_ref::uuid END)
WHERE c.direction = 'outbound' AND c.hangup_cause NOT IN ('gate_refused', 'no_media_port')
  AND a.action = 'dial.decision' AND a.record_type = 'outreach'
  AND c.started_at >= $1 AND c.started_at < $2
"""


class CdrStore(AuditLog):
    async def record_cdr(self, detail: CallDetail) -> None:
        """Store one call's CDR; durable when it returns (spooled while Postgres is away)."""
        await self.outbox.put("cdr", _to_record(detail))

    async def search_calls(self, q: CdrQuery) -> list[CallDetail]:
        where, args = q.where()
        rows = await self.pool.fetch(
            f"SELECT * FROM call_details{where} ORDER BY started_at DESC, call_id"  # noqa: S608 - built from fixed clauses
            f" LIMIT {int(q.limit)} OFFSET {int(q.offset)}", *args)
        return [_detail(r) for r in rows]

    # ---- read-only counts (the console's figures; no PHI, nothing decrypted) ----------

    async def answered_calls_by_week(self, since: datetime, until: datetime,
                                     transfer_outcomes: Sequence[str]) -> list[Any]:
        """``(week, n, transfers)`` rows: answered calls started per UTC week, and how many
        of them tried a transfer (ended as one, named a target, or one of
        ``transfer_outcomes``)."""
        return list(await self.pool.fetch(
            "SELECT date_trunc('week', started_at AT TIME ZONE 'UTC')::date AS week,"
            " count(*) AS n, count(*) FILTER (WHERE hangup_cause = 'transfer'"
            " OR transfer_target IS NOT NULL OR outcome = ANY($3::text[])) AS transfers"
            " FROM call_details WHERE answered_at IS NOT NULL AND started_at >= $1"
            " AND started_at < $2 GROUP BY 1", since, until, list(transfer_outcomes),
            timeout=self.read_timeout))

    async def answered_outcomes_by_workflow(self, since: datetime, until: datetime
                                            ) -> list[Any]:
        """``(workflow, outcome, n)`` rows of the answered calls started in the range."""
        return list(await self.pool.fetch(
            "SELECT workflow, outcome, count(*) AS n FROM call_details"
            " WHERE answered_at IS NOT NULL AND started_at >= $1 AND started_at < $2"
            " GROUP BY 1, 2", since, until, timeout=self.read_timeout))

    async def gated_calls(self, since: datetime, until: datetime) -> list[GatedCall]:
        """The outbound calls (dialled, answered or not; never a gate refusal nor a dial
        with no media port: nothing was sent) started in the range whose gate reference is
        a ``dial.decision`` entry on an outreach."""
        rows = await self.pool.fetch(_GATED, since, until, timeout=self.read_timeout)
        return [GatedCall(r["call_id"], r["started_at"], r["outcome"], r["amd"],
                          r["hangup_cause"], int(r["record_id"]))
                for r in rows if r["record_id"].isdigit()]

    async def call_detail(self, call_id: str) -> CallDetail | None:
        row = await self.pool.fetchrow("SELECT * FROM call_details WHERE call_id = $1",
                                       safe_text(call_id))
        return None if row is None else _detail(row)


CSV_FIELDS = ("call_id", "direction", "from_number", "to_number", "trunk", "started_at",
              "answered_at", "ended_at", "duration_s", "sip_status", "hangup_cause", "codec",
              "packets_lost", "jitter_ms", "remote_loss_pct", "remote_jitter_ms",
              "attestation", "verstat", "amd", "workflow", "outcome", "transfer_target",
              "consent_ref", "gate_ref", "attempts")


def as_row(detail: CallDetail) -> dict[str, Any]:
    """A JSON-ready dict of one CDR (times ISO 8601, numbers masked)."""
    out = dataclasses.asdict(detail)
    for name in _TIMES:
        value = out[name]
        out[name] = None if value is None else value.isoformat()
    out["duration_s"] = round(detail.duration_s, 3)
    return out


def cdr_csv(rows: Iterable[CallDetail]) -> str:
    """The CSV export: a header line, then one line per call (numbers masked)."""
    buf = io.StringIO()
    # RFC 4180's CRLF: the writer quotes a cell holding any character of its line end, and
    # with "\n" alone a carriage return in a cell went out bare, ending the row there.
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\r\n")
    writer.writeheader()
    for detail in rows:
        row = as_row(detail)
        writer.writerow({k: "" if row[k] is None else _cell(row[k]) for k in CSV_FIELDS})
    return buf.getvalue()


_FORMULA = frozenset("=+-@|")


def _cell(value: Any) -> Any:
    """No cell starts a spreadsheet formula (CSV injection: OWASP's = + - @ tab CR; DDE's |),
    judged as a spreadsheet reads the cell: its width forms folded (NFKC: a full-width
    = is =) and what comes before the first visible character (spaces, line breaks,
    controls, invisible format characters) passed over. Such a cell gets a leading '."""
    if not isinstance(value, str):
        return value
    shown = unicodedata.normalize("NFKC", value)
    first = next((ch for ch in shown if not (ch.isspace() or unicodedata.category(ch) in (
        "Cc", "Cf"))), "")
    quoted = (first and first in _FORMULA) or value[:1] in ("\t", "\r")  # as before, too
    return "'" + value if quoted else value
