"""``carrier keys reencrypt`` stopped by Ctrl-C (or the service manager's SIGTERM) mid-run.

Before: the signal cut the run where it was (KeyboardInterrupt, or death by SIGTERM): the
batches already committed stayed re-encrypted but no ``keys.reencrypt`` entry recorded
them, and the operator saw no count. Now the signal stops the run between batches, the
entry records what was moved before it (``interrupted``, and the values ``left`` under
older keys, the number ``keys status`` then shows), and the command exits 130.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from carrier import cli
from carrier.records import keys as keysmod
from tests.conftest import TEST_KEK
from tests.ops.conftest import Operator
from tests.ops.test_keys_leftovers import _seed

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]


async def _entry(db_url: str) -> dict[str, Any]:
    su = await asyncpg.connect(db_url)
    try:
        got = await su.fetchval("SELECT details FROM audit_log WHERE action = 'keys.reencrypt'"
                                " ORDER BY seq DESC LIMIT 1")
        return {} if got is None else json.loads(got)
    finally:
        await su.close()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_reencrypt_is_audited_and_exits_130(
        sig: signal.Signals, operator: Operator, db_url: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(_seed(db_url, tmp_path / "seed-spool"))
    assert operator.run("keys", "rotate").code == 0
    moved_patients = keysmod.reencrypt_patients

    async def then_ctrl_c(*args: Any, **kwargs: Any) -> int:
        n = await moved_patients(*args, **kwargs)
        os.kill(os.getpid(), sig)  # Ctrl-C, or the service manager's stop: patients done
        return n

    monkeypatch.setattr(keysmod, "reencrypt_patients", then_ctrl_c)
    monkeypatch.setenv("CARRIER_KEK", base64.b64encode(TEST_KEK.secret).decode())
    monkeypatch.chdir(operator.cwd)
    code = cli.main(["--config-dir", str(operator.cfg), "keys", "reencrypt"])
    out = capsys.readouterr()
    assert code == 130
    assert "interrupted" in out.err, out.err
    assert "2 patient rows re-encrypted" in out.out, out.out
    details = asyncio.run(_entry(db_url))
    assert details.get("interrupted") is True, details
    assert details["tables"] == "patients=2", details
    status = operator.run("keys", "status", "--json")
    assert status.code == 0, status.err
    doc = json.loads(status.out)
    assert doc["old_values"] == details["left"] == 1, (doc, details)  # the transcript turn
    done = operator.run("keys", "reencrypt")  # the next run finishes the job
    assert done.code == 0, done.err
    assert json.loads(operator.run("keys", "status", "--json").out)["old_values"] == 0
