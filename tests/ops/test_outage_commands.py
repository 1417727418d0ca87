"""A records command whose database goes away half-way (tests/ops/db_cut.py: a real
PostgreSQL behind a hop that goes away at the ledger write), run as an operator does.

* Its writes go to its spool and land with the next command; it says so in one line, and
  its warnings come out as ``serve``'s do (one JSON object a line, no PHI). Before, every
  command but ``serve`` had no log setup: the writer's warning went out through Python's
  fallback handler as bare text.
* On a full disk too (the process's file-size limit: the kernel's own refusal, as a full
  disk refuses), it ends with one line saying what was not recorded (counts and kinds,
  never content) and where, exit 74. Before, a traceback (``SpoolUnwritable``).
"""

from __future__ import annotations

import asyncio
import json
import resource
import subprocess
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from carrier.records.store import Records
from tests.ops.conftest import Operator
from tests.ops.db_cut import DatabaseCut
from tests.ops.live import Done, acarrier, carrier_command, one_line_error
from tests.privacy.phi_scan import find

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]


def _grant(pid: Any) -> tuple[str, ...]:
    return ("consent", "grant", str(pid), "--channel", "voice", "--kind", "tcpa_express",
            "--source", "web_form", "--evidence", "form-1")


def _log_lines(err: str) -> list[dict[str, Any]]:
    """Every stderr line but the last (the command's one line), each one JSON record."""
    lines = err.strip().splitlines()[:-1]
    return [json.loads(line) for line in lines]


async def _history(operator: Operator, pid: Any) -> list[dict[str, Any]]:
    done = await acarrier("consent", "show", str(pid), "--json", config=operator.cfg,
                          cwd=operator.cwd, env=operator.env)
    assert done.code == 0, done.err
    history: list[dict[str, Any]] = json.loads(done.out)["history"]
    return history


async def test_a_grant_in_an_outage_is_kept_and_its_warning_is_logged_as_serve_logs(
    operator: Operator, records: Records, db_url: str
) -> None:
    pid = await records.add_patient("Testa Patientson", "+15555550142", actor="test",
                                    reason="test")
    async with DatabaseCut(db_url, b"chain_heads") as cut:
        done = await acarrier(*_grant(pid), "--database-url", cut.url, config=operator.cfg,
                              cwd=operator.cwd, env=operator.env)
        assert cut.cut.is_set()
    line = one_line_error(Done(done.code, done.out, done.err.strip().splitlines()[-1]))
    assert "kept in" in line, done.err
    logged = _log_lines(done.err)
    assert logged, done.err
    assert all(r["time"] and r["level"] and r["logger"] for r in logged), done.err
    warned = [r for r in logged if r["level"] == "warning"
              and r["logger"] == "carrier.records.appender"]
    assert any("spooling" in r["message"] for r in warned), done.err
    assert find(done.err + done.out) == [], done.err
    # The next command, the database back, replays it: the grant is recorded once.
    assert [e["event"] for e in await _history(operator, pid)] == ["grant"]


# Bytes a file may still grow to: the few that tempfile's probe of a temporary folder
# writes at import fit, a spooled record does not.
ROOM = 16


def _run_on_a_full_disk(operator: Operator, argv: tuple[str, ...]) -> Done:
    def no_room() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (ROOM, resource.RLIM_INFINITY))

    done = subprocess.run([*carrier_command(), "--config-dir", str(operator.cfg), *argv],
                          cwd=operator.cwd, env=operator.env, capture_output=True, text=True,
                          timeout=240, check=False, preexec_fn=no_room)
    return Done(done.returncode, done.stdout, done.stderr)


async def test_a_full_disk_in_an_outage_is_one_line_naming_what_was_not_recorded(
    operator: Operator, records: Records, db_url: str
) -> None:
    pid = await records.add_patient("Testa Patientson", "+15555550142", actor="test",
                                    reason="test")
    async with DatabaseCut(db_url, b"chain_heads") as cut:
        done = await asyncio.to_thread(_run_on_a_full_disk, operator,
                                       (*_grant(pid), "--database-url", cut.url))
        assert cut.cut.is_set(), done.err
    assert "Traceback" not in done.err, done.err
    assert done.code == 74, done.err
    line = done.err.strip().splitlines()[-1]
    assert line.startswith("carrier consent: not recorded: 1 consent entry:"), done.err
    assert str(Path(operator.cfg).parent / "var" / "spool") in line, line
    assert "recorded " not in done.out  # nothing reported as done
    assert find(done.err + done.out) == [], done.err
    assert all(r["logger"] for r in _log_lines(done.err))  # the formatted log lines
    # Nothing half-written was left to replay, and nothing was recorded.
    assert await _history(operator, pid) == []


async def test_a_corrupt_spool_a_command_takes_over_is_kept_for_the_operator(
    operator: Operator
) -> None:
    # A command that died left its spool; its first line is damaged (a disk fault), so the
    # next command sets it aside rather than replay it blindly. Before, that command then
    # removed its whole spool folder as "drained": the set-aside rows were gone unseen.
    left = Path(operator.cfg).parent / "var" / "spool" / "cli-999999999"
    left.mkdir(parents=True)
    damaged = b"0" * 64 + b' {"entry_id":"damaged"}\n' + b"1" * 64 + b' {"entry_id":"x"}\n'
    (left / "audit.jsonl").write_bytes(damaged)
    done = await acarrier("consent", "show", str(uuid4()), config=operator.cfg,
                          cwd=operator.cwd, env=operator.env)
    assert "no patient" in done.err.strip().splitlines()[-1], done.err
    kept = list((left.parent).glob("cli-*/audit.jsonl.corrupt-*"))
    assert [f.read_bytes() for f in kept] == [damaged]
    assert any(r["level"] == "warning" and "set aside" in r["message"]
               for r in _log_lines(done.err)), done.err
