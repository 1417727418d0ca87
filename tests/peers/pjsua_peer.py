"""A pjsua2 "phone" in its own process, driven over a pipe: the independent SIP peer in tests.

Usage: PYTHONPATH=<repo root> python -m tests.peers.pjsua_peer '<json config>'

Commands arrive on stdin as JSON lines `{"id": N, "cmd": NAME, ...args}`; every command gets
exactly one `{"event": "reply", "id": N, "ok": bool, "result": {...} | "error": str}` on
stdout, and asynchronous events are `{"event": NAME, "t": monotonic, ...}` lines. pjsip's own
logs go to stderr (fd 1 is pointed at stderr so nothing C-level can corrupt the event stream).

Threads (PJSUA2_PEER.md): one Endpoint, `threadCnt=0`, `mainThreadOnly=True`; the main thread
loops `libHandleEvents(loop_ms)` (5 ms unless set) and is the only thread calling pjsua2; a
reader thread only parses stdin into a queue; audio callbacks run on the null sound device's
clock thread.
"""

from __future__ import annotations

import bisect
import collections
import gc
import json
import os
import secrets
import signal
import sys
import threading
import time
from typing import Any

# Keep the JSON event stream on a private copy of fd 1; everything printed to fd 1 by pjsip
# (or by anyone else) now lands on stderr. Done before importing pjsua2.
_EVENT_FD = os.dup(1)
os.dup2(2, 1)
sys.stdout = sys.stderr

import pjsua2 as pj  # noqa: E402

from .digest_server import challenge_value, digest_ok, find_header  # noqa: E402
from .peer_audio import measure, read_wav, tone, write_wav  # noqa: E402
from .peer_objects import SRTP_MODES, AudioPort, PeerAccount, PeerCall, tx_option  # noqa: E402
from .peer_waits import Pending, Poll, WaitFailed, collect, index_at, run_of  # noqa: E402

HOST = "127.0.0.1"
TRANSPORT_TYPES = {
    "udp": pj.PJSIP_TRANSPORT_UDP,
    "tcp": pj.PJSIP_TRANSPORT_TCP,
    "tls": pj.PJSIP_TRANSPORT_TLS,
}
COMMAND_ERRORS = (pj.Error, ValueError, KeyError, TypeError, OSError, LookupError)


class CommandError(Exception):
    """A command the peer cannot carry out; reported to the client as `ok: false`."""


class Peer:
    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self._out = os.fdopen(_EVENT_FD, "w", buffering=1, encoding="utf-8")
        self._out_lock = threading.Lock()
        # Stdin thread to main loop (atomic appends and pops; Queue.get_nowait raised Empty
        # 200 times a second).
        self.commands: collections.deque[dict[str, Any] | None] = collections.deque()
        self.calls: dict[int, PeerCall] = {}
        self.buddies: list[Any] = []
        self.pending: list[Pending] = []
        self.accept_transfer = bool(cfg.get("accept_transfer", True))
        # The main loop's wait for SIP events: commands and wait replies lag up to this. 20
        # (the concurrent bench's 12 phones) spares 200 wakeups a second of 20-45 us each per
        # phone; frame stamps and play_done come from the clock thread either way.
        self.loop_ms = int(cfg.get("loop_ms", 5))
        self.auto = self._auto_codes(cfg.get("auto_answer"))
        self.quitting = False
        self.ep = pj.Endpoint()
        self.acc: PeerAccount | None = None
        self.ports: dict[str, int] = {}
        self.nonces: set[str] = set()

    # -- output -------------------------------------------------------------------------

    def emit(self, event: str, **fields: Any) -> None:
        line = json.dumps({"event": event, "t": time.monotonic(), **fields})
        with self._out_lock:
            self._out.write(line + "\n")
            self._out.flush()

    def reply(
        self, req_id: int, result: dict[str, Any] | None = None, error: str | None = None
    ) -> None:
        if error is None:
            self.emit("reply", id=req_id, ok=True, result=result or {})
        else:
            self.emit("reply", id=req_id, ok=False, error=error)

    # -- library set-up -------------------------------------------------------------------

    def start(self) -> None:
        cfg = self.cfg
        self.ep.libCreate()
        ep_cfg = pj.EpConfig()
        ep_cfg.uaConfig.threadCnt = 0
        ep_cfg.uaConfig.mainThreadOnly = True
        ep_cfg.uaConfig.maxCalls = 4
        ep_cfg.uaConfig.userAgent = cfg.get("user_agent", "pjsua2-test-peer")
        ep_cfg.logConfig.level = int(cfg.get("log_level", 4))
        ep_cfg.logConfig.consoleLevel = int(cfg.get("log_level", 4))
        ep_cfg.logConfig.msgLogging = True
        med = ep_cfg.medConfig
        med.clockRate = 16000
        med.sndClockRate = 16000
        med.channelCount = 1
        med.audioFramePtime = 20
        med.ptime = 20
        med.noVad = True
        med.ecTailLen = 0
        self.ep.libInit(ep_cfg)
        for name in cfg.get("transports", ["udp"]):
            self.ports[name] = self._create_transport(name)
        self.ep.audDevManager().setNullDev()
        self.ep.libStart()
        self._set_codecs(cfg.get("codecs", ["PCMU", "PCMA"]))
        self.acc = PeerAccount(self)
        self.acc.create(self._account_config())

    def _create_transport(self, name: str) -> int:
        tc = pj.TransportConfig()
        tc.port = int(self.cfg.get("ports", {}).get(name, 0))
        tc.boundAddress = HOST
        tc.publicAddress = HOST
        if name == "tls":
            tls = self.cfg.get("tls", {})
            tc.tlsConfig.method = pj.PJSIP_TLSV1_2_METHOD
            tc.tlsConfig.certFile = tls.get("cert", "")
            tc.tlsConfig.privKeyFile = tls.get("key", "")
            tc.tlsConfig.CaListFile = tls.get("ca", "")
            tc.tlsConfig.verifyServer = bool(tls.get("verify_server", False))
            tc.tlsConfig.verifyClient = bool(tls.get("verify_client", False))
            tc.tlsConfig.requireClientCert = bool(tls.get("require_client_cert", False))
        tid = self.ep.transportCreate(TRANSPORT_TYPES[name], tc)
        return int(str(self.ep.transportGetInfo(tid).localName).rsplit(":", 1)[1])

    def _set_codecs(self, wanted: list[str]) -> None:
        """Listed codecs get priorities 255, 254, ...; every other codec is disabled (0)."""
        ids = [str(c.codecId) for c in self.ep.codecEnum2()]
        for cid in ids:
            self.ep.codecSetPriority(cid, 0)
        for rank, name in enumerate(wanted):
            matches = [cid for cid in ids if cid.lower().startswith(name.lower() + "/")]
            if not matches:
                raise CommandError(f"codec {name!r} not available (have {ids})")
            self.ep.codecSetPriority(matches[0], 255 - rank)

    def _account_config(self) -> pj.AccountConfig:
        cfg = self.cfg
        user = cfg.get("user", "peer")
        domain = cfg.get("domain", HOST)
        acfg = pj.AccountConfig()
        acfg.idUri = cfg.get("id_uri") or f"sip:{user}@{domain}"
        if cfg.get("registrar"):
            acfg.regConfig.registrarUri = cfg["registrar"]
            acfg.regConfig.registerOnAdd = True
            acfg.regConfig.timeoutSec = int(cfg.get("reg_expires", 300))
            acfg.regConfig.retryIntervalSec = 0
        if cfg.get("password") is not None:
            acfg.sipConfig.authCreds.append(
                pj.AuthCredInfo(
                    "digest",
                    cfg.get("realm", "*"),
                    cfg.get("auth_user") or user,
                    pj.PJSIP_CRED_DATA_PLAIN_PASSWD,
                    cfg["password"],
                )
            )
        if cfg.get("proxy"):
            acfg.sipConfig.proxies.append(cfg["proxy"])
        nat = acfg.natConfig
        nat.contactRewriteUse = 0
        nat.viaRewriteUse = 0
        nat.sdpNatRewriteUse = 0
        nat.sipStunUse = pj.PJSUA_STUN_USE_DISABLED
        nat.mediaStunUse = pj.PJSUA_STUN_USE_DISABLED
        nat.iceEnabled = False
        acfg.mediaConfig.transportConfig.boundAddress = HOST
        acfg.mediaConfig.transportConfig.publicAddress = HOST
        acfg.mediaConfig.transportConfig.port = 0  # ephemeral RTP ports
        acfg.mediaConfig.srtpUse = SRTP_MODES[cfg.get("srtp", "disabled")]
        acfg.mediaConfig.srtpSecureSignaling = int(cfg.get("srtp_secure_signaling", 0))
        for name in cfg.get("srtp_cryptos", []):
            crypto = pj.SrtpCrypto()
            crypto.name = name
            acfg.mediaConfig.srtpOpt.cryptos.append(crypto)
        return acfg

    # -- call bookkeeping (pj main thread) ------------------------------------------------

    def adopt(self, call: PeerCall) -> None:
        self.calls[call.handle] = call

    def call_ended(self, call: PeerCall) -> None:
        """Ended calls stay in `calls` (with their audio) until quit, for stats/save_audio."""

    @staticmethod
    def _auto_codes(value: Any) -> list[int]:
        if value is None or value is False:
            return []
        return [int(v) for v in value] if isinstance(value, list) else [int(value)]

    def auto_answer(self, call: PeerCall) -> None:
        for code in self.auto:
            prm = pj.CallOpParam()
            prm.statusCode = code
            call.answer(prm)

    def check_challenge(self, msg: str) -> tuple[int, dict[str, str], str] | None:
        """With the `challenge` option the peer acts as a trunk demanding digest auth on
        INVITE: None lets the call in; else (401|407, challenge header, outcome)."""
        ch = self.cfg.get("challenge")
        if not ch:
            return None
        code = int(ch.get("code", 407))
        auth_hdr, chal_hdr = (
            ("Proxy-Authorization", "Proxy-Authenticate")
            if code == 407
            else ("Authorization", "WWW-Authenticate")
        )
        algorithm = str(ch.get("algorithm", "MD5"))
        cred = find_header(msg, auth_hdr)
        if cred and digest_ok(cred, "INVITE", ch["realm"], ch["users"], self.nonces, algorithm):
            return None
        nonce = secrets.token_hex(12)
        self.nonces.add(nonce)
        header = {chal_hdr: challenge_value(ch["realm"], nonce, algorithm)}
        return code, header, ("bad credentials" if cred else "challenged")

    def _call(self, args: dict[str, Any]) -> PeerCall:
        handle = args.get("call")
        if handle is not None:
            try:
                return self.calls[int(handle)]
            except KeyError:
                raise CommandError(f"no call {handle}") from None
        live = [c for c in self.calls.values() if c.state not in ("NULL", "DISCONNECTED")]
        if not live:
            raise CommandError("no live call")
        return live[-1]

    # -- commands -------------------------------------------------------------------------

    def do_ping(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ports": self.ports, "calls": {h: c.state for h, c in self.calls.items()}}

    def do_call(self, args: dict[str, Any]) -> dict[str, Any]:
        assert self.acc is not None
        call = PeerCall(self, self.acc)
        if args.get("srtp") is not None:
            call.srtp = SRTP_MODES[args["srtp"]]
        prm = pj.CallOpParam(True)
        prm.txOption = tx_option(args.get("headers"))
        self.adopt(call)
        call.makeCall(args["uri"], prm)
        if call.state == "NULL":
            call.state = "CALLING"
        return {"call": call.handle}

    def do_send_im(self, args: dict[str, Any]) -> dict[str, Any]:
        """Send a SIP MESSAGE (RFC 3428) to `uri`; the answer arrives as `im_status`."""
        assert self.acc is not None
        cfg = pj.BuddyConfig()
        cfg.uri = args["uri"]
        cfg.subscribe = False  # a text, not a presence subscription
        buddy = pj.Buddy()
        buddy.create(self.acc, cfg)
        self.buddies.append(buddy)  # keep the reference until the peer exits
        prm = pj.SendInstantMessageParam()
        prm.content = args["text"]
        prm.contentType = args.get("content_type", "text/plain")
        buddy.sendInstantMessage(prm)
        return {}

    def do_answer(self, args: dict[str, Any]) -> dict[str, Any]:
        call = self._call(args)
        prm = pj.CallOpParam()
        prm.statusCode = int(args.get("code", 200))
        if args.get("reason"):
            prm.reason = args["reason"]
        prm.txOption = tx_option(args.get("headers"))
        call.answer(prm)
        return {"call": call.handle}

    def do_auto_answer(self, args: dict[str, Any]) -> dict[str, Any]:
        self.auto = self._auto_codes(args.get("codes"))
        return {"codes": self.auto}

    def do_hangup(self, args: dict[str, Any]) -> dict[str, Any]:
        call = self._call(args)
        prm = pj.CallOpParam()
        if args.get("code"):
            prm.statusCode = int(args["code"])
        prm.txOption = tx_option(args.get("headers"))
        call.hangup(prm)
        return {"call": call.handle}

    def do_hold(self, args: dict[str, Any]) -> dict[str, Any]:
        call = self._call(args)
        call.setHold(pj.CallOpParam(True))
        return {"call": call.handle}

    def do_unhold(self, args: dict[str, Any]) -> dict[str, Any]:
        call = self._call(args)
        prm = pj.CallOpParam(True)
        prm.opt.flag = pj.PJSUA_CALL_UNHOLD
        call.reinvite(prm)
        return {"call": call.handle}

    def do_xfer(self, args: dict[str, Any]) -> dict[str, Any]:
        call = self._call(args)
        prm = pj.CallOpParam(True)
        prm.txOption = tx_option(args.get("headers"))
        call.xfer(args["uri"], prm)
        return {"call": call.handle}

    def do_xfer_replaces(self, args: dict[str, Any]) -> dict[str, Any]:
        """Attended transfer: REFER the far end of `call` to the far end of `target`, with
        Replaces (RFC 3891)."""
        call = self._call(args)
        target = self._call({"call": args["target"]})
        call.xferReplaces(target, pj.CallOpParam(True))
        return {"call": call.handle}

    def do_dtmf(self, args: dict[str, Any]) -> dict[str, Any]:
        call = self._call(args)
        method = args.get("method", "rfc4733")
        if method == "rfc4733":
            call.dialDtmf(str(args["digits"]))  # RTP telephone-event
        elif method == "info":
            prm = pj.CallSendDtmfParam()
            prm.digits = str(args["digits"])
            prm.method = pj.PJSUA_DTMF_METHOD_SIP_INFO
            prm.duration = int(args.get("duration_ms", 160))
            call.sendDtmf(prm)
        else:
            raise CommandError(f"unknown DTMF method {method!r} (rfc4733 or info)")
        return {"call": call.handle}

    def _port(self, call: PeerCall) -> AudioPort:
        if call.port is None:
            raise CommandError(f"call {call.handle} has no audio port")
        return call.port

    def do_play(self, args: dict[str, Any]) -> dict[str, Any]:
        """Play a WAV (`path`) or a `tone` {freq, seconds, amplitude} into the call; queued
        audio starts flowing as soon as the call's media is up."""
        call = self._call(args)
        if args.get("path"):
            samples = read_wav(args["path"])
        elif args.get("tone"):
            t = args["tone"]
            amplitude = float(t.get("amplitude", 0.3))
            samples = tone(float(t["freq"]), float(t["seconds"]), amplitude=amplitude)
        else:
            raise CommandError("play needs `path` or `tone`")
        loop = bool(args.get("loop", False))
        play_id = self._port(call).start_playback(samples, loop=loop)
        return {"call": call.handle, "play_id": play_id, "seconds": samples.size / 16000}

    def do_stop_play(self, args: dict[str, Any]) -> dict[str, Any]:
        call = self._call(args)
        self._port(call).stop_playback()
        return {"call": call.handle}

    def _pending(self, req_id: int, args: dict[str, Any], poll: Poll, port: AudioPort) -> Pending:
        return Pending(req_id, time.monotonic() + float(args.get("timeout", 10)), poll, port)

    def do_measure(self, args: dict[str, Any], req_id: int) -> Pending:
        """Dominant frequency and RMS of the next `frames` frames with RMS >= `min_rms`."""
        call = self._call(args)
        port = self._port(call)

        def finish(frames: list[bytes], stamps: list[float]) -> dict[str, Any]:
            m = measure(b"".join(frames)).as_dict()
            result = {"call": call.handle, **m, "frames": len(frames), "first_t": stamps[0]}
            self.emit("audio_measure", **result)
            return result

        start = index_at(port, args.get("since_t"))
        want = int(args.get("frames", 25))
        min_rms = float(args.get("min_rms", 0.0))
        poll = collect(port, start=start, want=want, min_rms=min_rms, finish=finish)
        return self._pending(req_id, args, poll, port)

    def do_record(self, args: dict[str, Any], req_id: int) -> Pending:
        """Write the next `frames` frames with RMS >= `min_rms` to a 16 kHz WAV at `path`."""
        call = self._call(args)
        port = self._port(call)
        path = str(args["path"])

        def finish(frames: list[bytes], stamps: list[float]) -> dict[str, Any]:
            pcm = b"".join(frames)
            write_wav(path, pcm)
            m = measure(pcm).as_dict()
            return {"call": call.handle, "path": path, **m, "frames": len(frames),
                    "first_t": stamps[0]}  # fmt: skip

        start = index_at(port, args.get("since_t"))
        want = int(args.get("frames", 250))
        min_rms = float(args.get("min_rms", 0.0))
        poll = collect(port, start=start, want=want, min_rms=min_rms, finish=finish)
        return self._pending(req_id, args, poll, port)

    def do_save_audio(self, args: dict[str, Any]) -> dict[str, Any]:
        """Write what was received between `since_t` and `until_t` (peer monotonic times;
        default: the whole call so far) to a 16 kHz WAV at once."""
        call = self._call(args)
        port = self._port(call)
        times = list(port.times)
        frames = port.frames[: len(times)]
        lo = bisect.bisect_left(times, float(args.get("since_t") or 0.0))
        until = args.get("until_t")
        hi = len(times) if until is None else bisect.bisect_left(times, float(until))
        pcm = b"".join(frames[lo:hi])
        write_wav(str(args["path"]), pcm)
        return {"call": call.handle, "path": str(args["path"]), "frames": hi - lo,
                **measure(pcm).as_dict()}  # fmt: skip

    def do_wait_audio(self, args: dict[str, Any], req_id: int) -> Pending:
        """Reply at `frames` consecutive frames with RMS >= `min_rms` (speech began)."""
        return self._wait_run(args, req_id, loud=True, default_frames=3)

    def do_wait_silence(self, args: dict[str, Any], req_id: int) -> Pending:
        """Reply at `frames` consecutive frames with RMS < `min_rms` (speech ended)."""
        return self._wait_run(args, req_id, loud=False, default_frames=25)

    def _wait_run(
        self, args: dict[str, Any], req_id: int, *, loud: bool, default_frames: int
    ) -> Pending:
        call = self._call(args)
        port = self._port(call)
        start = index_at(port, args.get("since_t"))
        want = int(args.get("frames", default_frames))
        min_rms = float(args.get("min_rms", 300.0))
        inner = run_of(port, start=start, want=want, min_rms=min_rms, loud=loud)

        def poll(expired: bool) -> dict[str, Any] | None:
            found = inner(expired)
            return None if found is None else {"call": call.handle, "t": found["t"]}

        return self._pending(req_id, args, poll, port)

    def do_stats(self, args: dict[str, Any]) -> dict[str, Any]:
        call = self._call(args)
        result: dict[str, Any] = {"call": call.handle, "state": call.state}
        port = self._port(call)
        result["frames_rx"] = port.received
        result["frames_tx"] = port.sent_frames
        if call.state != "DISCONNECTED" and call.hasMedia():
            rtcp = call.getStreamStat(0).rtcp
            result.update(
                rx_packets=int(rtcp.rxStat.pkt),
                tx_packets=int(rtcp.txStat.pkt),
                rx_loss=int(rtcp.rxStat.loss),
                rx_dup=int(rtcp.rxStat.dup),
                rx_reorder=int(rtcp.rxStat.reorder),
                rx_jitter_us_mean=float(rtcp.rxStat.jitterUsec.mean),
                rx_jitter_us_max=float(rtcp.rxStat.jitterUsec.max),
                rtt_us_mean=float(rtcp.rttUsec.mean),
            )
            si = call.getStreamInfo(0)
            result["codec"] = f"{si.codecName}/{si.codecClockRate}"
        return result

    def do_register(self, args: dict[str, Any]) -> dict[str, Any]:
        assert self.acc is not None
        self.acc.setRegistration(bool(args.get("renew", True)))
        return {}

    def do_transfer_policy(self, args: dict[str, Any]) -> dict[str, Any]:
        self.accept_transfer = bool(args.get("accept", True))
        return {"accept": self.accept_transfer}

    def do_quit(self, args: dict[str, Any]) -> dict[str, Any]:
        self.quitting = True
        return {}

    WAITING_COMMANDS = frozenset({"measure", "record", "wait_audio", "wait_silence"})

    def dispatch(self, msg: dict[str, Any]) -> None:
        req_id = int(msg.get("id", 0))
        name = str(msg.get("cmd", ""))
        handler = getattr(self, "do_" + name, None)
        if handler is None:
            self.reply(req_id, error=f"unknown command {name!r}")
            return
        try:
            if name in self.WAITING_COMMANDS:
                pending = handler(msg, req_id)
                self.pending.append(pending)
                self._poll_one(pending, time.monotonic())
            else:
                self.reply(req_id, handler(msg))
        except (CommandError, WaitFailed, *COMMAND_ERRORS) as exc:
            self.reply(req_id, error=_describe(exc))

    def _poll_one(self, pending: Pending, now: float) -> None:
        try:
            result = pending.poll(now >= pending.deadline)
        except (CommandError, WaitFailed, *COMMAND_ERRORS) as exc:
            self.pending.remove(pending)
            self.reply(pending.req_id, error=_describe(exc))
            return
        if result is not None:
            self.pending.remove(pending)
            self.reply(pending.req_id, result)

    # -- main loop and orderly shutdown ---------------------------------------------------

    def read_commands(self) -> None:
        """Reader thread: parse stdin lines; never calls pjsua2. EOF means quit."""
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                self.commands.append(json.loads(line))
            except json.JSONDecodeError as exc:
                self.emit("error", message=f"bad command line: {exc}")
        self.commands.append(None)

    def run(self) -> None:
        """Serve until `quit` or EOF. Holds no pjsua2 object in a local after returning."""
        threading.Thread(target=self.read_commands, name="stdin", daemon=True).start()
        self.emit("ready", ports=self.ports, host=HOST, pid=os.getpid())
        while not self.quitting:
            self.ep.libHandleEvents(self.loop_ms)
            self._drain_commands()
            self._poll_pending()

    def _drain_commands(self) -> None:
        while self.commands and not self.quitting:
            msg = self.commands.popleft()
            if msg is None:
                self.quitting = True
            else:
                self.dispatch(msg)

    def _poll_pending(self) -> None:
        now = time.monotonic()
        for pending in list(self.pending):
            if pending.due(now):
                self._poll_one(pending, now)

    def shutdown(self) -> None:
        """Orderly teardown on the pj thread (PJSUA2_PEER.md): calls, then ports, then the
        account, then the endpoint. Every step is a helper so that no local variable of this
        frame keeps a Call (its destructor asserts) or a port (aborts) alive past libDestroy.
        """
        self._fail_pending()
        self._hangup_all()
        self._drop_calls_and_ports()
        self.buddies.clear()  # before the account they belong to
        gc.collect()
        if self.acc is not None:
            self.acc.shutdown()
            self.acc = None
            gc.collect()
        self.emit("bye")
        self._selftest_crash("before_destroy")
        flags = 0 if self.cfg.get("registrar") else pj.PJSUA_DESTROY_NO_RX_MSG
        self.ep.libDestroy(flags)  # without a registrar, skip pjsua's 1 s unregister wait
        # The library is gone: main() exits at once with os._exit. The Endpoint object is
        # not finalised (its destructor runs libDestroy again and walks the media list).
        self.emit("destroyed")
        self._selftest_crash("after_destroy")

    def _selftest_crash(self, where: str) -> None:
        """Self-test hook (config ``crash_at``): die by SIGSEGV at this point of shutdown."""
        if self.cfg.get("crash_at") == where:
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGSEGV)

    def _fail_pending(self) -> None:
        for pending in self.pending:
            self.reply(pending.req_id, error="peer quitting")
        self.pending.clear()

    def _hangup_all(self) -> None:
        self.ep.hangupAllCalls()
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline and any(
            c.state not in ("DISCONNECTED", "NULL") for c in self.calls.values()
        ):
            self.ep.libHandleEvents(10)

    def _drop_calls_and_ports(self) -> None:
        ports = [c.port for c in self.calls.values() if c.port is not None]
        for c in self.calls.values():
            c.port = None
        self.calls.clear()
        gc.collect()
        ports.clear()
        gc.collect()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, pj.Error):
        return f"{exc.title}: {exc.reason} (status {exc.status})"
    return f"{type(exc).__name__}: {exc}"


def main() -> int:
    sys.setswitchinterval(0.0002)  # keeps the audio clock thread fed (PJSUA2_PEER.md)
    cfg = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    peer = Peer(cfg)
    try:
        peer.start()
    except (pj.Error, CommandError, ValueError, KeyError) as exc:
        peer.emit("error", message=f"start failed: {_describe(exc)}")
        return 2
    peer.run()
    peer.shutdown()
    return 0


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    os._exit(code)  # nothing pjsua2 may be finalised by the interpreter after libDestroy
