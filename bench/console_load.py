"""Does a busy console move the voice reply latency? (issue 15: by no more than 10 %.)

The stack ``carrier serve`` runs (gateway, voice agent with Whisper and Piper, embedded
Postgres) with the console on its own port in the same event loop, as ``run_services``
opens it (uvicorn, HTTPS with the loopback certificate). Reminder-style calls go to a
pjsua2 phone as in ``bench/voice_latency.py`` (same script, same measurement at the phone:
from the end of the patient's answer to the first audio of the agent's reply), each cut
to ``--turns`` answers so the bench fits in a few minutes.

Calls alternate between the console idle and the console loaded (idle, loaded, loaded,
idle, ...), so both phases see the same machine (a shared machine's load drifts). Under
load, ``--operators`` supervisors (a separate process, one HTTPS session each, signed in
with password and TOTP before the first call) poll ``--path`` (default the live-calls API,
``/api/v1/live-calls``; ``/calls/live/rows`` is the page's fragment) every ``--poll-s``
seconds (the page: 2 s). The pollers count every answer by status, the polls that saw a
live call (proof they are signed in and see the real registry), and their latency.

    .venv/bin/python bench/console_load.py [--calls 4] [--turns 4] [--operators 20]

Prints the hardware and the machine's load, the voice reply p50/p95 with the console idle
and loaded, the change of the p95 in % (the bar is +10 %), and the pollers' figures. A
call that fails keeps the turns it measured; ``--budget-s`` stops starting new calls.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import hardware, load, pct

REPO = Path(__file__).resolve().parents[1]
T0 = time.monotonic()


def say(text: str) -> None:
    print(f"[{time.monotonic() - T0:6.1f} s] {text}", flush=True)


# ---- the pollers (a process of their own: operators' browsers are not in our loop) ----


@dataclasses.dataclass
class PollStats:
    statuses: Counter[int] = dataclasses.field(default_factory=Counter)
    transport_errors: int = 0
    saw_call: int = 0
    waits_ms: list[float] = dataclasses.field(default_factory=list)

    def summary(self) -> dict[str, object]:
        ms = self.waits_ms or [0.0]
        return {"requests": len(self.waits_ms) + self.transport_errors,
                "ok": self.statuses.get(200, 0),
                "errors": self.transport_errors + sum(
                    n for code, n in self.statuses.items() if code != 200),
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                "transport_errors": self.transport_errors, "saw_call": self.saw_call,
                "p50_ms": pct(ms, 0.5), "p95_ms": pct(ms, 0.95)}


async def poll(base: str, cert: str, accounts: list[dict[str, str]], every: float,
               path: str) -> int:
    """Sign every operator in, then poll while SIGUSR1 has switched polling on (SIGUSR2
    switches it off); on SIGTERM print the figures as one JSON line."""
    import httpx  # noqa: PLC0415
    import pyotp  # noqa: PLC0415

    loop = asyncio.get_running_loop()
    stop, active = asyncio.Event(), asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, active.set)
    loop.add_signal_handler(signal.SIGUSR2, active.clear)
    stats = PollStats()
    clients: list[httpx.AsyncClient] = []
    try:
        for acct in accounts:  # one after another: each sign-in is an Argon2id hash
            web = httpx.AsyncClient(base_url=base, verify=cert, timeout=30)
            clients.append(web)
            r = await web.post("/api/v1/session", json={
                "name": acct["name"], "password": acct["password"],
                "totp": pyotp.parse_uri(acct["uri"]).now()})
            if r.status_code != 200:
                print(json.dumps({"error": f"sign-in of {acct['name']}: HTTP {r.status_code}"}),
                      flush=True)
                return 2
    except httpx.HTTPError as exc:
        print(json.dumps({"error": f"sign-in: {type(exc).__name__}"}), flush=True)
        return 2

    async def operator(web: httpx.AsyncClient, offset: float) -> None:
        with contextlib.suppress(TimeoutError):  # spread the operators over the period
            await asyncio.wait_for(stop.wait(), offset)
        while not stop.is_set():
            if not active.is_set():
                waiter = asyncio.ensure_future(active.wait())
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                for t in (waiter, stopper):
                    t.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await t
                continue
            t0 = time.perf_counter()
            try:
                r = await web.get(path, headers={"X-Carrier-Background": "1"})
            except httpx.HTTPError:
                stats.transport_errors += 1
            else:
                stats.waits_ms.append(1000 * (time.perf_counter() - t0))
                stats.statuses[r.status_code] += 1
                if r.status_code == 200 and _shows_a_call(path, r):
                    stats.saw_call += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)

    print("ready", flush=True)
    await asyncio.gather(*(operator(web, every * i / len(clients))
                           for i, web in enumerate(clients)))
    for web in clients:
        await web.aclose()
    print(json.dumps(stats.summary()), flush=True)
    return 0


def _shows_a_call(path: str, r: object) -> bool:
    if path.startswith("/api/"):
        body = r.json()  # type: ignore[attr-defined]
        return isinstance(body, list) and len(body) > 0
    return b"<tr" in r.content  # type: ignore[attr-defined]


class Pollers:
    """The pollers' process, driven from the bench."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, base: str, cert: str, spec: Path, every: float, path: str
                    ) -> Pollers:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--poller", base, cert, str(spec), str(every), path,
            stdout=asyncio.subprocess.PIPE, cwd=REPO)
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 300)  # 20 Argon2id sign-ins
        if line.strip() != b"ready":
            await proc.wait()
            raise RuntimeError(f"pollers did not start: {line.decode().strip() or 'exited'}")
        return cls(proc)

    def on(self) -> None:
        self.proc.send_signal(signal.SIGUSR1)

    def off(self) -> None:
        self.proc.send_signal(signal.SIGUSR2)

    async def finish(self) -> dict[str, object]:
        assert self.proc.stdout is not None
        self.proc.send_signal(signal.SIGTERM)
        out = (await asyncio.wait_for(self.proc.stdout.read(), 60)).decode().splitlines()
        await self.proc.wait()
        return json.loads(out[-1]) if out else {"error": "no figures from the pollers"}


# ---- the stack and the calls ------------------------------------------------------------


async def one_call(stack, phone, wavs: list[Path], patient: str) -> list[float]:  # type: ignore[no-untyped-def]
    """One call of ``len(wavs) - 1`` answers; the reply gaps (ms) it measured, even if it
    failed part way (then said on stdout). The phone hangs up after the last answer."""
    from carrier.call import Call, Clearance, DialRequest  # noqa: PLC0415
    from tests.peers.client import PeerError  # noqa: PLC0415

    gw = stack.gateway
    call = await gw.dial(DialRequest(to="+15550100123", from_number="+15550100100",
                                     trunk="bench", origid=str(uuid.uuid4()),
                                     clearance=Clearance("allowed")))
    assert isinstance(call, Call), call
    handle = phone.events("incoming")[-1]["call"]
    running = asyncio.create_task(gw.run_outbound(call, {
        "purpose": "health_screening", "patient_id": patient}))
    gaps: list[float] = []
    try:
        await phone.wait_media_active(call=handle, timeout=20)
        await _turns(phone, handle, wavs, gaps)
    except (PeerError, TimeoutError) as exc:  # a reply that never came: say so, go on
        say(f"  call failed part way: {type(exc).__name__}: {str(exc)[:90]}")
    finally:
        with contextlib.suppress(PeerError, TimeoutError):
            await phone.hangup(call=handle)
        try:
            await asyncio.wait_for(asyncio.shield(running), timeout=30)
        except TimeoutError:
            await call.hangup("bench-timeout")
            with contextlib.suppress(Exception):
                await asyncio.wait_for(running, timeout=30)
        except Exception as exc:  # noqa: BLE001 - the call's own failure: report, go on
            say(f"  the call ended with {type(exc).__name__}")
    return [1000 * g for g in gaps]


async def _turns(phone, handle: int, wavs: list[Path], gaps: list[float]) -> None:  # type: ignore[no-untyped-def]
    """As ``bench.voice_latency._turns`` (play each answer once the agent has finished
    speaking; the gap to its reply at the phone), appending as it goes: a turn that
    fails later leaves the ones before it measured."""
    for i, wav in enumerate(wavs):
        if i > 0:
            started = await phone.wait_audio(call=handle, frames=3, min_rms=300, timeout=40)
            await phone.wait_silence(call=handle, frames=45, min_rms=300, since_t=started,
                                     timeout=60)
        play = await phone.play_wav(str(wav), call=handle)
        done = await phone.wait_event("play_done", lambda e, p=play: e.get("play_id") == p,
                                      call=handle, timeout=30)
        if i == 0:
            continue  # "Hello?" only opens the call (answering-machine check)
        reply = await phone.wait_audio(call=handle, frames=3, min_rms=300, timeout=40)
        gaps.append(reply - done["t"])


@dataclasses.dataclass
class Run:
    idle: list[float] = dataclasses.field(default_factory=list)
    loaded: list[float] = dataclasses.field(default_factory=list)
    calls: Counter[str] = dataclasses.field(default_factory=Counter)
    polled: dict[str, object] = dataclasses.field(default_factory=dict)
    cut: bool = False


async def measure(args: argparse.Namespace) -> Run:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from agent.handler import patient_uuid  # noqa: PLC0415
    from bench._agent import ObservedAgent  # noqa: PLC0415
    from bench.voice_latency import SCRIPT, write_wav  # noqa: PLC0415
    from carrier.app import running_stack  # noqa: PLC0415
    from carrier.console.app import ConsoleContext  # noqa: PLC0415
    from carrier.console.live import GatewayLiveCalls  # noqa: PLC0415
    from carrier.console.server import console_tls_files, serve_console  # noqa: PLC0415
    from carrier.records.operators import Operators  # noqa: PLC0415
    from carrier.settings import SipSettings, TrunkSettings, load_settings  # noqa: PLC0415
    from tests.peers.client import PjsuaPeer  # noqa: PLC0415

    run = Run()
    tmp = Path(tempfile.mkdtemp(prefix="carrier-bench-console-"))
    base = load_settings(REPO / "config", env={})
    async with PjsuaPeer.start("udp", user="patient", auto_answer=200, log_dir=tmp) as phone:
        trunk = TrunkSettings(name="bench", host="127.0.0.1", port=phone.ports["udp"],
                              region="local", acl=("127.0.0.0/8",))
        settings = dataclasses.replace(
            base, data_dir=str(tmp / "var"), trunks=(trunk,),
            sip=SipSettings(bind_host="127.0.0.1", udp_port=0, tcp_port=0),
            console=dataclasses.replace(base.console, port=0),
            dialer=dataclasses.replace(base.dialer, enabled=False, trunk="bench"),
            speech=dataclasses.replace(base.speech, stt_model_dir=str(
                Path(tempfile.gettempdir()) / "carrier-test-models" / "whisper")))
        say("starting the stack")
        async with running_stack(settings) as stack:
            ctx = ConsoleContext(settings, health=stack.health, records=stack.records,
                                 live=GatewayLiveCalls(stack.gateway))
            ops = Operators(stack.records.pool, stack.records.keys)
            accounts = []
            for i in range(args.operators):
                issued = await ops.add(f"bench-sup-{i}", "supervisor", now=ctx.now())
                accounts.append({"name": issued.name, "password": issued.password,
                                 "uri": issued.totp_uri})
            spec = tmp / "accounts.json"
            spec.write_text(json.dumps(accounts))
            tls = console_tls_files(settings)
            assert tls is not None
            async with serve_console(ctx, "127.0.0.1", 0, tls=tls) as port:
                wavs = [await write_wav(stack.runtime.tts, t, tmp / f"s{i}.wav")
                        for i, t in enumerate(SCRIPT[:args.turns + 1])]
                agent = ObservedAgent(stack)
                patient = str(patient_uuid("pat-1001"))
                say(f"signing {args.operators} supervisors in")
                pollers = await Pollers.start(f"https://127.0.0.1:{port}", str(tls[0]), spec,
                                              args.poll_s, args.path)
                try:
                    say("warm-up call (not counted)")
                    await one_call(stack, phone, wavs[:2], patient)
                    await _calls(args, run, stack, phone, wavs, patient, pollers, agent)
                finally:
                    run.polled = await pollers.finish()
    return run


async def _calls(args, run: Run, stack, phone, wavs, patient, pollers: Pollers,  # type: ignore[no-untyped-def]
                 agent) -> None:
    order = ["idle", "loaded", "loaded", "idle"]  # ABBA: order effects cancel in pairs
    for i in range(2 * args.calls):
        if time.monotonic() - T0 > args.budget_s:
            run.cut = True
            say(f"budget of {args.budget_s:g} s spent: no more calls")
            return
        phase = order[i % 4]
        if phase == "loaded":
            pollers.on()
            await asyncio.sleep(args.poll_s)  # every operator polling before the call
        gaps = await one_call(stack, phone, wavs, patient)
        if phase == "loaded":
            pollers.off()
        agent.timings.clear()
        (run.idle if phase == "idle" else run.loaded).extend(gaps)
        run.calls[phase] += 1
        say(f"call {i + 1}/{2 * args.calls} ({phase}): {len(gaps)} turns, "
            f"p95 {pct(gaps or [0.0], 0.95):.0f} ms")


def report(args: argparse.Namespace, run: Run) -> None:
    print(f"hardware: {hardware()}; {load()} (a shared machine: figures move with it)")
    print(f"voice turns: {len(run.idle)} idle ({run.calls['idle']} calls), "
          f"{len(run.loaded)} loaded ({run.calls['loaded']} calls), "
          f"{args.turns} answers a call" + ("; cut by the budget" if run.cut else ""))
    for name, ms in (("console idle", run.idle),
                     (f"{args.operators} operators polling", run.loaded)):
        if ms:
            print(f"{name:<26} p50 {pct(ms, 0.5):5.0f} ms  p95 {pct(ms, 0.95):5.0f} ms  "
                  f"mean {statistics.mean(ms):5.0f} ms")
    p = run.polled
    if "error" in p:
        print(f"pollers: {p['error']}")
    else:
        print(f"pollers: {p.get('requests')} requests of {args.path} (each operator every "
              f"{args.poll_s:g} s while loaded), {p.get('ok')} answered 200, "
              f"{p.get('errors')} errors {p.get('statuses')}, {p.get('saw_call')} saw a live "
              f"call, p50 {p.get('p50_ms', 0):.1f} ms, p95 {p.get('p95_ms', 0):.1f} ms")
    if not run.idle or not run.loaded:
        print("no change figure: a phase measured no turns (see the failed calls above)")
        return
    idle95, loaded95 = pct(run.idle, 0.95), pct(run.loaded, 0.95)
    change = 100 * (loaded95 / idle95 - 1)
    print(f"voice reply p95: idle {idle95:.0f} ms, loaded {loaded95:.0f} ms, change "
          f"{change:+.1f} % (the bar is +10 %: {'within' if change <= 10 else 'over'})")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--poller":
        url, cert, spec, every_s, path = sys.argv[2:7]
        sys.exit(asyncio.run(poll(url, cert, json.loads(Path(spec).read_text()),
                                  float(every_s), path)))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=4, help="calls per phase")
    parser.add_argument("--turns", type=int, default=4, help="answers per call (max 25)")
    parser.add_argument("--operators", type=int, default=20)
    parser.add_argument("--poll-s", type=float, default=2.0,
                        help="seconds between an operator's polls (the page: 2 s)")
    parser.add_argument("--path", default="/api/v1/live-calls",
                        help="what each operator polls (the live-calls API; "
                        "/calls/live/rows for the page's fragment)")
    parser.add_argument("--budget-s", type=float, default=330.0,
                        help="start no call after this many seconds (figures still print)")
    args = parser.parse_args()
    args.turns = max(1, min(args.turns, 25))
    run = asyncio.run(measure(args))
    report(args, run)
    print(f"(ran {time.monotonic() - T0:.0f} s)")


if __name__ == "__main__":
    main()
