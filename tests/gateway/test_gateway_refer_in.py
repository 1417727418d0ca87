"""A REFER from the carrier into a call (it asks us to transfer the call elsewhere).

The gateway never places a call a peer's REFER asks for (a stranger's or a trunk's: that
is a way to have us dial any number). Before: the user agent answered 202 Accepted and
the gateway dropped the event, so no NOTIFY ever came (RFC 3515 2.4.4 requires one): the
carrier's transfer hung until its own timers ran out, the call in limbo. Now the 202 is
followed by the final NOTIFY, ``SIP/2.0 603 Declined``, and the call goes on."""

from __future__ import annotations

from carrier.call import Call
from carrier.plugin import CallContext
from carrier.sip.events import ReferProgress
from tests.gateway.notes import Notes
from tests.gateway.phone import loop_settings, phone, running_gateway


async def test_a_refer_into_a_call_is_declined_by_notify_and_the_call_goes_on() -> None:
    notes = Notes()

    async def handler(call: Call, ctx: CallContext) -> None:
        notes["call"] = call
        await call.ended.wait()

    async with running_gateway(loop_settings(), handler) as gw, phone() as ph:
        sipcall = await ph.call_in(gw)
        call = await notes.wait("call", timeout=10)
        result = await sipcall.refer("sip:+15550100999@127.0.0.1", timeout=10)
        assert (result.method, result.status) == ("REFER", 202)
        progress = await sipcall.wait_for(ReferProgress, timeout=10)
        assert (progress.status, progress.final) == (603, True)
        assert not call.ended.is_set()
        assert gw.stats.outbound == 0  # nothing was dialled
        sipcall.hangup()
