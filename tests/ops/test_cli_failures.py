"""Every command that reads the records, pointed at a database it cannot use (one that does
not exist, a login the server does not know): one line naming the cause, a non-zero exit,
no traceback, and nothing of the URL's password. Runs ``carrier`` as an operator does.

Before: ``carrier call`` opened the records itself, outside the one place that turns
database failures into a line, and ended in a traceback (``InvalidCatalogNameError``,
``InvalidAuthorizationSpecificationError``) on both.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

import pytest

from tests.ops.conftest import Operator
from tests.ops.live import one_line_error

pytestmark = pytest.mark.postgres

PATIENT = str(uuid4())
# (id, argv) of every command that opens the records.
COMMANDS: list[tuple[str, tuple[str, ...]]] = [
    ("call", ("call", "+15550100199", "--trunk", "demo", "--timeout", "1")),
    ("calls-list", ("calls", "list")),
    ("campaign-status", ("campaign", "status")),
    ("consent-show", ("consent", "show", PATIENT)),
    ("db-status", ("db", "status")),
    ("keys-rotate", ("keys", "rotate")),
    ("user-list", ("user", "list")),
    ("sms-status", ("sms", "status")),
    ("feeds-outbox", ("feeds", "outbox")),
    ("audit-verify-chain", ("audit", "verify-chain")),
    ("retention-run", ("retention", "run")),
]


def _swap(url: str, *, user: str | None = None, database: str | None = None) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc
    if user is not None:
        netloc = f"{user}:s3cret-pw@{netloc.rpartition('@')[2]}"
    path = f"/{database}" if database else parts.path
    return urlunsplit(parts._replace(netloc=netloc, path=path))


@pytest.mark.parametrize("argv", [c[1] for c in COMMANDS], ids=[c[0] for c in COMMANDS])
def test_database_it_cannot_use_is_one_line(operator: Operator, db_url: str,
                                            argv: tuple[str, ...]) -> None:
    for url, words in ((_swap(db_url, database="no_such_db"), "does not exist"),
                       (_swap(db_url, user="nobody_here"), "refused the login")):
        done = operator.run(*argv, "--database-url", url)
        line = one_line_error(done)
        assert words in line, line
        assert "s3cret-pw" not in done.err + done.out


def test_call_twice_against_a_fresh_database(operator: Operator, tmp_path: Path) -> None:
    del tmp_path
    # The operator test number, no SIP peer answering: the call fails cleanly both times
    # (the second run must not trip over what the first left behind).
    for _ in range(2):
        done = operator.run("call", "+15550100199", "--trunk", "demo", "--timeout", "1")
        assert "Traceback" not in done.err, done.err
        assert done.code != 0
