"""The asyncio endpoint on real sockets (127.0.0.1): torture over UDP and TCP, calls over
UDP/TCP/TLS, inbound policy. Waits are bounded and only where a socket needs them."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import pathlib
import re
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from carrier.metrics import REGISTRY
from carrier.sip.endpoint import CallFailedError, EndpointConfig, SipCall, SipEndpoint
from carrier.sip.events import CallConfirmed, CallEnded, DtmfReceived, ReInviteReceived
from carrier.sip.message import StreamFramer
from carrier.sip.policy import InboundPolicy
from carrier.sip.sdp import LocalMedia, build_answer, build_offer, parse_sdp
from carrier.sip.transport import StreamLimits, StreamProtocol
from tests.sip.test_sip_message import INVALID
from tests.sip.test_sip_ua import VALID_ANSWERS

VECTORS = pathlib.Path(__file__).parents[1] / "vectors" / "sip" / "rfc4475"
OFFER = build_offer(LocalMedia("127.0.0.1", 20000, srtp="off"), session_id=1, version=1)
LOCAL = EndpointConfig(udp=("127.0.0.1", 0), tcp=("127.0.0.1", 0), tls=None)

# What our endpoint answers to each torture message. INVITEs are rejected by the test's
# call handler with 480; None means no answer (responses, or a stream still waiting).
EXPECTED_UDP = {**INVALID, **{k: (480 if v == 180 else v) for k, v in VALID_ANSWERS.items()}}
EXPECTED_TCP = {**EXPECTED_UDP, "clerr": None}
QUIET = 0.3  # seconds to wait for an answer that should never come


async def busy(call: SipCall) -> None:
    call.ring()
    call.reject(480)


def call_id_of(data: bytes) -> bytes:
    match = re.search(rb"\r\n(?:Call-ID|i)\s*:\s*(\S+)", data, re.IGNORECASE)
    return match.group(1) if match else b""


async def first_final(
    reader: asyncio.Queue[bytes], expect: int | None, call_id: bytes = b""
) -> int | None:
    timeout = QUIET if expect is None else 5.0
    try:
        async with asyncio.timeout(timeout):
            while True:
                # Answers to malformed requests echo the malformed fields, so only the
                # status line is read here.
                data = await reader.get()
                assert data.startswith(b"SIP/2.0 ")
                if call_id and call_id_of(data) != call_id:
                    continue  # a retransmission answering an earlier message
                status = int(data[8:11])
                if status >= 200:
                    return status
    except TimeoutError:
        return None


class UdpClient(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.queue.put_nowait(data)


def fresh_options(tag: str) -> bytes:
    return (
        "OPTIONS sip:health@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-{tag};rport\r\n"
        "Max-Forwards: 70\r\nTo: <sip:health@127.0.0.1>\r\n"
        f"From: <sip:probe@127.0.0.1>;tag={tag}\r\nCall-ID: probe-{tag}\r\n"
        "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ).encode()


async def options_status_udp(port: int) -> int | None:
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(
        UdpClient, remote_addr=("127.0.0.1", port)
    )
    try:
        transport.sendto(fresh_options("udp"))
        return await first_final(client.queue, 200)
    finally:
        transport.close()


async def send_tcp(port: int, data: bytes, expect: int | None) -> int | None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    framer = StreamFramer()

    async def pump() -> None:
        while chunk := await reader.read(4096):
            for msg in framer.feed(chunk):
                queue.put_nowait(msg)

    task = asyncio.create_task(pump())
    try:
        writer.write(data)
        await writer.drain()
        return await first_final(queue, expect)
    finally:
        task.cancel()
        writer.close()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.slow
async def test_torture_messages_over_udp_then_still_serving() -> None:
    async with SipEndpoint(LOCAL, on_call=busy) as ep:
        loop = asyncio.get_running_loop()
        transport, client = await loop.create_datagram_endpoint(
            UdpClient, remote_addr=("127.0.0.1", ep.port("UDP"))
        )
        got: dict[str, int | None] = {}
        try:
            for name, expect in sorted(EXPECTED_UDP.items()):
                while not client.queue.empty():
                    client.queue.get_nowait()
                data = (VECTORS / f"{name}.dat").read_bytes()
                transport.sendto(data)
                got[name] = await first_final(client.queue, expect, call_id_of(data))
        finally:
            transport.close()
        assert got == EXPECTED_UDP
        assert await options_status_udp(ep.port("UDP")) == 200


@pytest.mark.slow
async def test_torture_messages_over_tcp_then_still_serving() -> None:
    async with SipEndpoint(LOCAL, on_call=busy) as ep:
        got = {}
        for name, expect in sorted(EXPECTED_TCP.items()):
            data = (VECTORS / f"{name}.dat").read_bytes()
            got[name] = await send_tcp(ep.port("TCP"), data, expect)
        assert got == EXPECTED_TCP
        assert await send_tcp(ep.port("TCP"), fresh_options("tcp"), 200) == 200
        assert await options_status_udp(ep.port("UDP")) == 200


def self_signed(tmp: pathlib.Path) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "sip.pem", tmp / "sip.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


@pytest.mark.parametrize("transport", ["UDP", "TCP", "TLS"])
async def test_call_between_two_endpoints(transport: str, tmp_path: pathlib.Path) -> None:
    cert, key = self_signed(tmp_path)
    cfg = EndpointConfig(
        udp=("127.0.0.1", 0), tcp=("127.0.0.1", 0), tls=("127.0.0.1", 0),
        tls_cert=cert, tls_key=key, tls_ca=cert,
    )  # fmt: skip
    answered: asyncio.Queue[SipCall] = asyncio.Queue()

    async def answer(call: SipCall) -> None:
        media = LocalMedia("127.0.0.1", 30000, srtp="off")
        sdp, _ = build_answer(parse_sdp(call.request.body), media, session_id=2, version=1)
        call.ring()
        call.answer(sdp.serialize())
        await call.wait_for(CallConfirmed, timeout=5)
        await answered.put(call)

    async with SipEndpoint(cfg, on_call=answer) as callee, SipEndpoint(cfg) as caller:
        port = callee.port(transport)
        scheme = "sips" if transport == "TLS" else "sip"
        param = "" if transport != "TCP" else ";transport=tcp"
        call = caller.invite(f"{scheme}:bob@127.0.0.1:{port}{param}", sdp=OFFER.serialize())
        ok = await call.wait_answer(timeout=5)
        assert ok.response.status == 200
        inbound = await asyncio.wait_for(answered.get(), 5)
        # Hold by re-INVITE from the caller; the callee answers recvonly.
        hold = build_offer(LocalMedia("127.0.0.1", 20000, srtp="off"), session_id=1, version=2,
                           direction="sendonly")  # fmt: skip
        pending = asyncio.create_task(call.reinvite(hold.serialize(), timeout=5))
        event = await inbound.wait_for(ReInviteReceived, timeout=5)
        reply, neg = build_answer(parse_sdp(event.request.body), LocalMedia("127.0.0.1", 30000,
                                  srtp="off"), session_id=2, version=2)  # fmt: skip
        assert neg.direction == "recvonly"
        inbound.respond(event.key, 200, sdp=reply.serialize())
        assert (await pending).status == 200
        call.send_dtmf_info("7")
        assert (await inbound.wait_for(DtmfReceived, timeout=5)).digit == "7"
        inbound.hangup()
        assert (await call.wait_for(CallEnded, timeout=5)).reason == "bye-received"


async def test_acl_refusal_is_403_and_audited() -> None:
    refused = []
    policy = InboundPolicy.from_strings(["192.0.2.0/24"])
    guarded = SipEndpoint(LOCAL, on_call=busy, policy=policy, audit=refused.append)
    async with guarded as ep, SipEndpoint(LOCAL) as caller:
        call = caller.invite(f"sip:x@127.0.0.1:{ep.port('UDP')}", sdp=OFFER.serialize())
        with pytest.raises(CallFailedError) as info:
            await call.wait_answer(timeout=5)
        assert info.value.status == 403
        # The endpoint still answers OPTIONS (health probe).
        assert await caller.options(f"sip:127.0.0.1:{ep.port('UDP')}", timeout=5) == 200
    assert [r.rule for r in refused] == ["acl"]


async def test_tcp_keepalive_ping_gets_a_pong() -> None:
    async with SipEndpoint(LOCAL) as ep:
        reader, writer = await asyncio.open_connection("127.0.0.1", ep.port("TCP"))
        writer.write(b"\r\n\r\n")
        await writer.drain()
        assert await asyncio.wait_for(reader.readexactly(2), 5) == b"\r\n"
        writer.close()
        await writer.wait_closed()


async def test_idle_stream_with_a_half_message_is_closed() -> None:
    config = EndpointConfig(udp=None, tcp=("127.0.0.1", 0), tls=None, stream_idle_timeout=0.2)
    async with SipEndpoint(config) as ep:
        reader, writer = await asyncio.open_connection("127.0.0.1", ep.port("TCP"))
        writer.write(b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1")
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the endpoint
        writer.close()


async def test_a_stream_body_past_the_limit_gets_513_then_the_connection_closes() -> None:
    """RFC 3261 21.5.14. Before: the framer's 513 was dropped and the buffered head was
    parsed again, so the peer heard 400 "body shorter than Content-Length", which names
    its own correct framing as the fault."""
    async with SipEndpoint(LOCAL) as ep:
        reader, writer = await asyncio.open_connection("127.0.0.1", ep.port("TCP"))
        huge = fresh_options("huge").replace(b"Content-Length: 0", b"Content-Length: 70000")
        writer.write(huge)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 5)  # all of it, up to the close
        writer.close()
        assert answer.startswith(b"SIP/2.0 513 ")
        assert b'Warning: 399 - "body too large"' in answer
        assert await send_tcp(ep.port("TCP"), fresh_options("after"), 200) == 200


PAD = b"X-Pad: " + b"p" * 17000 + b"\r\n"  # past the 16 KiB header limit


@pytest.mark.parametrize("whole", [True, False], ids=["whole", "half-sent"])
async def test_a_stream_header_section_past_the_limit_gets_513_then_the_connection_closes(
        whole: bool) -> None:
    """RFC 3261 21.5.11. Before: the framer's 513 had nothing to answer with (the head was
    parsed again, and it had no end or was too large), so the connection closed (or, sent
    whole, the request was dropped on an open one) without a word."""
    async with SipEndpoint(LOCAL) as ep:
        reader, writer = await asyncio.open_connection("127.0.0.1", ep.port("TCP"))
        big = fresh_options("bighead").replace(b"Content-Length: 0", PAD + b"Content-Length: 0")
        writer.write(big if whole else big[: big.index(PAD) + 17000])
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 5)  # all of it, up to the close
        writer.close()
        assert answer.startswith(b"SIP/2.0 513 Message Too Large\r\n")
        assert b"Call-ID: probe-bighead\r\n" in answer
        assert b"CSeq: 1 OPTIONS\r\n" in answer
        assert len(answer) < 1024  # the fields a response copies, not the padding
        assert await send_tcp(ep.port("TCP"), fresh_options("after"), 200) == 200


def dropped(reason: str) -> float:
    return REGISTRY.get_sample_value("carrier_sip_dropped_total", {"reason": reason}) or 0.0


async def test_what_cannot_be_answered_is_dropped_and_counted() -> None:
    """An oversized ACK, a malformed ACK: never answered (RFC 3261 17.2.3), so each is
    dropped, and counted (they were dropped without a trace)."""
    before = dropped("oversized"), dropped("malformed")
    async with SipEndpoint(LOCAL) as ep:
        port = ep.port("UDP")
        loop = asyncio.get_running_loop()
        transport, client = await loop.create_datagram_endpoint(
            UdpClient, remote_addr=("127.0.0.1", port))
        try:
            ack = fresh_options("bigack").replace(b"OPTIONS", b"ACK")
            transport.sendto(ack.replace(b"Content-Length", PAD + b"Content-Length"))
            transport.sendto(fresh_options("badack").replace(b"OPTIONS", b"ACK").replace(
                b"Max-Forwards: 70", b"Max-Forwards: x"))
            transport.sendto(fresh_options("probe"))  # answered after both (one socket)
            assert await first_final(client.queue, 200, b"probe-probe") == 200
        finally:
            transport.close()
    assert (dropped("oversized"), dropped("malformed")) == (before[0] + 1, before[1] + 1)


async def test_a_stream_with_bare_lf_line_ends_and_pipelined_requests_is_served() -> None:
    """Before: LF-only line ends were never framed on TCP (the connection hung until the
    idle timeout); two requests in one segment are each answered."""
    async with SipEndpoint(LOCAL) as ep:
        port = ep.port("TCP")
        lf = fresh_options("lf").replace(b"\r\n", b"\n")
        assert await send_tcp(port, lf, 200) == 200
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        framer = StreamFramer()
        writer.write(fresh_options("one") + b"\r\n\r\n" + fresh_options("two").replace(
            b"\r\n", b"\n"))  # a message, a ping, a message: one segment
        await writer.drain()
        got: list[bytes] = []
        async with asyncio.timeout(5):
            while len(got) < 2:
                got.extend(framer.feed(await reader.read(4096)))
        writer.close()
        assert [call_id_of(m) for m in got] == [b"probe-one", b"probe-two"]
        assert framer.pings == 0  # (our pong is one CRLF: nothing the framer counts)



class HeldTransport(asyncio.Transport):
    """The socket end of one accepted connection, kept in memory: what the protocol
    wrote, and whether it closed (the protocol's timers run on the real loop)."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("127.0.0.9", 40000) if name == "peername" else default

    def is_closing(self) -> bool:
        return self.closed

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True


async def test_a_half_sent_message_trickled_a_byte_at_a_time_gets_no_more_time() -> None:
    """Slowloris: before, every byte restarted the 300 s idle timer, so a header sent one
    byte every few minutes held its connection (and one of the 64 per address) forever.
    Now a message has `read_timeout` from its first byte to its last, however it is
    trickled; between whole messages the idle timeout applies."""
    sink: list[bytes] = []
    proto = StreamProtocol("TCP", lambda data, source: sink.append(data), {},
                           idle_timeout=300.0, limits=StreamLimits())
    transport = HeldTransport()
    proto.connection_made(transport)
    loop = asyncio.get_running_loop()
    assert proto._idle is not None
    assert proto._idle.when() >= loop.time() + 299  # idle: the idle timeout
    proto.data_received(b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n")
    deadline = proto._idle.when()
    assert deadline <= loop.time() + proto.read_timeout  # a message began: its deadline
    for byte in b"Via: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK-slow\r\n":
        proto.data_received(bytes([byte]))
        assert proto._idle.when() == deadline  # trickling buys nothing
    proto.data_received(fresh_options("slow").split(b"\r\n", 2)[2])  # the rest, at last
    assert len(sink) == 1
    assert proto._idle.when() >= loop.time() + 299  # whole again: idle timeout
    proto._on_idle()
    assert transport.closed
    proto.connection_lost(None)


async def test_a_tls_connection_that_never_says_hello_is_closed_when_idle(
        tmp_path: pathlib.Path) -> None:
    """Before: a TLS connection is counted against the caps (and its idle timer starts)
    only once its handshake is done, and asyncio waits 60 s for one; so connections that
    never send a ClientHello were held a minute each, uncounted. Now the handshake has
    the idle timeout at most (and never more than 10 s)."""
    cert, key = self_signed(tmp_path)
    config = EndpointConfig(udp=None, tcp=None, tls=("127.0.0.1", 0), tls_cert=cert,
                            tls_key=key, stream_idle_timeout=0.2)  # fmt: skip
    async with SipEndpoint(config) as ep:
        reader, writer = await asyncio.open_connection("127.0.0.1", ep.port("TLS"))
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the endpoint
        writer.close()


async def test_tls_connections_count_against_the_caps_from_accept(
        tmp_path: pathlib.Path) -> None:
    """Before: an accepted TLS connection was counted against the connection caps only
    once its handshake ended, so a flood of TCP connects to the TLS port that never send
    a ClientHello each held a socket for up to 10 s, past every cap. Now it counts from
    accept: the host's third is closed at once, while another host still gets TLS."""
    cert, key = self_signed(tmp_path)
    config = EndpointConfig(udp=None, tcp=None, tls=("127.0.0.1", 0), tls_cert=cert,
                            tls_key=key, stream_limits=StreamLimits(total=3, per_host=2))
    async with SipEndpoint(config) as ep:
        port = ep.port("TLS")
        silent = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(reader.read(), 5) == b""  # over the host's cap
        writer.close()
        client = ssl.create_default_context()
        client.check_hostname, client.verify_mode = False, ssl.CERT_NONE
        reader, writer = await asyncio.open_connection(  # the total's third: a real client
            "127.0.0.1", port, ssl=client, local_addr=("127.0.0.2", 0))
        writer.write(fresh_options("tls").replace(b"SIP/2.0/UDP", b"SIP/2.0/TLS"))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"SIP/2.0 200 ")
        assert len(ep._streams) == 3
        for _, silent_writer in silent:
            silent_writer.close()
        writer.close()


async def test_closing_the_endpoint_ends_a_tls_connection_still_in_its_handshake(
        tmp_path: pathlib.Path) -> None:
    cert, key = self_signed(tmp_path)
    config = EndpointConfig(udp=None, tcp=None, tls=("127.0.0.1", 0), tls_cert=cert,
                            tls_key=key, stream_limits=StreamLimits(total=1, per_host=1))
    ep = SipEndpoint(config)
    await ep.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", ep.port("TLS"))
    writer.write(b"\x16\x03\x01")  # a ClientHello begun, never finished
    over_reader, over_writer = await asyncio.open_connection("127.0.0.1", ep.port("TLS"))
    assert await asyncio.wait_for(over_reader.read(), 5) == b""  # so the first is counted
    over_writer.close()
    (pending,) = ep._streams.values()
    await ep.close()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    await asyncio.wait_for(pending.closed, 5)  # uncounted, its handshake task ended
    assert not ep._streams
    assert pending._handshake is not None
    assert pending._handshake.done()


async def test_a_trailing_crlf_or_pong_is_no_message_begun() -> None:
    """A lone CRLF after a message (a trailing line end, or a keep-alive pong) may be the
    start of a ping, so the framer keeps it; it is no half-sent message: the connection
    stays on its idle timeout, not the 20 s deadline of a message."""
    proto = StreamProtocol("TCP", lambda data, source: None, {}, idle_timeout=300.0,
                           limits=StreamLimits())  # fmt: skip
    proto.connection_made(HeldTransport())
    loop = asyncio.get_running_loop()
    proto.data_received(fresh_options("crlf") + b"\r\n")
    assert proto._idle is not None
    assert proto._idle.when() >= loop.time() + 299
    proto.data_received(b"\r\n")  # the rest of a ping: answered, still idle
    assert proto._idle.when() >= loop.time() + 299
    proto.connection_lost(None)
