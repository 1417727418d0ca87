"""A UDP socket lost under the SIP endpoint is bound again on the same address.

Before: `UdpProtocol` had no reopening and the listener was fixed at start, so once its
socket closed (closed under it, or gone under `sendto`: EBADF) SIP over UDP stayed deaf
until `carrier serve` restarted; health said "sip closed: UDP" and nothing mended it.
Now it is bound again at once, retried with backoff while the port is taken (one log line),
and a call set up before the loss carries on (dialogs are keyed by address, not socket)."""

from __future__ import annotations

import asyncio
import errno
import logging
import pathlib
import socket

import pytest

from carrier.sip.endpoint import EndpointConfig, SipCall, SipEndpoint
from carrier.sip.events import CallConfirmed, CallEnded
from carrier.sip.listen_keep import check_streams
from carrier.sip.sdp import LocalMedia, build_answer, build_offer, parse_sdp
from carrier.sip.transport import REOPEN_DELAYS, UdpProtocol
from carrier.stack_watch import listener_open
from tests.sip.test_sip_endpoint import fresh_options, self_signed, send_tcp

UDP_ONLY = EndpointConfig(udp=("127.0.0.1", 0), tcp=None, tls=None)
OFFER = build_offer(LocalMedia("127.0.0.1", 20000, srtp="off"), session_id=1, version=1)


async def until(check, steps: int = 2000) -> None:  # type: ignore[no-untyped-def]
    """Lets the loop run until `check()` (bounded; no wall-clock waits)."""
    for _ in range(steps):
        if check():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never met")


def udp_of(ep: SipEndpoint) -> UdpProtocol:
    udp = ep.listeners["UDP"].udp
    assert udp is not None
    return udp


async def test_a_closed_udp_socket_is_bound_again_and_answers() -> None:
    async with SipEndpoint(UDP_ONLY) as ep, SipEndpoint(UDP_ONLY) as caller:
        port, udp = ep.port("UDP"), udp_of(ep)
        assert udp.transport is not None
        udp.transport.close()
        await until(lambda: udp.transport is None)
        assert not listener_open(ep.listeners["UDP"])  # health: closed while it is
        await until(lambda: udp.reopened == 1)
        assert listener_open(ep.listeners["UDP"])
        assert udp.transport is not None
        assert udp.transport.get_extra_info("sockname")[1] == port
        assert await caller.options(f"sip:127.0.0.1:{port}", timeout=5) == 200


async def test_a_port_briefly_taken_is_retried_with_backoff_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    waits: list[float] = []
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    async def sleep(delay: float) -> None:
        waits.append(delay)
        if len(waits) == 3:
            blocker.close()  # the port is free again
        await asyncio.sleep(0)

    caplog.set_level(logging.WARNING, logger="carrier.sip.transport")
    async with SipEndpoint(UDP_ONLY) as ep, SipEndpoint(UDP_ONLY) as caller:
        port, udp = ep.port("UDP"), udp_of(ep)
        udp._sleep = sleep
        assert udp.transport is not None
        udp.transport.close()
        await asyncio.sleep(0)  # connection_lost ran, the socket is closed, rebind queued
        assert udp.transport is None
        blocker.bind(("127.0.0.1", port))  # another process takes the port meanwhile
        await until(lambda: udp.reopened == 1)
        assert waits == list(REOPEN_DELAYS[:3])
        assert await caller.options(f"sip:127.0.0.1:{port}", timeout=5) == 200
    busy = [r for r in caplog.records if "not free yet" in r.getMessage()]
    assert len(busy) == 1


async def test_a_socket_gone_under_sendto_is_reopened() -> None:
    async with SipEndpoint(UDP_ONLY) as ep:
        udp = udp_of(ep)
        udp.error_received(OSError(errno.EBADF, "Bad file descriptor"))
        await until(lambda: udp.reopened == 1)
        assert listener_open(ep.listeners["UDP"])
        udp.error_received(ConnectionRefusedError(errno.ECONNREFUSED, "refused"))
        await asyncio.sleep(0)
        assert udp.reopened == 1  # ICMP port unreachable: the socket is fine, kept


async def test_a_call_set_up_before_the_loss_ends_cleanly_after_it() -> None:
    answered: asyncio.Queue[SipCall] = asyncio.Queue()

    async def answer(call: SipCall) -> None:
        media = LocalMedia("127.0.0.1", 30000, srtp="off")
        sdp, _ = build_answer(parse_sdp(call.request.body), media, session_id=2, version=1)
        call.answer(sdp.serialize())
        await call.wait_for(CallConfirmed, timeout=5)
        await answered.put(call)

    async with SipEndpoint(UDP_ONLY, on_call=answer) as ep, SipEndpoint(UDP_ONLY) as caller:
        call = caller.invite(f"sip:bob@127.0.0.1:{ep.port('UDP')}", sdp=OFFER.serialize())
        assert (await call.wait_answer(timeout=5)).response.status == 200
        inbound = await asyncio.wait_for(answered.get(), 5)
        udp = udp_of(ep)
        assert udp.transport is not None
        udp.transport.close()
        await until(lambda: udp.reopened == 1)
        call.hangup()  # the BYE reaches the dialog over the new socket, its 200 comes back
        assert (await inbound.wait_for(CallEnded, timeout=5)).reason == "bye-received"
        assert (await call.wait_for(CallEnded, timeout=5)).reason == "bye-sent"


async def test_close_does_not_reopen() -> None:
    ep = SipEndpoint(UDP_ONLY)
    await ep.start()
    udp = udp_of(ep)
    await ep.close()
    await until(lambda: udp.transport is None)
    for _ in range(20):
        await asyncio.sleep(0)
    assert udp.reopened == 0
    assert udp.transport is None


# ---- TCP/TLS: the same class (carrier.sip.listen_keep) ------------------------------------
# Before: a stream listener whose server closed stayed closed (health said "closed: TCP")
# until serve restarted.


async def test_a_closed_tcp_listener_is_opened_again_on_its_port() -> None:
    cfg = EndpointConfig(udp=("127.0.0.1", 0), tcp=("127.0.0.1", 0), tls=None)
    async with SipEndpoint(cfg) as ep:
        listener, port = ep.listeners["TCP"], ep.port("TCP")
        assert listener.server is not None
        listener.server.close()
        assert not listener_open(listener)
        warned: set[str] = set()
        await check_streams(ep.listeners, warned)
        assert listener_open(listener)
        assert listener.server.sockets[0].getsockname()[1] == port
        assert warned == set()
        assert await send_tcp(port, fresh_options("tcp-again"), 200) == 200


async def test_a_tcp_port_taken_meanwhile_is_retried_on_the_next_pass() -> None:
    cfg = EndpointConfig(udp=None, tcp=("127.0.0.1", 0), tls=None)
    async with SipEndpoint(cfg) as ep:
        listener, port = ep.listeners["TCP"], ep.port("TCP")
        assert listener.server is not None
        listener.server.close()
        await listener.server.wait_closed()
        warned: set[str] = set()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
            blocker.bind(("127.0.0.1", port))
            blocker.listen()
            await check_streams(ep.listeners, warned)
            assert warned == {"TCP"}  # logged once, still closed
            assert not listener_open(listener)
        await check_streams(ep.listeners, warned)
        assert listener_open(listener)
        assert await send_tcp(port, fresh_options("tcp-free"), 200) == 200
    assert ep._keeper is not None
    assert ep._keeper.cancelled()  # ended with the endpoint, not left pending



async def test_a_closed_tls_listener_is_opened_again_with_its_certificate(
    tmp_path: pathlib.Path,
) -> None:
    cert, key = self_signed(tmp_path)
    cfg = EndpointConfig(udp=("127.0.0.1", 0), tcp=None, tls=("127.0.0.1", 0),
                         tls_cert=cert, tls_key=key, tls_ca=cert)  # fmt: skip
    async with SipEndpoint(cfg) as ep, SipEndpoint(cfg) as caller:
        listener, port = ep.listeners["TLS"], ep.port("TLS")
        assert listener.server is not None
        listener.server.close()
        await check_streams(ep.listeners, set())
        assert listener_open(listener)
        assert await caller.options(f"sips:127.0.0.1:{port}", timeout=5) == 200
