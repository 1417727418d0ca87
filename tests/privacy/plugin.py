"""A pytest plugin that runs any test file under the PHI leak detector (a hunting tool):

    PHI_SCAN_OUT=/tmp/leaks.jsonl python -m pytest -p tests.privacy.plugin tests/sms/...

Every logger is at DEBUG and every record is searched; after each test its ``tmp_path``,
its database (``db_url``), the metrics exposition and the captured stdout/stderr are
searched too. Each finding is one JSON line in ``PHI_SCAN_OUT``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.privacy.phi_scan import Leak, LogTap, scan, scan_files, scan_records, scan_tables

_TAP = LogTap()


def _write(nodeid: str, leaks: list[Leak]) -> None:
    out = os.environ.get("PHI_SCAN_OUT")
    if not out or not leaks:
        return
    with open(out, "a", encoding="utf-8") as f:
        for leak in leaks:
            f.write(json.dumps({"test": nodeid, **dataclasses.asdict(leak)}) + "\n")


# Test inputs written into tmp_path by the tests themselves (the clinic's synthetic data,
# the HL7 batches a test peer sends): not written by the product.
_INPUTS = ("config/", "clinic.yaml", "batch-")
_PENDING: list[Leak] = []


def _patch_responses() -> None:
    """HTTP error bodies (Starlette: console and web chat) and SIP responses' reason
    phrases and Warning/Reason headers (the From/To a response must echo are not searched)."""
    from starlette.responses import Response  # noqa: PLC0415

    from carrier.sip import message  # noqa: PLC0415

    http_init = Response.__init__

    def init(self: Response, content: Any = None, status_code: int = 200,
             *args: Any, **kwargs: Any) -> None:
        http_init(self, content, status_code, *args, **kwargs)
        if status_code >= 400:
            _PENDING.extend(scan("http error body", str(status_code),
                                 bytes(self.body).decode("utf-8", "replace")))

    Response.__init__ = init  # type: ignore[method-assign]
    sip_serialize = message.Response.serialize

    def serialize(self: message.Response) -> bytes:
        text = " ".join([self.start_line(), *self.get_all("Warning"), *self.get_all("Reason")])
        _PENDING.extend(scan("sip response", str(self.status), text))
        return sip_serialize(self)

    message.Response.serialize = serialize  # type: ignore[method-assign]


def pytest_configure(config: pytest.Config) -> None:
    _TAP.install()
    _patch_responses()


def pytest_unconfigure(config: pytest.Config) -> None:
    _TAP.remove()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    funcargs: dict[str, Any] = getattr(item, "funcargs", {})
    leaks: list[Leak] = []
    tmp = funcargs.get("tmp_path")
    if isinstance(tmp, Path):
        leaks += [x for x in scan_files(tmp) if not any(i in x.source for i in _INPUTS)]
    db = funcargs.get("db_url")
    if isinstance(db, str):
        try:
            leaks += asyncio.run(scan_tables(db))
        except (OSError, asyncpg.PostgresError) as exc:  # the test dropped its database
            leaks.append(Leak("scan error", "tables", type(exc).__name__, str(exc)[:200]))
    from carrier.metrics import exposition  # noqa: PLC0415
    leaks += scan("metrics", "exposition", exposition().decode())
    _write(item.nodeid, leaks)
    yield
    _write(item.nodeid, scan_records(_TAP.take(), unwritten=True))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    leaks: list[Leak] = []
    for name, text in report.sections:
        if "stdout" in name or "stderr" in name:
            leaks += scan("captured output", name, text)
    leaks += scan_records(_TAP.take(), unwritten=True)
    leaks += _PENDING
    _PENDING.clear()
    _write(item.nodeid, leaks)
