"""``logging.level: DEBUG`` opens the stack's own loggers, never a library's payload lines.

Piper logs every sentence it speaks at DEBUG (``text=...``: the patient's name, the
appointment); aioice logs every ICE candidate pair at INFO (the web caller's IP address).
Before, ``logs.setup`` set the root logger to the operator's level, so both reached the log.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import io
import json
import logging
from typing import Any

import pytest

from carrier import logs
from tests.privacy import phi_scan
from tests.privacy.phi_scan import find

debug_log = phi_scan.debug_log  # the fixture


@pytest.mark.models
async def test_what_piper_speaks_is_not_logged_at_debug(debug_log: io.StringIO,
                                                        speech_models: Any) -> None:
    tts = await speech_models.piper(None, None)
    await tts.synthesize("Am I speaking with Testa Patientson, born March 5, 1980?",
                         persist=False)
    logging.getLogger("agent.voice").debug("prompt played")
    text = debug_log.getvalue()
    assert find(text) == []
    assert "prompt played" in text  # the stack's own debug lines still come through


def test_a_library_info_line_is_not_logged(debug_log: io.StringIO) -> None:
    # aioice's own line for a candidate pair check (aioice.ice.Connection.__log_info)
    logging.getLogger("aioice.ice").info(
        "%s Check %s %s -> %s", "Connection(0)",
        "CandidatePair(('10.0.0.2', 40000) -> ('203.0.113.9', 51000))", "FROZEN", "WAITING")
    logging.getLogger("aioice.ice").warning("a library warning")
    logging.getLogger("carrier.gateway").info("call up")
    text = debug_log.getvalue()
    assert "CandidatePair" not in text  # (the number mask would only mangle the address)
    assert "a library warning" in text
    assert "call up" in text


def test_the_operator_level_still_applies_to_the_stack() -> None:
    root = logging.getLogger()
    saved = list(root.handlers), root.level, logging.getLogger("carrier").level
    out = io.StringIO()
    logs.setup("text", "WARNING", stream=out)
    try:
        logging.getLogger("carrier.gateway").info("not wanted")
        logging.getLogger("carrier.gateway").warning("wanted")
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in saved[0]:
            root.addHandler(h)
        root.setLevel(saved[1])
        logging.getLogger("carrier").setLevel(saved[2])
    assert "wanted" in out.getvalue()
    assert "not wanted" not in out.getvalue()


def _drop_a_failed_task_and_fail_a_callback(loop: asyncio.AbstractEventLoop) -> None:
    async def parse(dob: str) -> None:
        dt.date.fromisoformat(dob)  # ValueError: Invalid isoformat string: '03/05/1980'

    def greet(name: str) -> None:
        raise KeyError(name)

    async def main() -> None:
        task = asyncio.get_running_loop().create_task(parse("03/05/1980"))
        await asyncio.wait([task])
        del task  # never retrieved: asyncio reports it when the task is collected
        gc.collect()
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        loop.call_soon(greet, "Testa Patientson")
        loop.call_soon(done.set_result, None)  # callbacks run in order: greet has failed
        await done

    loop.run_until_complete(main())


def test_the_loop_reports_an_uncaught_error_by_its_class_only(debug_log: io.StringIO) -> None:
    """asyncio's own report puts repr() of the failed task (the exception's text) or of
    the callback with its arguments into the message, past the formatters' class-only
    rule; ``serve`` routes the loop's reports through ``logs.loop_error`` instead."""
    loop = asyncio.new_event_loop()
    try:
        logs.guard_loop(loop)
        _drop_a_failed_task_and_fail_a_callback(loop)
    finally:
        loop.close()
    text = debug_log.getvalue()
    assert find(text) == []
    lines = [json.loads(line) for line in text.splitlines()]
    said = {(d["logger"], d["message"]) for d in lines if d["level"] == "error"}
    assert ("carrier.loop", "Task exception was never retrieved (ValueError)") in said
    assert any(logger == "carrier.loop" and m.startswith("Exception in callback")
               and m.endswith("greet (KeyError)") for logger, m in said), said


def test_without_the_guard_asyncio_quotes_the_values(debug_log: io.StringIO) -> None:
    """The mechanism the guard closes (asyncio's default handler), kept as a control."""
    loop = asyncio.new_event_loop()
    try:
        _drop_a_failed_task_and_fail_a_callback(loop)
    finally:
        loop.close()
    labels = {label for label, _ in find(debug_log.getvalue())}
    assert labels == {"pat-1001 dob", "pat-1001 name"}


def test_the_hosted_application_logs_at_the_operator_level() -> None:
    """``agent.application`` may name any package (the carrier hosts applications): its
    loggers follow ``logging.level`` as the stack's own do."""
    root = logging.getLogger()
    saved = list(root.handlers), root.level, logging.getLogger("clinicapp").level
    out = io.StringIO()
    logs.setup("json", "INFO", stream=out, application="clinicapp.voice:application")
    try:
        logging.getLogger("clinicapp.voice").info("call answered")
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in saved[0]:
            root.addHandler(h)
        root.setLevel(saved[1])
        logging.getLogger("clinicapp").setLevel(saved[2])
    assert "call answered" in out.getvalue()
