"""Does a busy console move the voice reply latency? (issue 15: by no more than 10 %.)

The stack ``carrier serve`` runs (gateway, voice agent with Whisper and Piper, embedded
Postgres) with the console on its own port in the same event loop, as ``run_services``
opens it (uvicorn, HTTPS with the loopback certificate). Reminder-style calls go to a
pjsua2 phone as in ``bench/voice_latency.py`` (its machinery: same script, same
measurement at the phone), first with the console idle, then while ``--operators``
supervisors (a separate process, one HTTPS session each, signed in with password and
TOTP) poll what the live-calls page polls (``--path``, default its rows fragment
``/calls/live/rows``; ``/api/v1/live-calls`` for the JSON) every ``--poll-s`` seconds
(the page: 2 s).

    .venv/bin/python bench/console_load.py [--calls 2] [--operators 20] [--poll-s 2]

Prints the voice reply p50/p95 idle and loaded, their ratio, and the pollers' request
count and latency, with the hardware and the machine's load.
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import hardware, load, pct

REPO = Path(__file__).resolve().parents[1]


# ---- the pollers (a process of their own: operators' browsers are not in our loop) ----


async def poll(base: str, cert: str, accounts: list[dict[str, str]], every: float,
               path: str) -> None:
    import httpx  # noqa: PLC0415
    import pyotp  # noqa: PLC0415

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    waits: list[float] = []
    errors = 0

    clients = []
    for acct in accounts:  # one after another: each sign-in is an Argon2id hash
        web = httpx.AsyncClient(base_url=base, verify=cert, timeout=60)
        r = await web.post("/api/v1/session", json={
            "name": acct["name"], "password": acct["password"],
            "totp": pyotp.parse_uri(acct["uri"]).now()})
        r.raise_for_status()
        clients.append(web)

    async def operator(web: httpx.AsyncClient, offset: float) -> None:
        nonlocal errors
        await asyncio.sleep(offset)  # spread the operators over the poll period
        while not stop.is_set():
            t0 = time.perf_counter()
            try:
                r = await web.get(path, headers={"X-Carrier-Background": "1"})
            except httpx.HTTPError:
                errors += 1
            else:
                waits.append(time.perf_counter() - t0)
                errors += r.status_code != 200
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
        await web.aclose()

    print("ready", flush=True)
    if not clients:
        await stop.wait()
    await asyncio.gather(*(operator(web, every * i / len(clients))
                           for i, web in enumerate(clients)))
    ms = [1000 * w for w in waits] or [0.0]
    print(json.dumps({"requests": len(waits), "errors": errors, "p50_ms": pct(ms, 0.5),
                      "p95_ms": pct(ms, 0.95)}), flush=True)


# ---- the stack and the calls ------------------------------------------------------------


async def phase(stack, agent, phone, wavs, patient: str, calls: int) -> list[float]:  # type: ignore[no-untyped-def]
    from bench.voice_latency import one_call  # noqa: PLC0415
    from tests.peers.client import PeerError  # noqa: PLC0415

    gaps: list[float] = []
    for _ in range(calls):
        try:
            g, _parts = await one_call(stack, agent, phone, wavs, patient)
        except (PeerError, TimeoutError) as exc:  # a reply that never came: say so, go on
            print(f"  a call failed: {type(exc).__name__}: {str(exc)[:90]}", flush=True)
            continue
        gaps += g
    return [1000 * g for g in gaps]


async def main(calls: int, operators: int, every: float, path: str,
               loaded_first: bool) -> None:
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
        async with running_stack(settings) as stack:
            ctx = ConsoleContext(settings, health=stack.health, records=stack.records,
                                 live=GatewayLiveCalls(stack.gateway))
            ops = Operators(stack.records.pool, stack.records.keys)
            accounts = []
            for i in range(operators):
                issued = await ops.add(f"bench-sup-{i}", "supervisor", now=ctx.now())
                accounts.append({"name": issued.name, "password": issued.password,
                                 "uri": issued.totp_uri})
            tls = console_tls_files(settings)
            assert tls is not None
            async def start_pollers(every: float) -> asyncio.subprocess.Process:
                spec = tmp / "accounts.json"
                spec.write_text(json.dumps(accounts))
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, __file__, "--poller", f"https://127.0.0.1:{port}",
                    str(tls[0]), str(spec), str(every), path, stdout=asyncio.subprocess.PIPE,
                    cwd=REPO)
                assert proc.stdout is not None
                await proc.stdout.readline()  # "ready": every operator signed in
                await asyncio.sleep(every + 1)  # and polling
                return proc

            async def stop_pollers(proc: asyncio.subprocess.Process) -> dict[str, float]:
                assert proc.stdout is not None
                proc.send_signal(signal.SIGTERM)
                out = json.loads((await proc.stdout.read()).decode().splitlines()[-1])
                await proc.wait()
                return out  # type: ignore[no-any-return]

            async with serve_console(ctx, "127.0.0.1", 0, tls=tls) as port:
                wavs = [await write_wav(stack.runtime.tts, t, tmp / f"s{i}.wav")
                        for i, t in enumerate(SCRIPT)]
                agent = ObservedAgent(stack)
                patient = str(patient_uuid("pat-1001"))
                pollers = None
                if loaded_first:
                    pollers = await start_pollers(every)
                    loaded = await phase(stack, agent, phone, wavs, patient, calls)
                    polled = await stop_pollers(pollers)
                idle = await phase(stack, agent, phone, wavs, patient, calls)
                print(f"console idle: {len(idle)} turns, p95 {pct(idle or [0], 0.95):.0f} ms",
                      flush=True)
                if not loaded_first:
                    pollers = await start_pollers(every)
                    loaded = await phase(stack, agent, phone, wavs, patient, calls)
                    polled = await stop_pollers(pollers)
    print(f"hardware: {hardware()}; {load()} (shared machine: figures move with it)")
    print(f"voice turns: {len(idle)} idle, {len(loaded)} loaded ({calls} calls each)")
    for name, ms in (("console idle", idle), (f"{operators} operators polling", loaded)):
        if not ms:
            continue
        print(f"{name:<26} p50 {pct(ms, 0.5):5.0f} ms  p95 {pct(ms, 0.95):5.0f} ms  "
              f"mean {statistics.mean(ms):5.0f} ms")
    print(f"pollers: {polled['requests']} requests of {path} every {every:g} s each, "
          f"{polled['errors']} errors, p50 {polled['p50_ms']:.1f} ms, "
          f"p95 {polled['p95_ms']:.1f} ms")
    if not idle or not loaded:
        print("no ratio: a phase measured no turns (see the failed calls above)")
        return
    ratio = pct(loaded, 0.95) / pct(idle, 0.95)
    print(f"p95 loaded / idle: {ratio:.3f} ({100 * (ratio - 1):+.1f} %; the bar is +10 %)")

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--poller":
        url, cert, spec, every_s, path = sys.argv[2:7]
        asyncio.run(poll(url, cert, json.loads(Path(spec).read_text()), float(every_s), path))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2, help="calls per phase")
    parser.add_argument("--operators", type=int, default=20)
    parser.add_argument("--poll-s", type=float, default=2.0,
                        help="seconds between an operator's polls (the page: 2 s)")
    parser.add_argument("--path", default="/calls/live/rows",
                        help="what each operator polls (the live-calls page's fragment; "
                        "/api/v1/live-calls for the JSON)")
    parser.add_argument("--loaded-first", action="store_true",
                        help="measure with the pollers first, then idle (order effects)")
    args = parser.parse_args()
    started = time.time()
    asyncio.run(main(args.calls, args.operators, args.poll_s, args.path, args.loaded_first))
    print(f"(ran {time.time() - started:.0f} s)")
