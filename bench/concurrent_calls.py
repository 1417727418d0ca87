"""How many simultaneous voice-agent conversations this machine holds with p95 reply < 1.5 s.

    .venv/bin/python bench/concurrent_calls.py [--steps 1,2,4,6,8,10,12] [--turns 15]
        [--stagger 1.5] [--limit-ms 1500] [--renditions 8] [--answers DIR]

The whole stack runs as ``carrier serve`` runs it (``carrier.app.running_stack``: our
SIP/RTP gateway, the voice agent with Whisper and Piper in its worker pool, the
embedded Postgres). For step N it places N health-screening calls at once (starts
``--stagger`` seconds apart) to pjsua2 phones, each phone process holding up to 4 calls,
as ``bench/voice_latency.py`` does for one call: the phone speaks synthesised answers
(WAVs made with the agent's own voice, ``--renditions`` renditions of each answer: call i
speaks rendition (i + j) mod R of its answer j; ``--answers DIR`` keeps them in DIR and a
later run reuses them, so two runs compare code on the same audio) and, per turn, the gap
is the first voiced frame of the agent's reply minus the end of the phone's answer
(``play_done``), both on the phone's monotonic clock. Each call runs ``--turns`` measured
turns, then the phone hangs up. Every call has its own synthetic patient (seeded with
voice consent) and every dial is matched to its own phone call by SIP Call-ID.

Steps go up until the p95 reaches the limit or a call fails; the answer is the largest N
whose p95 stayed under it. Per step it also prints where the speech time went: each
utterance's wait for a worker apart from the batch's time in one, the speech workers'
CPU per utterance apart from the rest of the stack's per turn, and how many utterances
were decoded again (a first pass that looped: 10 s window, then 30 s). The pjsua2 phones
run on the same 2 cores (one process per 4 calls), so they take some of the CPU a real
deployment would not spend.

Settings come from ``config/`` with the environment's ``CARRIER_*`` overrides, so a run can
compare them (``CARRIER_SPEECH__STT_WORKERS=3``); the header prints the worker count.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import math
import os
import statistics
import sys
import tempfile
import time
import uuid
import wave
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._agent import ObservedAgent
from bench._common import descendants, hardware, load, machine_busy, pct, process_cpu
from carrier.app import Stack, running_stack
from carrier.call import Call, Clearance, DialRequest
from carrier.settings import Settings, SipSettings, TrunkSettings, load_settings
from tests.peers.client import PeerError, PeerExited, PjsuaPeer

REPO = Path(__file__).resolve().parents[1]
CALLS_PER_PEER = 4  # pjsua2's compile-time limit
# The phones' main loop waits 20 ms for SIP events, not the peer's default 5: 12 phones
# woke 200 times a second each (20-45 us a wakeup) on the cores the stack is measured on.
# It delays only commands and wait replies (the next answer starts up to 15 ms later);
# the gap's stamps (play_done, the reply's first frame) come from the audio clock thread.
PHONE_LOOP_MS = 20
# Piper renders a text differently each time, and one rendition of "Yes." can be heard as
# "Yes," (trailing off: the turn waits the longer hangover) where another is not: with a
# single rendition for every call, one run of the same code gave 40 calls p95 677 ms and
# the next 1361 ms (tiny heard 1 of 10 renditions of "Yes." as "Yes,"). Several renditions,
# spread over the calls and turns, make each run sample that as callers would. With 4,
# runs still differed by which renditions they drew: the quick model kept 88% of its
# answers in one 48-call run and 72% in the next (the rest went to base, three times the
# CPU), so the default is 8, and --answers reuses one set across runs.
RENDITIONS = 8
# The opening, identity confirmation and date of birth, then the screening answers.
SCRIPT = ["Hello?", "Yes, speaking.", "March fifth, nineteen eighty."] + ["Yes."] * 12 + ["Seven."]
BENCH_DOB = dt.date(1980, 3, 5)
BREAKDOWN = ("endpointing_ms", "transcription_ms", "decision_ms", "synthesis_ms")


@dataclasses.dataclass
class StepResult:
    gaps: list[float]
    by_turn: list[list[float]]  # the gaps of each measured turn of the script, all calls
    errors: list[str]
    failed_calls: list[str]  # their SIP Call-IDs (the workflow's audit steps are keyed so)
    parts: list[dict[str, float]]  # the agent's own timing of each turn
    seconds: float
    stack_cores: float  # this process and its speech workers (Postgres, phones apart)
    speech_cpu: float  # CPU seconds of the speech workers alone
    phone_cores: float  # the pjsua2 phone processes
    box: float  # all CPUs busy, whoever used them


@dataclasses.dataclass
class CallOutcome:
    gaps: list[float]
    error: str | None = None
    parts: list[dict[str, float]] = dataclasses.field(default_factory=list)
    call_id: str | None = None


async def write_wav(tts: Any, text: str, path: Path) -> Path:
    pcm = await tts.synthesize(text)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.asarray(pcm, dtype="<i2").tobytes())
    return path


async def phone_answers(stack: Stack, folder: Path, renditions: int) -> list[list[Path]]:
    """``renditions`` WAVs of each scripted answer, in the agent's voice (its own
    synthesiser, with a cache of its own so each rendition is new); those already in
    ``folder`` (an earlier run's) are used as they are."""
    from agent.speech.cache import PromptCache  # noqa: PLC0415
    from agent.speech.tts import TextToSpeech  # noqa: PLC0415

    agent_voice = stack.runtime.tts
    tts = TextToSpeech(PromptCache(None, agent_voice.voice_id), voice=agent_voice.paths)
    await tts.start()
    try:
        out = []
        for k in range(renditions):
            tts.cache = PromptCache(None, tts.voice_id)
            paths = [folder / f"s{i}_{k}.wav" for i in range(len(SCRIPT))]
            out.append([p if p.exists() else await write_wav(tts, t, p)
                        for p, t in zip(paths, SCRIPT, strict=True)])
        return out
    finally:
        await tts.close()


def bench_phone(i: int) -> str:
    """Synthetic numbers in the 555 fiction range, clear of the demo clinic's (555-010-01XX;
    the old 555-010-0150 + i ran into its operator test number at 49 calls, and past 49
    was no possible number)."""
    return f"+1555010{2000 + i}"


async def seed_patients(stack: Stack, count: int) -> list[str]:
    """One synthetic patient per concurrent call (same DOB as the script says), with consent."""
    from agent.handler import patient_uuid  # noqa: PLC0415
    from carrier.records.store import Channel, ConsentKind  # noqa: PLC0415

    ids = []
    for i in range(count):
        pid = patient_uuid(f"bench-concurrent-{i}")
        exists = await stack.records.pool.fetchval("SELECT 1 FROM patients WHERE id = $1", pid)
        if not exists:
            await stack.records.add_patient(
                "Testa Benchpatient",
                bench_phone(i),
                dob=BENCH_DOB,
                actor="bench",
                reason="synthetic bench patient",
                patient_id=pid,
            )
            await stack.records.consent_grant(
                pid,
                Channel.VOICE,
                ConsentKind.TCPA_EXPRESS_WRITTEN,
                source="bench",
                evidence_ref="bench/concurrent_calls.py",
                actor="bench",
            )
        ids.append(str(pid))
    return ids


async def one_call(
    stack: Stack,
    phone: PjsuaPeer,
    trunk: str,
    slot: int,
    patient_id: str,
    wavs: list[Path],
    turns: int,
    delay: float,
) -> CallOutcome:
    await asyncio.sleep(delay)
    gw = stack.gateway
    gaps: list[float] = []
    agent: asyncio.Task[Any] | None = None
    handle: int | None = None
    error: str | None = None
    call_id: str | None = None
    try:
        call = await gw.dial(
            DialRequest(
                to=bench_phone(slot),
                from_number="+15550100100",
                trunk=trunk,
                origid=str(uuid.uuid4()),
                clearance=Clearance("allowed"),
            )
        )
        if not isinstance(call, Call):
            return CallOutcome(gaps, f"dial failed: {call}")  # nothing to hang up
        call_id = call.call_id
        incoming = await phone.wait_event(
            "incoming", lambda e: e.get("sip_call_id") == call.call_id, timeout=10
        )
        handle = int(incoming["call"])
        agent = asyncio.create_task(
            gw.run_outbound(call, {"purpose": "health_screening", "patient_id": patient_id})
        )
        await phone.wait_media_active(call=handle, timeout=10)
        for i, wav in enumerate(wavs[: turns + 1]):
            if i > 0:
                started = await phone.wait_audio(call=handle, frames=3, min_rms=300, timeout=60)
                await phone.wait_silence(
                    call=handle, frames=45, min_rms=300, since_t=started, timeout=60
                )
            play = await phone.play_wav(str(wav), call=handle)
            done = await phone.wait_event(
                "play_done", lambda e, p=play: e.get("play_id") == p, call=handle, timeout=30
            )
            if i == 0:
                continue  # "Hello?" only opens the call (answering-machine check)
            reply = await phone.wait_audio(call=handle, frames=3, min_rms=300, timeout=60)
            gaps.append(reply - done["t"])
    except (TimeoutError, PeerError, PeerExited) as exc:
        states = [e.get("state") for e in phone.events("call_state") if e.get("call") == handle]
        error = (f"{type(exc).__name__} at turn {len(gaps) + 1}: {str(exc)[:120]}; "
                 f"call states {states[-3:]}")  # fmt: skip
    finally:
        if handle is not None:
            with contextlib.suppress(PeerError, PeerExited, TimeoutError):
                await phone.hangup(handle)  # the agent may have hung up first
        if agent is not None:
            await asyncio.wait({agent}, timeout=30)
            if not agent.done():
                agent.cancel()
                await asyncio.gather(agent, return_exceptions=True)
    parts: list[dict[str, float]] = []
    if agent is not None and agent.done() and not agent.cancelled():
        if agent.exception() is not None:
            error = error or f"agent: {agent.exception()!r}"[:160]
        elif error is not None:  # what the agent made of the call (ids and enums only)
            outcome = agent.result()
            error += f"; agent outcome {getattr(outcome, 'kind', outcome)} " \
                     f"{getattr(outcome, 'detail', '')!r}"
        elif isinstance(stack.gateway.handler, ObservedAgent):
            timings = stack.gateway.handler.timings.pop(call.call_id, [])
            parts = [t.breakdown() for t in timings]
    return CallOutcome(gaps, error, parts, call_id)


async def workflow_steps(stack: Stack, call_id: str) -> str:
    """A failed call's workflow steps from the audit trail (states, events and intents:
    identifiers only, no PHI), to tell a misheard turn from a lost one."""
    await asyncio.sleep(2)  # the steps go through the writer's spool
    rows = await stack.records.pool.fetch(
        "SELECT action, details FROM audit_log WHERE record_type = 'call' AND record_id = $1"
        " ORDER BY seq", call_id)
    steps = []
    for row in rows:
        details = json.loads(row["details"])
        steps.append(f"{details.get('state')}:{row['action'].removeprefix('workflow.')}"
                     + (f"({details['intent']})" if details.get("intent") else ""))
    return " ".join(steps) or "none recorded"


def cpu_split(phones: list[PjsuaPeer], speech: list[int]) -> tuple[float, float, float]:
    """CPU seconds so far of (this process + its non-phone descendants, the phones, the
    speech workers among the former)."""
    phone_pids = {p.proc.pid for p in phones}
    for pid in list(phone_pids):
        phone_pids.update(descendants(pid))
    own = [os.getpid()] + [d for d in descendants(os.getpid()) if d not in phone_pids]
    return (sum(process_cpu(p) for p in own), sum(process_cpu(p) for p in phone_pids),
            sum(process_cpu(p) for p in speech))


async def run_step(
    stack: Stack,
    phones: list[PjsuaPeer],
    patients: list[str],
    wavs: list[list[Path]],
    n: int,
    turns: int,
    stagger: float,
) -> StepResult:
    workers = stack.runtime.stt.worker_pids
    (own0, phone0, speech0), box0 = cpu_split(phones, workers), machine_busy()
    wall0 = time.monotonic()
    outcomes = await asyncio.gather(
        *[
            one_call(
                stack,
                phones[i // CALLS_PER_PEER],
                f"bench{i // CALLS_PER_PEER}",
                i,
                patients[i],
                [wavs[(i + j) % len(wavs)][j] for j in range(len(SCRIPT))],
                turns,
                i * stagger,
            )
            for i in range(n)
        ]
    )
    (own1, phone1, speech1), box1 = cpu_split(phones, workers), machine_busy()
    wall = time.monotonic() - wall0
    return StepResult(
        gaps=[g for o in outcomes for g in o.gaps],
        by_turn=[[o.gaps[i] for o in outcomes if len(o.gaps) > i] for i in range(turns)],
        errors=[o.error for o in outcomes if o.error],
        failed_calls=[o.call_id for o in outcomes if o.error and o.call_id],
        parts=[p for o in outcomes for p in o.parts],
        seconds=wall,
        stack_cores=(own1 - own0) / wall,
        speech_cpu=speech1 - speech0,
        phone_cores=(phone1 - phone0) / wall,
        box=(box1[0] - box0[0]) / max(1, box1[1] - box0[1]),
    )


def print_speech(before: Any, after: Any, r: StepResult) -> None:
    """The speech workers' share of a step: batches, queueing apart from decoding, and
    their CPU (per utterance, and in cores beside the rest of the stack)."""
    batches = after.batches - before.batches
    items = max(1, after.items - before.items)
    print(f"      speech: {batches} batches, {items / max(1, batches):.2f} utterances a "
          f"batch; per utterance: queued {1000 * (after.queued_s - before.queued_s) / items:.0f}"
          f" ms mean (max {1000 * after.max_queued_s:.0f}), batch in a worker "
          f"{1000 * (after.decode_s - before.decode_s) / max(1, batches):.0f} ms mean")
    print(f"      cpu: speech workers {r.speech_cpu / r.seconds:.2f} cores "
          f"({1000 * r.speech_cpu / items:.0f} ms an utterance, of which "
          f"{1000 * (after.cpu_s - before.cpu_s) / items:.0f} in the model calls; "
          f"{after.retried - before.retried} decoded again, "
          f"{after.retried_30s - before.retried_30s} of them in 30 s), rest of the stack "
          f"{r.stack_cores - r.speech_cpu / r.seconds:.2f} cores "
          f"({1000 * (r.stack_cores * r.seconds - r.speech_cpu) / max(1, len(r.gaps)):.0f}"
          f" ms a turn)")
    careful = after.careful - before.careful
    quick = after.quick - before.quick
    print(f"      routes: {quick} offered to the quick model, "
          f"{after.quick_kept - before.quick_kept} of them kept; {careful} second passes "
          f"({1000 * (after.careful_cpu_s - before.careful_cpu_s) / max(1, careful):.0f} ms "
          f"CPU each), {after.spare - before.spare} second framings in the spare worker "
          f"({after.reframed - before.reframed} waited for), "
          f"{after.shed - before.shed} shed (no time left); "
          f"{items - quick - careful} to base")


def print_turns(r: StepResult) -> None:
    """p95 and count of the gaps after each answer of the script (all calls), so a slow
    kind of turn shows."""
    groups: dict[str, list[float]] = {}
    for i, gaps in enumerate(r.by_turn):
        groups.setdefault(SCRIPT[i + 1], []).extend(1000 * g for g in gaps)
    print("      p95 ms by answer: " + ", ".join(
        f"{text!r} {pct(ms, 0.95):.0f} (n={len(ms)})" for text, ms in groups.items() if ms))


def bench_settings(base: Settings, tmp: Path, ports: list[int]) -> Settings:
    trunks = tuple(
        TrunkSettings(
            name=f"bench{i}",
            host="127.0.0.1",
            port=port,
            region="local",
            acl=("127.0.0.0/8",),
            max_concurrent_calls=CALLS_PER_PEER,
            calls_per_second=50.0,
        )
        for i, port in enumerate(ports)
    )
    model_dir = Path(tempfile.gettempdir()) / "carrier-test-models" / "whisper"
    return dataclasses.replace(
        base,
        data_dir=str(tmp / "var"),
        trunks=trunks,
        sip=SipSettings(bind_host="127.0.0.1", udp_port=0, tcp_port=0, tls_port=0),
        dialer=dataclasses.replace(base.dialer, enabled=False, trunk="bench0"),
        speech=dataclasses.replace(base.speech, stt_model_dir=str(model_dir)),
    )


async def main(steps: list[int], turns: int, stagger: float, limit_ms: float,
               budget: float, renditions: int, answers: Path | None,
               answers_note: str) -> None:  # fmt: skip
    began = time.monotonic()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    base = load_settings(REPO / "config", env=dict(os.environ))  # CARRIER_* to compare settings
    peers_needed = math.ceil(max(steps) / CALLS_PER_PEER)
    print(f"hardware: {hardware()}")
    print(f"machine at start: {load()} (shared with other work)")
    print(
        f"speech workers: {base.speech.stt_workers}; {turns} measured turns per call; "
        f"calls start {stagger:.1f} s apart; pjsua2 phones: {peers_needed} processes"
    )
    print(
        "columns: stack = this process and its speech workers, phones = the pjsua2 "
        "processes, box = all CPUs busy (2.00 = both cores), whoever used them"
    )
    best = 0
    last: tuple[int, float, float] | None = None
    with tempfile.TemporaryDirectory(prefix="carrier-concurrent-") as tmp_name:
        tmp = Path(tmp_name)
        async with contextlib.AsyncExitStack() as exits:
            phones = [
                await exits.enter_async_context(
                    PjsuaPeer.start(
                        "udp", name=f"phone{i}", user="patient", auto_answer=200, log_dir=tmp,
                        loop_ms=PHONE_LOOP_MS,
                    )
                )
                for i in range(peers_needed)
            ]
            settings = bench_settings(base, tmp, [p.ports["udp"] for p in phones])
            stack = await exits.enter_async_context(running_stack(settings))
            ObservedAgent(stack)  # each call's turn timings, for the breakdown
            patients = await seed_patients(stack, max(steps))
            wavs = await phone_answers(stack, answers or tmp, renditions)
            print(f"phone's answers: {renditions} renditions of each{answers_note}")
            # One unmeasured call first: it fills the prompt cache (a running service keeps
            # it on disk) and warms every code path, as a long-running server would be.
            warm = await run_step(stack, phones, patients, wavs, 1, min(turns, 4), stagger)
            print(f"warm-up call: {len(warm.gaps)} turns, {len(warm.errors)} failed, "
                  f"{warm.seconds:.0f} s (not counted)")  # fmt: skip
            print(
                f"{'calls':>5} {'turns':>5} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} "
                f"{'failed':>6} {'secs':>5} {'stack':>6} {'phones':>6} {'box':>5}  load"
            )
            step_time = 0.0
            for n in steps:
                if time.monotonic() - began + 1.3 * step_time + n * stagger > budget:
                    print(f"(stopping before {n} calls: the {budget:.0f} s budget)")
                    break
                stt = stack.runtime.stt
                stt.stats.max_queued_s = 0.0
                s0 = dataclasses.replace(stt.stats)
                r = await run_step(stack, phones, patients, wavs, n, turns, stagger)
                step_time = r.seconds
                ms = [1000 * g for g in r.gaps]
                p50 = pct(ms, 0.5) if ms else float("nan")
                p95 = pct(ms, 0.95) if ms else float("nan")
                top = max(ms) if ms else float("nan")
                print(
                    f"{n:>5} {len(ms):>5} {p50:>7.0f} {p95:>7.0f} {top:>7.0f} "
                    f"{len(r.errors):>6} {r.seconds:>5.0f} {r.stack_cores:>6.2f} "
                    f"{r.phone_cores:>6.2f} {2 * r.box:>5.2f}  {load()}",
                    flush=True,
                )
                if r.parts:
                    means = {k: statistics.mean(p[k] for p in r.parts) for k in BREAKDOWN}
                    print("      agent side, mean ms: " + ", ".join(
                        f"{k.removesuffix('_ms')} {v:.0f}" for k, v in means.items()))  # fmt: skip
                print_speech(s0, stt.stats, r)
                print_turns(r)
                for err in r.errors[:3]:
                    print(f"      failure: {err}")
                for call_id in r.failed_calls[:3]:
                    print(f"      its workflow steps: {await workflow_steps(stack, call_id)}")
                last = (n, p50, p95)
                if r.errors or not ms or p95 >= limit_ms:
                    break
                best = n
    print(f"\nhardware: {hardware()}")
    print(f"simultaneous agent conversations with p95 reply < {limit_ms:.0f} ms: {best}")
    if last is not None:
        print(f"(last step: {last[0]} calls, p50 {last[1]:.0f} ms, p95 {last[2]:.0f} ms)")
    print(f"machine at end: {load()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="1,2,4,6,8,10,12")
    parser.add_argument("--turns", type=int, default=15, help="measured turns per call (max 15)")
    parser.add_argument("--stagger", type=float, default=1.5, help="seconds between call starts")
    parser.add_argument("--limit-ms", type=float, default=1500.0)
    parser.add_argument(
        "--budget", type=float, default=840.0, help="no new step once it would pass this (s)"
    )
    parser.add_argument("--renditions", type=int, default=RENDITIONS,
                        help="renditions of each answer (Piper varies each one)")
    parser.add_argument("--answers", type=Path, default=None,
                        help="keep the phone's answers here; a later run reuses them")
    args = parser.parse_args()
    note = ""
    if args.answers is not None:
        args.answers.mkdir(parents=True, exist_ok=True)
        reused = any(args.answers.glob("s*_*.wav"))
        note = f", {'reused from' if reused else 'kept in'} {args.answers}"
    started = time.time()
    asyncio.run(
        main(
            [int(s) for s in args.steps.split(",")],
            min(args.turns, len(SCRIPT) - 1),
            args.stagger,
            args.limit_ms,
            args.budget,
            args.renditions,
            args.answers,
            note,
        )
    )
    print(f"(ran {time.time() - started:.0f} s)")
