"""Failed sign-ins counted per client against a client on IPv6, behind the trusted proxy.

A host on IPv6 holds a whole /64. The console stopped an *address* after
``ADDRESS_FAILURES`` failed sign-ins (password spraying over accounts); one host taking
a new address per attempt was never stopped. Now an IPv6 client counts by its /64.
Over real HTTP on 127.0.0.1 (uvicorn, the real database); the test client is the proxy.
"""

from __future__ import annotations

import pytest

from carrier.console.app import ConsoleContext
from carrier.console.auth import ADDRESS_FAILURES
from carrier.records.operators import Operators
from tests.console import test_behind_a_proxy
from tests.console.conftest import Clock, code_at
from tests.console.test_behind_a_proxy import PROXY, _sign_in

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]
base_url = test_behind_a_proxy.base_url  # the fixture


@pytest.mark.parametrize("console_settings", [PROXY], indirect=True)
async def test_one_ipv6_host_spraying_from_new_addresses_is_stopped(
        console: ConsoleContext, base_url: str, clock: Clock) -> None:
    ops = Operators(console.records.pool, console.records.keys)
    accounts = [await ops.add(f"op{i}", "auditor", now=clock())
                for i in range(ADDRESS_FAILURES + 1)]
    got = [(await _sign_in(base_url, a.name, "Spring2026!", "000000",
                           {"X-Forwarded-For": f"2001:db8:5:6::{i + 1:x}"})).status_code
           for i, a in enumerate(accounts)]
    assert got == [401] * ADDRESS_FAILURES + [429]
    right = accounts[-1]  # a colleague on another network signs in as usual
    r = await _sign_in(base_url, right.name, right.password, code_at(right, clock()),
                       {"X-Forwarded-For": "2001:db8:5:7::1"})
    assert r.status_code == 200
