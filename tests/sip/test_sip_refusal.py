"""Refusals that do not amplify (issue 11 item 6): the pure gate, limiter and ledger with
a hand-driven clock, then a flood of 10,000 refused INVITEs on a real socket.

Before the fix a refused INVITE opened a server transaction whose 403 was retransmitted
until Timer H (7 answers to one UDP INVITE with no ACK), and every refusal reached the
audit callback on its own: the flood test saw ~70,000 answers and 10,000 audit calls.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from carrier.sip.endpoint import CallFailedError, EndpointConfig, SipCall, SipEndpoint
from carrier.sip.events import CallConfirmed
from carrier.sip.message import Response, parse_message
from carrier.sip.policy import InboundPolicy, TokenBucket
from carrier.sip.refusal import (
    OVERFLOW,
    AnswerLimiter,
    RefusalGate,
    RefusalLedger,
    RefusalSummary,
)
from carrier.sip.sdp import LocalMedia, build_answer, build_offer, parse_sdp
from carrier.sip.transport import StreamLimits

OFFER = build_offer(LocalMedia("127.0.0.1", 20000, srtp="off"), session_id=1, version=1)


def invite(n: int, *, to_tag: str = "", method: str = "INVITE", host: str = "127.0.0.1",
           port: int = 5999) -> bytes:  # fmt: skip
    tag = f";tag={to_tag}" if to_tag else ""
    return (
        f"{method} sip:+15550100200@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK-flood-{n}\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:+15550100100@192.0.2.9>;tag=f\r\n"
        f"To: <sip:+15550100200@127.0.0.1>{tag}\r\nCall-ID: flood-{n}@192.0.2.9\r\n"
        f"CSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
    ).encode()


# ---- pure parts, hand-driven clock -----------------------------------------------------


def test_token_bucket_bursts_then_holds_the_rate() -> None:
    bucket = TokenBucket(1.0, burst=5)
    assert [bucket.try_take(0.0) for _ in range(7)] == [True] * 5 + [False] * 2
    assert bucket.try_take(0.5) is False
    assert bucket.try_take(1.0) is True
    assert bucket.try_take(1.0) is False
    # a clock that steps back never mints tokens
    assert bucket.try_take(0.2) is False
    assert TokenBucket(3.0).try_take(0.0)  # default burst: one second's worth


def test_token_bucket_below_one_per_second_still_admits() -> None:
    """A limit under one call per second (the old admission bucket capped its store at
    `rate` tokens, below one: it never admitted again)."""
    bucket = TokenBucket(0.5)
    assert bucket.try_take(0.0)
    assert not bucket.try_take(1.0)
    assert bucket.try_take(2.0)


def test_ledger_reports_the_first_refusal_then_one_summary_per_window() -> None:
    ledger = RefusalLedger(interval=60.0)
    first = ledger.note("192.0.2.9", "UDP", "acl", 403, 0.0)
    assert first == [RefusalSummary("192.0.2.9", "UDP", "acl", 403, 1, 1, 0.0, 0.0)]
    for i in range(1, 1000):
        assert ledger.note("192.0.2.9", "UDP", "acl", 403, i * 0.01, answered=i < 5) == []
    assert ledger.next_due == 60.0
    assert ledger.due(59.9) == []
    (summary,) = ledger.due(60.0)
    assert (summary.count, summary.answered, summary.since, summary.until) == (999, 4, 0.0, 60.0)
    # the flood goes on: counted in the next window, not reported at once
    assert ledger.note("192.0.2.9", "UDP", "acl", 403, 61.0) == []
    assert [s.count for s in ledger.due(120.0)] == [1]
    # a window with nothing in it closes for good; the next refusal is reported at once
    assert ledger.due(180.0) == []
    assert ledger.next_due is None
    assert [s.count for s in ledger.note("192.0.2.9", "UDP", "acl", 403, 200.0)] == [1]


def test_ledger_keys_by_source_rule_and_status_and_flushes_at_close() -> None:
    ledger = RefusalLedger(interval=60.0)
    ledger.note("192.0.2.9", "UDP", "acl", 403, 0.0)
    ledger.note("192.0.2.9", "UDP", "acl", 403, 1.0)
    ledger.note("192.0.2.10", "TCP", "acl", 403, 1.0)
    ledger.note("192.0.2.9", "UDP", "concurrent-calls", 503, 2.0)
    ledger.note("192.0.2.9", "UDP", "concurrent-calls", 503, 3.0)
    flushed = ledger.flush(10.0)
    assert sorted((s.source, s.rule, s.count) for s in flushed) == [
        ("192.0.2.9", "acl", 1), ("192.0.2.9", "concurrent-calls", 1)]  # fmt: skip
    assert ledger.flush(11.0) == []


def test_ledger_is_bounded_under_spoofed_sources() -> None:
    ledger = RefusalLedger(interval=60.0, max_sources=8)
    reported = []
    for i in range(10_000):
        reported += ledger.note(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", "UDP", "acl",
                                403, i * 0.001)  # fmt: skip
    reported += ledger.flush(30.0)
    assert len(reported) <= 8 + 2  # the first 8 sources, then "*": once, then summarised
    assert sum(s.count for s in reported) == 10_000
    assert {s.source for s in reported[8:]} == {OVERFLOW}


def test_limiter_per_source_under_a_global_cap() -> None:
    limiter = AnswerLimiter(rate=1.0, burst=5.0, global_rate=10.0, max_sources=4)
    assert sum(limiter.allow("192.0.2.1", 0.0) for _ in range(100)) == 5
    assert sum(limiter.allow("192.0.2.2", 0.0) for _ in range(100)) == 5
    assert sum(limiter.allow(f"192.0.2.{i}", 0.0) for i in range(3, 50)) == 0  # global cap
    assert len(limiter._buckets) == 4


def test_gate_refuses_out_of_dialog_invites_statelessly_and_passes_the_rest() -> None:
    policy = InboundPolicy.from_strings(["192.0.2.0/24"])
    ledger = RefusalLedger()
    gate = RefusalGate(policy, ledger, limiter=AnswerLimiter(rate=1.0, burst=2.0))
    src = ("UDP", "127.0.0.1", 5999)
    assert gate.screen(invite(1), ("UDP", "192.0.2.7", 5060), 0.0) is None  # admitted
    first = gate.screen(invite(1), src, 0.0)
    again = gate.screen(invite(1), src, 0.1)  # a retransmission: the same stateless answer
    assert first is not None
    assert again is not None
    assert first.answer is not None
    assert first.answer == again.answer
    resp = parse_message(first.answer)
    assert isinstance(resp, Response)
    assert resp.status == 403
    assert resp.to.tag
    assert resp.call_id == "flood-1@192.0.2.9"
    assert [s.count for s in first.summaries] == [1]
    assert again.summaries == ()
    dropped = gate.screen(invite(2), src, 0.2)  # over the limit: counted, not answered
    assert dropped is not None
    assert dropped.answer is None
    # responses, ACK and in-dialog requests of a call we have go on to the user agent
    # (OPTIONS and other requests: the next test)
    ours = {"flood-3@192.0.2.9"}.__contains__
    for data in (invite(3, to_tag="x"), invite(5, method="ACK"),
                 b"SIP/2.0 200 OK\r\n" + invite(6).split(b"\r\n", 1)[1]):
        assert gate.screen(data, src, 0.3, known=ours) is None
    # malformed from a refused source: its 400 under the same limit
    bad = gate.screen(invite(7).replace(b"CSeq: 1 INVITE", b"CSeq: x INVITE"), src, 10.0)
    assert bad is not None
    assert bad.answer is not None
    assert bad.answer.startswith(b"SIP/2.0 400")
    assert [(s.rule, s.status, s.count) for s in bad.summaries] == [("malformed", 400, 1)]
    (summary,) = ledger.flush(20.0)
    assert (summary.count, summary.answered) == (2, 1)


def test_summary_checks_itself() -> None:
    with pytest.raises(ValueError, match="at least one"):
        RefusalSummary("192.0.2.1", "UDP", "acl", 403, 0, 0, 0.0, 0.0)
    with pytest.raises(ValueError, match="at least one"):
        RefusalSummary("192.0.2.1", "UDP", "acl", 403, 1, 2, 0.0, 0.0)


# ---- a flood on a real socket ----------------------------------------------------------


class Flooder(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.probes: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: object) -> None:
        if b"Call-ID: probe-" in data:
            self.probes.put_nowait(data)
        else:
            self.statuses.append(int(data[8:11]))


async def answer(call: SipCall) -> None:
    reply, _ = build_answer(parse_sdp(call.request.body), LocalMedia("127.0.0.1", 30000,
                            srtp="off"), session_id=2, version=1)  # fmt: skip
    call.answer(reply.serialize())
    await call.wait_for(CallConfirmed, timeout=5)
    call.hangup()


async def legit_call(caller: SipEndpoint, port: int) -> int:
    call = caller.invite(f"sip:+15550100200@127.0.0.1:{port}", sdp=OFFER.serialize())
    try:
        return (await call.wait_answer(timeout=10)).response.status
    except CallFailedError as err:
        return err.status


async def test_ten_thousand_refused_invites_get_few_answers_and_few_audit_rows() -> None:
    summaries: list[RefusalSummary] = []
    policy = InboundPolicy.from_strings(["127.0.0.2/32"])  # the trunk; 127.0.0.1 is not
    guarded_cfg = EndpointConfig(udp=("127.0.0.1", 0), tcp=None, tls=None)
    trunk_cfg = EndpointConfig(udp=("127.0.0.2", 0), tcp=None, tls=None)
    loop = asyncio.get_running_loop()
    guarded = SipEndpoint(guarded_cfg, on_call=answer, policy=policy, audit=summaries.append)
    async with guarded as ep, SipEndpoint(trunk_cfg) as trunk:
        port = ep.port("UDP")
        transport, flood = await loop.create_datagram_endpoint(
            Flooder, local_addr=("127.0.0.1", 0), family=socket.AF_INET)
        start = loop.time()
        legit: list[asyncio.Task[int]] = []
        try:
            for chunk in range(100):
                for n in range(chunk * 100, chunk * 100 + 100):
                    transport.sendto(invite(n), ("127.0.0.1", port))
                # An OPTIONS from the same socket is handled after the chunk (one socket,
                # in order): its 200 says the endpoint has seen every INVITE before it.
                transport.sendto(invite(chunk, method="OPTIONS").replace(
                    b"flood-", b"probe-"), ("127.0.0.1", port))  # fmt: skip
                async with asyncio.timeout(10):
                    await flood.probes.get()
                if chunk == 50:  # a legitimate call in the middle of the flood
                    legit.append(asyncio.create_task(legit_call(trunk, port)))
            elapsed = loop.time() - start
            assert await legit[0] == 200
            assert await legit_call(trunk, port) == 200  # and after it
        finally:
            transport.close()
    # Answers: the burst of 5, then one per second, never a retransmission.
    assert flood.statuses.count(403) <= 5 + elapsed + 1
    assert set(flood.statuses) <= {403}
    # Audit: the first refusal at once, the rest in one summary at close.
    acl = [s for s in summaries if s.rule == "acl"]
    assert len(acl) <= 3
    assert sum(s.count for s in acl) == 10_000
    assert sum(s.answered for s in acl) == flood.statuses.count(403)
    assert {s.source for s in acl} == {"127.0.0.1"}


async def test_accepted_stream_connections_are_capped_per_host_and_in_all() -> None:
    config = EndpointConfig(udp=None, tcp=("127.0.0.1", 0), tls=None,
                            stream_limits=StreamLimits(total=4, per_host=3))  # fmt: skip
    async with SipEndpoint(config) as ep:
        port = ep.port("TCP")
        kept = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
        for source in ("127.0.0.1", "127.0.0.2", "127.0.0.3"):
            reader, writer = await asyncio.open_connection("127.0.0.1", port,
                                                           local_addr=(source, 0))  # fmt: skip
            # the fourth from 127.0.0.1 is over its host's cap; 127.0.0.2 is the 4th in
            # all and is kept; 127.0.0.3 is over the total: closed at once, unread
            expect_closed = source != "127.0.0.2"
            if expect_closed:
                async with asyncio.timeout(5):
                    assert await reader.read() == b""
            else:
                kept.append((reader, writer))
            if expect_closed:
                writer.close()
        # the kept connections still work
        reader, writer = kept[0]
        writer.write(invite(1, method="OPTIONS").replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP"))
        async with asyncio.timeout(5):
            assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"SIP/2.0 200 ")
        for _, writer in kept:
            writer.close()


# ---- requests other than INVITE from a refused source (issue: transactions per packet) --


def test_gate_answers_plain_options_statelessly_and_limits_the_rest() -> None:
    """Before: every OPTIONS, REGISTER, BYE or INFO from a source the policy refuses went
    to the user agent, which opened a server transaction for it (kept 32 s after its
    answer on UDP): a flood from anywhere grew memory without bound and was answered in
    full. Now plain OPTIONS get their 200 statelessly (no state), and the rest pass to
    the user agent only as fast as the refusal limiter allows; in-dialog requests of a
    call we have pass as before."""
    policy = InboundPolicy.from_strings(["192.0.2.0/24"])
    gate = RefusalGate(policy, RefusalLedger(), limiter=AnswerLimiter(rate=1.0, burst=2.0))
    src = ("UDP", "127.0.0.1", 5999)
    first = gate.screen(invite(1, method="OPTIONS"), src, 0.0)
    assert first is not None
    assert first.answer is not None
    resp = parse_message(first.answer)
    assert isinstance(resp, Response)
    assert (resp.status, resp.call_id) == (200, "flood-1@192.0.2.9")
    assert resp.to.tag
    assert "INVITE" in (resp.get("Allow") or "")
    for n in range(2, 50):  # never limited: stateless, the same as the user agent's
        assert gate.screen(invite(n, method="OPTIONS"), src, 0.0) is not None
    again = gate.screen(invite(1, method="OPTIONS"), src, 0.1)
    assert again is not None
    assert again.answer == first.answer
    passed = 0
    for n in range(100, 200):
        method = ("BYE", "REGISTER", "INFO", "SUBSCRIBE")[n % 4]
        tag = "x" if method in ("BYE", "INFO") else ""
        if gate.screen(invite(n, method=method, to_tag=tag), src, 0.0) is None:
            passed += 1
    assert passed == 2  # the burst, then dropped until tokens come back
    assert gate.screen(invite(300, method="BYE"), src, 1.0) is None  # one a second
    # an in-dialog request of a call we have always passes; admitted sources too
    known = {"flood-400@192.0.2.9"}
    for _ in range(10):
        assert gate.screen(invite(400, method="BYE", to_tag="x"), src, 1.0,
                           known=known.__contains__) is None  # fmt: skip
        assert gate.screen(invite(401, method="BYE"), ("UDP", "192.0.2.7", 5060), 1.0) is None


async def test_a_flood_of_requests_from_a_refused_source_opens_few_transactions() -> None:
    policy = InboundPolicy.from_strings(["127.0.0.2/32"])  # 127.0.0.1 is not a trunk
    config = EndpointConfig(udp=("127.0.0.1", 0), tcp=None, tls=None)
    loop = asyncio.get_running_loop()
    async with SipEndpoint(config, on_call=answer, policy=policy) as ep:
        transport, flood = await loop.create_datagram_endpoint(
            Flooder, local_addr=("127.0.0.1", 0), family=socket.AF_INET)
        try:
            for n in range(500):
                method = ("BYE", "REGISTER", "INFO", "MESSAGE", "SUBSCRIBE")[n % 5]
                transport.sendto(invite(n, method=method), ("127.0.0.1", ep.port("UDP")))
            transport.sendto(invite(0, method="OPTIONS").replace(b"flood-", b"probe-"),
                             ("127.0.0.1", ep.port("UDP")))  # fmt: skip
            async with asyncio.timeout(10):
                probe = await flood.probes.get()  # handled after every request before it
        finally:
            transport.close()
        assert probe.startswith(b"SIP/2.0 200 ")
        assert ep.ua is not None
        assert len(ep.ua.tx) <= 10  # the limiter's burst, not one per packet
        assert len(flood.statuses) <= 10
