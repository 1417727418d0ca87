"""SMS test fixtures: one npm-registry SMSC per module (node starts in about a second)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.dialer.conftest import pool  # noqa: F401 - the dialer tests' pool fixture
from tests.peers.smsc_peer import Smsc


@pytest.fixture
async def smsc() -> AsyncIterator[Smsc]:
    peer = await Smsc.start()
    try:
        yield peer
    finally:
        await peer.stop()
