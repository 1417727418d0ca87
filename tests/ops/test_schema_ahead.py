"""A command from an older checkout against a database a newer one migrated.

Before, every command (and ``serve``) ignored migrations it did not know and ran its older
code on the newer schema (a column it writes renamed, a table it reads split: errors in
the middle of calls, or rows written the old way). Now ``serve``, ``db migrate`` and every
records command refuse with one line giving the version the database is at and the newest
this program knows; ``db status`` still lists what is there.
"""

from __future__ import annotations

from uuid import uuid4

import asyncpg
import pytest

from carrier.records.migrate import load_migrations
from tests.ops.conftest import Operator
from tests.ops.live import one_line_error

pytestmark = [pytest.mark.postgres]


async def test_a_schema_migrated_by_a_newer_version_is_refused(operator: Operator,
                                                               db_url: str) -> None:
    newest = max(m.version for m in load_migrations())
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute("INSERT INTO schema_migrations (source, version, name, checksum)"
                           " VALUES ('carrier', $1, 'from_a_newer_release', 'x')", newest + 1)
    finally:
        await conn.close()
    for command in (("db", "migrate"), ("consent", "show", str(uuid4())), ("keys", "rotate")):
        done = operator.run(*command)
        line = one_line_error(done)
        assert done.code == 1, line
        assert f"{newest + 1:04d}_from_a_newer_release" in line, line
        assert f"{newest:04d}" in line, line
        assert "newer" in line, line
    status = operator.run("db", "status")
    assert "from_a_newer_release" in status.out, status.out + status.err
    assert "Traceback" not in status.err
