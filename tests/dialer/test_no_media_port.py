"""A dial on a node with no free RTP port pair: the pass records it and goes on.

Before: the OSError from binding left ``Gateway.dial`` into the pass, which took it for
a database outage: the call went unrecorded (its attempt left open until the lease ran
out), the other outreach of the pass were cut off and the loop backed off. Now each such
dial is ``no_media_port``: recorded, nothing sent, not a dial against the outreach or any
cap, asked again later; the pass goes on with the next outreach.

The gateway, its outbound path and the dialer adapter are the real ones; the RTP port
range is one pair that the test holds.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import asyncpg
import pytest

from carrier.call import Call
from carrier.dialer.campaign import CampaignPolicy, plan_reminders
from carrier.dialer.gate import GateRequest
from carrier.dialer.gateway_adapter import GatewayDialer
from carrier.dialer.ports import DialResult
from carrier.dialer.store import OutreachStore
from carrier.gateway import Gateway
from carrier.plugin import AppointmentFact, AppointmentState
from carrier.sip.endpoint import EndpointConfig
from tests.dialer.conftest import FakeClock, FakeFacts, make_runner
from tests.gateway.phone import loop_settings
from tests.gateway.rtp_probe import open_rtp_pair

pytestmark = pytest.mark.postgres

# Tue 2027-01-12 10:00 in New York: after today, so the clearance has not run out
# when the real gateway checks it against the real clock.
MORNING = dt.datetime(2027, 1, 12, 15, 0, tzinfo=dt.UTC)


async def _never_answered(call: Call, request: GateRequest) -> DialResult:
    raise AssertionError("nothing is sent in this test")


async def test_a_pass_records_each_dial_without_a_media_port_and_goes_on(
        pool: asyncpg.Pool) -> None:
    store = OutreachStore(pool)
    appts = [AppointmentFact(f"a{i}", f"p{i:02d}", MORNING + dt.timedelta(hours=24),
                             AppointmentState.OPEN) for i in range(2)]
    policy = CampaignPolicy(reminder_offsets=(dt.timedelta(hours=24),))
    assert await store.add(plan_reminders(appts, policy, MORNING), MORNING) == 2
    held_rtp, held_rtcp = await open_rtp_pair()  # the gateway's only pair
    low = held_rtp.addr[1]
    settings = loop_settings(rtp_port_min=low, rtp_port_max=low + 1)
    settings = dataclasses.replace(settings, trunks=(dataclasses.replace(
        settings.trunks[0], name="primary"),))
    gw = Gateway(settings, endpoint_config=EndpointConfig(udp=("127.0.0.1", 0), tcp=None,
                                                          tls=None))  # fmt: skip
    await gw.start()
    try:
        clock = FakeClock(wall0=MORNING)
        runner = make_runner(pool, clock, GatewayDialer(gw, "+12125550100", _never_answered),
                             facts=FakeFacts(copy_date=MORNING.date() - dt.timedelta(days=2)),
                             policy=policy)  # type: ignore[arg-type]
        report = await runner.run_once()
    finally:
        await gw.close()
        held_rtp.close()
        held_rtcp.close()
    assert report.outage is None, report
    assert report.refused == {}, report
    assert report.outcomes == {"no_media_port": 2}, report
    assert (report.dialled, report.unrecorded) == (0, 0)
    rows = await pool.fetch("SELECT o.state, o.dials, a.outcome, o.due_at FROM dialer_outreach o"
                            " JOIN dialer_attempts a ON a.outreach_id = o.id ORDER BY o.id")
    assert [tuple(r)[:3] for r in rows] == [("pending", 0, "no_media_port")] * 2
    assert all(r["due_at"] > MORNING for r in rows)  # asked again later
    # Nothing was sent: no contact, so it counts against no cap.
    assert await store.prior_calls(["p00", "p01"], MORNING - dt.timedelta(days=1)) == []
