"""`carrier call` takes the one outbound path: the compliance gate, or the operator's test
list (audited as `operator_test`), then `Gateway.dial` with its Identity header and trunk
slot. Before: it built its own SIP endpoint and dialled anyone, unsigned and unaudited.

The trunk is a local SIP endpoint on 127.0.0.1 that answers (or refuses) each INVITE.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime as dt
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from carrier.app import probe_trunk
from carrier.call import Call, Clearance, DialFailure, DialOutcome, DialRequest
from carrier.cli import main
from carrier.gateway import Gateway
from carrier.media_leg import MediaLeg
from carrier.records.crypto import LocalKek
from carrier.records.store import Channel, ConsentKind, Records
from carrier.settings import Settings, load_settings
from carrier.sip.cli import clearance_for, tone
from carrier.sip.endpoint import EndpointConfig, SipCall, SipEndpoint
from carrier.sip.events import CallConfirmed
from carrier.sip.sdp import LocalMedia, build_answer, parse_sdp
from carrier.sip.transaction import Timers
from carrier.trunks import TrunkState

pytestmark = pytest.mark.postgres
REPO = Path(__file__).resolve().parents[2]
LOCAL = EndpointConfig(udp=("127.0.0.1", 0), tcp=("127.0.0.1", 0), tls=None)
TEST_NUMBER = "+15550100199"  # on dialer.operator_test_numbers in config/carrier.yaml
STRANGER = "+12125550166"  # nobody's number: no consent on file


@pytest.fixture(autouse=True)
def kek_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARRIER_KEK", base64.b64encode(bytes(range(32))).decode())


class Trunk:
    """The far end of the trunk: records each INVITE, answers or refuses it."""

    def __init__(self, status: int = 200, *, audio: bool = True) -> None:
        self.status = status
        self.audio = audio
        self.invites: list[SipCall] = []

    async def __call__(self, call: SipCall) -> None:
        self.invites.append(call)
        if self.status != 200:
            call.reject(self.status)
            return
        if not self.audio:  # answers, but its media port is dead: a silent call
            media = LocalMedia("127.0.0.1", 39998, srtp="off")
            sdp, _ = build_answer(parse_sdp(call.request.body), media, session_id=3,
                                  version=1)
            call.answer(sdp.serialize())
            await call.wait_for(CallConfirmed, timeout=5)
            return
        leg = await MediaLeg.open("127.0.0.1", srtp="off")
        try:
            call.answer(leg.answer(call.request.body))
            await call.wait_for(CallConfirmed, timeout=5)
            await leg.media.play(tone(1.0, 600.0))  # the far end speaks while we listen
        finally:
            await leg.close()


def config_with_trunk(tmp_path: Path, port: int) -> Path:
    cfg = tmp_path / "config"
    shutil.copytree(REPO / "config", cfg)
    trunks = (cfg / "trunks.yaml").read_text().replace("port: 5080", f"port: {port}")
    (cfg / "trunks.yaml").write_text(trunks)
    return cfg


async def carrier_call(cfg: Path, db_url: str, tmp_path: Path, to: str,
                       *extra: str) -> int:
    argv = ["call", to, "--trunk", "demo", "--config", str(cfg), "--timeout", "5",
            "--database-url", db_url, "--data-dir", str(tmp_path / "var"), *extra]
    # The CLI runs its own event loop (asyncio.run); keep it off the test's loop.
    return await asyncio.to_thread(main, argv)


async def with_trunk(trunk: Trunk, body: Callable[[int], Awaitable[int]]) -> int:
    async with SipEndpoint(LOCAL, on_call=trunk) as ep:
        return await body(ep.port("UDP"))


async def test_a_test_number_is_called_and_audited_as_operator_test(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trunk = Trunk()
    code = await with_trunk(trunk, lambda port: carrier_call(
        config_with_trunk(tmp_path, port), db_url, tmp_path, TEST_NUMBER))
    out = capsys.readouterr().out
    assert code == 0, out
    assert "answered: 200" in out
    assert "media: sent" in out
    [invite] = trunk.invites
    assert invite.request.get_all("Identity"), "the test call is signed like any other"
    conn = await asyncpg.connect(db_url)
    try:
        row = await conn.fetchrow("SELECT reason, details FROM audit_log WHERE action ="
                                  " 'dial.decision' ORDER BY seq DESC LIMIT 1")
        signed = await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'stir.sign'")
    finally:
        await conn.close()
    assert row["reason"] == "operator_test"
    assert "0199" not in row["details"]  # the number itself is not in the audit details
    assert signed == 1


async def test_a_number_without_consent_is_refused_naming_the_rule(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trunk = Trunk()
    code = await with_trunk(trunk, lambda port: carrier_call(
        config_with_trunk(tmp_path, port), db_url, tmp_path, STRANGER))
    out, err = capsys.readouterr()
    assert code == 77, (out, err)  # not 2 (a usage error): docs/exit-codes.md
    assert "carrier call: refused by the compliance gate: tcpa.consent.missing" in err
    assert out == ""
    assert "0166" not in err  # the number called is not repeated
    assert trunk.invites == []  # nothing dialled
    conn = await asyncpg.connect(db_url)
    try:
        reason = await conn.fetchval("SELECT reason FROM audit_log WHERE action ="
                                     " 'dial.decision' ORDER BY seq DESC LIMIT 1")
    finally:
        await conn.close()
    assert reason == "tcpa.consent.missing"


@pytest.mark.parametrize(("calling", "why"), [
    ("+15550100177", "not a number of trunk 'demo'"),  # no trunk delivers it
    ("+15550100101", "not in stir.own_numbers"),  # the trunk's, but signing would say C
])
async def test_a_calling_number_the_clinic_does_not_own_is_refused_before_dialling(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], calling: str, why: str
) -> None:
    """`--from` is held to what `dialer.caller_id` is held to. Before, any number went
    out (shown as the clinic's, signed attestation C)."""
    trunk = Trunk()
    code = await with_trunk(trunk, lambda port: carrier_call(
        config_with_trunk(tmp_path, port), db_url, tmp_path, TEST_NUMBER, "--from", calling))
    out, err = capsys.readouterr()
    assert code == 1, (out, err)
    assert f"--from: {why}" in err
    assert calling[-4:] not in err  # what was typed is not repeated
    assert trunk.invites == []


async def test_an_owned_calling_number_is_presented(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trunk = Trunk()
    code = await with_trunk(trunk, lambda port: carrier_call(
        config_with_trunk(tmp_path, port), db_url, tmp_path, TEST_NUMBER,
        "--from", "+15550100100"))
    assert code == 0, capsys.readouterr()
    [invite] = trunk.invites
    assert "+15550100100" in invite.request.get("From")


async def test_the_clearance_ends_when_the_calling_window_closes(
    db_url: str, tmp_path: Path
) -> None:
    """The gate's allowance ends at the window's close, and `carrier call` passes it as
    the DialRequest's `not_after` (before, it was dropped: a call cleared at 20:59:50 could
    ring after 21:00, its INVITE sent once a trunk slot came)."""
    cfg = config_with_trunk(tmp_path, 5080)
    settings = load_settings(cfg, env={})
    zone = ZoneInfo("America/New_York")
    now = dt.datetime(2026, 12, 9, 20, 58, tzinfo=zone)  # a Wednesday, not a holiday
    records = await Records.open(db_url, LocalKek(bytes(range(32))), tmp_path / "spool")
    try:
        pid = await records.add_patient("Testa Patientson", "+12125550142", actor="test",
                                        reason="synthetic")
        await records.pool.execute("UPDATE patients SET state = 'NY', time_zone = $2"
                                   " WHERE id = $1", pid, "America/New_York")
        await records.consent_grant(pid, Channel.VOICE, ConsentKind.TCPA_EXPRESS_WRITTEN,
                                    source="intake", evidence_ref="form-1", actor="test",
                                    at=now - dt.timedelta(days=30))
        cleared = await clearance_for(records, settings, "+12125550142",
                                      purpose="appointment_reminder", actor="test",
                                      origid="o-window", now=now.astimezone(dt.UTC))
    finally:
        await records.close()
    assert not isinstance(cleared, str), cleared
    clearance, not_after = cleared
    assert clearance.rule == "allowed"
    assert not_after is not None
    assert now < not_after <= dt.datetime(2026, 12, 9, 21, 0, tzinfo=zone)


async def test_a_silent_test_call_exits_non_zero(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await with_trunk(Trunk(audio=False), lambda port: carrier_call(
        config_with_trunk(tmp_path, port), db_url, tmp_path, TEST_NUMBER))
    out, err = capsys.readouterr()
    assert code == 3, out
    assert "received 0" in out
    assert "silent call" in err


async def test_a_busy_test_number_exits_non_zero(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await with_trunk(Trunk(486), lambda port: carrier_call(
        config_with_trunk(tmp_path, port), db_url, tmp_path, TEST_NUMBER))
    assert code == 1
    assert "carrier call: call failed: 486" in capsys.readouterr().err


async def test_gateway_dial_refuses_a_request_without_clearance(tmp_path: Path) -> None:
    settings: Settings = load_settings(REPO / "config", env={})
    audited: list[tuple[str, str]] = []

    async def audit(actor: str, action: str, record: tuple[str, object], reason: str,
                    details: object) -> None:
        audited.append((action, reason))

    trunk = Trunk()
    async with SipEndpoint(LOCAL, on_call=trunk), \
            Gateway(settings, audit=audit, endpoint_config=LOCAL) as gw:
        got = await gw.dial(DialRequest(to=STRANGER, from_number="+15550100100",
                                        trunk="demo", origid="o-1"))
    assert isinstance(got, DialFailure)
    assert (got.outcome, got.code) == (DialOutcome.REJECTED, 403)
    assert audited == [("dial.refused", "no compliance clearance")]
    assert trunk.invites == []


async def test_gateway_fails_over_on_503_and_probes_the_trunk_back(tmp_path: Path) -> None:
    """One trunk pool for every outbound call: a 503 from the primary marks it down and
    the secondary carries the call; after the hold-down an OPTIONS probe brings the
    primary back (the old `trunk_up` flag never reset)."""
    base = load_settings(REPO / "config", env={})
    down, up = Trunk(503), Trunk()
    async with SipEndpoint(LOCAL, on_call=down) as ep1, SipEndpoint(LOCAL, on_call=up) as ep2:
        primary = dataclasses.replace(base.trunk("demo"), port=ep1.port("UDP"),
                                      failover="backup")
        backup = dataclasses.replace(base.trunk("demo"), name="backup", port=ep2.port("UDP"))
        settings = dataclasses.replace(base, trunks=(primary, backup))
        async with Gateway(settings, endpoint_config=LOCAL) as gw:
            req = DialRequest(to=TEST_NUMBER, from_number="+15550100100", trunk="demo",
                              origid="o-2", clearance=Clearance("operator_test",
                                                                operator_test=True))
            placed = await gw.place(req)
            assert isinstance(placed.result, Call)
            assert (placed.trunk, placed.down) == ("backup", ("demo",))
            assert (len(down.invites), len(up.invites)) == (1, 1)
            await placed.result.hangup("done")
            gw.trunks.release("backup")
            pool = gw.trunks.pool
            assert pool.state("demo") is TrunkState.DOWN
            pool.hold_down = 0.0  # the test does not wait 30 s for the hold-down
            pool.mark_down("demo", time.monotonic())
            stop = asyncio.Event()

            async def probe_until_up(name: str) -> bool:
                ok = await probe_trunk(gw, name)
                if ok:  # the loop records this answer, then ends
                    stop.set()
                return ok

            prober = asyncio.ensure_future(gw.trunks.probe_loop(probe_until_up, stop,
                                                                idle=0.05))
            try:  # bounded wait on the real OPTIONS round trip
                await asyncio.wait({prober}, timeout=4)
            finally:
                stop.set()
                await prober
            assert pool.state("demo") is TrunkState.UP


async def test_gateway_fails_over_when_the_trunk_does_not_answer_at_all() -> None:
    """No response to the INVITE (timer B) is our trunk failing, not the callee: the call
    goes to the failover trunk. A fast T1 keeps timer B (64*T1) short."""
    base = load_settings(REPO / "config", env={})
    loop = asyncio.get_running_loop()
    silent, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                    local_addr=("127.0.0.1", 0))
    up = Trunk()
    try:
        async with SipEndpoint(LOCAL, on_call=up) as ep2:
            port = silent.get_extra_info("sockname")[1]
            primary = dataclasses.replace(base.trunk("demo"), port=port, failover="backup")
            backup = dataclasses.replace(base.trunk("demo"), name="backup",
                                         port=ep2.port("UDP"))
            settings = dataclasses.replace(base, trunks=(primary, backup))
            fast = dataclasses.replace(LOCAL, timers=Timers(t1=0.01, t2=0.04))
            async with Gateway(settings, endpoint_config=fast) as gw:
                placed = await gw.place(DialRequest(
                    to=TEST_NUMBER, from_number="+15550100100", trunk="demo", origid="o-3",
                    clearance=Clearance("operator_test", operator_test=True)))
                assert isinstance(placed.result, Call), placed
                assert (placed.trunk, placed.down) == ("backup", ("demo",))
                await placed.result.hangup("done")
                gw.trunks.release("backup")
    finally:
        silent.close()


def test_a_refused_call_run_as_an_operator_runs_it_exits_77_on_stderr(
    db_url: str, tmp_path: Path
) -> None:
    # The command as typed at a shell: a subprocess, the number refused (no consent).
    # Before: exit 2 (the usage code a script reads as "typed it wrong") and the refusal on
    # stdout, where a script's output is parsed.
    from tests.ops.live import carrier, operator_env  # noqa: PLC0415

    cfg = config_with_trunk(tmp_path, 5999)
    (tmp_path / "cwd").mkdir()
    done = carrier("call", STRANGER, "--trunk", "demo", "--config", str(cfg),
                   "--database-url", db_url, "--data-dir", str(tmp_path / "var"),
                   config=None, cwd=tmp_path / "cwd",
                   env=operator_env(CARRIER_KEK=base64.b64encode(bytes(range(32))).decode()))
    assert done.code == 77, done.err
    assert done.out == ""
    assert done.err.strip().splitlines()[-1] == (
        "carrier call: refused by the compliance gate: tcpa.consent.missing (nothing dialled)")
    assert "5550166" not in done.err
