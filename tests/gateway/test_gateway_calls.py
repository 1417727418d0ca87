"""The gateway's call lifecycle with real sockets on 127.0.0.x: a phone on our SIP
endpoint whose RTP lands on raw sockets, so every packet the gateway sends is seen."""

from __future__ import annotations

import asyncio
import uuid

import numpy as np
import pytest

from carrier.call import Call, Clearance, DialRequest, Direction
from carrier.plugin import CallContext, CallOutcome, OutcomeKind
from carrier.sip.events import CallEnded, ReferReceived
from media.framing import frames
from tests.gateway.notes import Notes
from tests.gateway.phone import loop_settings, phone, running_gateway
from tests.gateway.rtp_probe import ToneSender, dominant_hz, open_probe, rtcp_bye_seen

RATE = 16000


def tone(freq: float, seconds: float, amp: int = 8000) -> list[np.ndarray]:
    t = np.arange(int(seconds * RATE)) / RATE
    pcm = (amp * np.sin(2 * np.pi * freq * t)).astype(np.int16)
    return frames(pcm, pad=False)


def rms(frame: np.ndarray) -> float:
    return float(np.sqrt(np.mean(frame.astype(np.float64) ** 2)))


async def test_peer_bye_silences_the_call_at_once() -> None:
    """Issue 11 item 10: before, audio kept flowing until the handler returned (here, 5 s
    of playback); now playback stops and the leg closes on the BYE."""
    notes = Notes()

    async def handler(call: Call, ctx: CallContext) -> CallOutcome:
        notes["ctx"] = ctx
        notes["played"] = await call.media.play(tone(440, 5.0))  # busy talking
        await call.ended.wait()
        return CallOutcome(call.call_id, OutcomeKind.ABANDONED)

    async with running_gateway(loop_settings(), handler) as gw, phone() as ph:
        sipcall = await ph.call_in(gw)
        await ph.rtp.wait(lambda: len(ph.rtp.got) >= 10, timeout=5)
        t_bye = asyncio.get_running_loop().time()
        sipcall.hangup()
        await ph.rtcp.wait(lambda: rtcp_bye_seen(ph.rtcp), timeout=3)  # the leg closed
        after = [t for t, _, _ in ph.rtp.got if t > t_bye]
        # at most the packet of the tick in flight when the BYE left, one frame later
        assert len(after) <= 2, after
        assert await notes.wait("played", timeout=5) is False
        ctx = notes["ctx"]
        assert isinstance(ctx, CallContext)
        assert (ctx.direction, ctx.trunk) == (Direction.INBOUND, "t1")
    assert gw.stats.active == 0


async def test_rtp_from_an_unrelated_address_never_takes_the_call() -> None:
    """Issue 11 item 3 with real sockets: an attacker on 127.0.0.2 sends RTP before the
    phone and all through 1.2 s of the phone's silence; before the fix it latched first
    and received the agent's audio."""
    heard: list[np.ndarray] = []
    notes = Notes()

    async def handler(call: Call, ctx: CallContext) -> None:
        async for frame in call.media.inbound():
            if rms(frame) > 1000:
                heard.append(frame)
        notes["done"] = True

    attacker = await open_probe("127.0.0.2")
    evil, good = ToneSender(2000, ssrc=0x0BAD), ToneSender(500, ssrc=0x600D)
    try:
        async with running_gateway(loop_settings(), handler) as gw, phone() as ph:
            sipcall = await ph.call_in(gw)
            target = ph.gateway_rtp

            def paced(count: int) -> None:  # once per packet the gateway sends us (20 ms)
                attacker.send(evil.packet(), target)
                if 10 <= count < 50 or 110 <= count < 150:  # 0.8 s, 1.2 s of silence, 0.8 s
                    ph.rtp.send(good.packet(), target)

            ph.rtp.on_packet = paced
            await ph.rtp.wait(lambda: len(ph.rtp.got) >= 160, timeout=10)
            ph.rtp.on_packet = None
            sipcall.hangup()
            await notes.wait("done", timeout=5)
    finally:
        attacker.close()
    assert attacker.got == []  # not one packet of the call reached the attacker
    assert len(heard) >= 40
    assert all(abs(dominant_hz([f]) - 500) < 60 for f in heard)


@pytest.mark.parametrize("stuck", [False, True])
async def test_length_limit_ends_the_call_and_keeps_the_record(stuck: bool) -> None:
    """The limit comes from the DialRequest (the gateway ignored it before): BYE to the
    phone, media closed, and the handler writes its record either on its own (it sees
    the end) or when cancelled once after the grace period."""
    notes = Notes()

    async def handler(call: Call, ctx: CallContext) -> CallOutcome:
        notes["ctx"] = ctx
        if not stuck:
            async for _ in call.media.inbound():
                pass  # ends when the leg closes
            notes["record"] = "written at the end"
            return CallOutcome(call.call_id, OutcomeKind.COMPLETED, patient_id=ctx.patient_id)
        try:
            await asyncio.Event().wait()  # never notices the end by itself
        except asyncio.CancelledError:
            notes["ended_first"] = call.ended.is_set()
            write: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_soon(write.set_result, "written after cancel")
            notes["record"] = await write  # an await still completes after the cancel
            raise
        raise AssertionError("unreachable")

    async with phone() as ph, running_gateway(loop_settings(peer_port=ph.port), handler) as gw:
        gw.limit_grace_s = 0.2
        tasks_before = len(asyncio.all_tasks())
        call = await gw.dial(DialRequest(
            to="+15550100123", from_number="+15550100100", trunk="t1",
            origid=str(uuid.uuid4()), max_duration_s=0.5, patient_id="pat-synthetic-1",
            purpose="appointment_reminder", appointment_id="appt-1",
            clearance=Clearance("allowed")))
        assert isinstance(call, Call)
        assert call.context.patient_id == "pat-synthetic-1"
        outcome = await asyncio.wait_for(gw.run_outbound(call), timeout=10)
        assert await asyncio.wait_for(ph.ended, timeout=5) == "bye-received"
        await ph.rtcp.wait(lambda: rtcp_bye_seen(ph.rtcp), timeout=3)
        assert call.end_reason == "length-limit"
        assert gw._calls == {}
        assert len(asyncio.all_tasks()) <= tasks_before  # nothing of the call left running
    ctx = notes["ctx"]
    assert (ctx.direction, ctx.purpose, ctx.appointment_id, ctx.max_duration_s) == (
        Direction.OUTBOUND, "appointment_reminder", "appt-1", 0.5)
    assert outcome is not None
    if stuck:
        assert notes["ended_first"] is True
        assert notes["record"] == "written after cancel"
        assert outcome.kind is OutcomeKind.LENGTH_LIMIT
    else:
        assert notes["record"] == "written at the end"
        assert (outcome.kind, outcome.patient_id) == (OutcomeKind.COMPLETED, "pat-synthetic-1")


async def test_an_inbound_call_has_a_length_limit_too() -> None:
    """`sip.max_inbound_call_s` (before it, only outbound calls had a limit: an inbound
    line left open on a noisy room held a call slot and a speech worker for ever). The
    handler sees the limit in its context (the agent plans its closing within it), and
    the carrier ends the call at it: BYE to the phone, media closed, record written."""
    notes = Notes()

    async def handler(call: Call, ctx: CallContext) -> CallOutcome:
        notes["limit"] = ctx.max_duration_s
        async for _ in call.media.inbound():
            pass  # ends when the leg closes
        notes["end_reason"] = call.end_reason
        return CallOutcome(call.call_id, OutcomeKind.COMPLETED)

    settings = loop_settings(max_inbound_call_s=0.5)
    async with running_gateway(settings, handler) as gw, phone() as ph:
        gw.limit_grace_s = 0.2
        sipcall = await ph.call_in(gw)
        ended = await sipcall.wait_for(CallEnded, timeout=10)
        assert ended.reason == "bye-received"
        assert await notes.wait("end_reason", timeout=5) == "length-limit"
        for _ in range(250):  # the gateway forgets the call once its record is written
            if not gw._calls:
                break
            await asyncio.sleep(0.02)
        assert gw._calls == {}
    assert notes["limit"] == 0.5


async def test_a_failing_handler_still_hangs_up_and_frees_the_media() -> None:
    async def handler(call: Call, ctx: CallContext) -> CallOutcome:
        raise LookupError("synthetic failure")

    async with phone() as ph, running_gateway(loop_settings(peer_port=ph.port), handler) as gw:
        call = await gw.dial(DialRequest(to="+15550100123", from_number="+15550100100",
                                         trunk="t1", origid=str(uuid.uuid4()),
                                         clearance=Clearance("allowed")))
        assert isinstance(call, Call)
        with pytest.raises(LookupError):
            await gw.run_outbound(call)
        assert await asyncio.wait_for(ph.ended, timeout=5) == "bye-received"
        await ph.rtcp.wait(lambda: rtcp_bye_seen(ph.rtcp), timeout=3)
        with pytest.raises(ValueError, match="once"):
            await gw.run_outbound(call)


@pytest.mark.parametrize("notify", [False, True], ids=["bye-after-202", "bye-after-trying"])
async def test_a_bye_during_a_blind_transfer_ends_the_transfer_at_once(notify: bool) -> None:
    """The carrier accepts our REFER (202) and hangs up (BYE) before any final NOTIFY, as
    many do once they take the call over. Before: the pump stopped at the BYE, so
    ``transfer()`` heard nothing more and waited out its 20 s, then reported 408, not
    transferred. Now the BYE ends the wait: accepted, then hung up, is transferred."""
    notes = Notes()

    async def handler(call: Call, ctx: CallContext) -> CallOutcome:
        notes["ok"] = await call.transfer("sip:+15550100199@127.0.0.1")
        return CallOutcome(call.call_id, OutcomeKind.TRANSFERRED)

    async with running_gateway(loop_settings(), handler) as gw, phone() as ph:
        sipcall = await ph.call_in(gw)
        await sipcall.wait_for(ReferReceived, timeout=5)  # answered 202 by our endpoint
        if notify:
            sipcall.notify_refer(100, final=False)
        sipcall.hangup()
        assert await notes.wait("ok", timeout=5) is True
    assert gw.stats.active == 0
