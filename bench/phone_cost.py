"""CPU that the pjsua2 test phone (tests/peers) spends per call, as the concurrent bench uses it.

    PYTHONPATH=. nice -n 19 .venv/bin/python bench/phone_cost.py [--seconds 20] [--calls 4]

``bench/concurrent_calls.py`` runs 12 phone processes of 4 calls each beside the system it
measures, on the same 2 cores, so every millisecond the phones burn is taken from it. This
starts two phones on 127.0.0.1 (PCMU, as that bench's phones get from its gateway): the
"agent" phone calls the "patient" phone ``--calls`` times (pjsua2 holds at most 4 a
process). On each call the agent phone plays a looping turn (1.5 s of tone, 1.5 s of
silence), and the patient phone does what the concurrent bench's phone does each turn:
``wait_audio`` (3 frames over RMS 300), ``wait_silence`` (45 frames under it, from the
start of the speech), then plays a 1 s answer and waits for its ``play_done``. Audio runs
both ways on every call, all the time.

After ``--warmup`` seconds it reads each phone process's CPU time (user + system, all its
threads, from /proc: CPU, not wall time, because the machine may be shared) over
``--seconds``, and prints it as ms of CPU per call per second of call, with the split between
the threads (the audio clock thread, the main thread that polls pjsua and the waits, the
rest). Before the calls it also measures each process idle for ``--idle`` seconds. Prints
figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import hardware, load, process_cpu
from tests.peers.client import PeerError, PjsuaPeer
from tests.peers.peer_audio import tone, write_wav


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of each thread of `pid` (the scheduler's ns count in /proc schedstat, finer
    than the 10 ms ticks of /proc stat), keyed by ``name/tid`` (name from /proc comm)."""
    out: dict[str, float] = {}
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat", encoding="ascii") as f:
                    ns = int(f.read().split()[0])
                with open(f"/proc/{pid}/task/{tid}/comm", encoding="ascii") as f:
                    name = f.read().strip()
            except OSError:
                continue
            out[f"{name}/{tid}"] = ns / 1e9
    return out


def thread_split(pid: int, before: dict[str, float], after: dict[str, float]) -> str:
    """Each thread's share of the window, the main thread (tid == pid) named ``main``."""
    parts = []
    for key, end in sorted(after.items(), key=lambda kv: kv[1] - before.get(kv[0], 0.0)):
        spent = end - before.get(key, 0.0)
        if spent <= 0:
            continue
        name, tid = key.rsplit("/", 1)
        parts.append(f"{'main' if int(tid) == pid else name} {spent:.3f}s")
    return ", ".join(reversed(parts))


async def agent_side(agent: PjsuaPeer, handle: int, wav: Path) -> None:
    """A looping turn: 1.5 s of 440 Hz (the agent talking), then 1.5 s of silence."""
    await agent.play_wav(wav, call=handle, loop=True)


async def patient_side(patient: PjsuaPeer, handle: int, stop: asyncio.Event) -> int:
    """The concurrent bench's phone, turn after turn, until `stop`; returns turns done."""
    turns = 0
    while not stop.is_set():
        started = await patient.wait_audio(call=handle, frames=3, min_rms=300, timeout=10)
        await patient.wait_silence(call=handle, frames=45, min_rms=300, since_t=started,
                                   timeout=10)  # fmt: skip
        play = await patient.play_tone(300.0, 1.0, call=handle)
        await patient.wait_event(
            "play_done", lambda e, p=play: e.get("play_id") == p, call=handle, timeout=10
        )
        turns += 1
    return turns


async def main(calls: int, seconds: float, warmup: float, idle: float, loop_ms: int) -> None:
    print(f"hardware: {hardware()}")
    print(f"phones' main loop: libHandleEvents({loop_ms})")
    print(f"machine at start: {load()} (shared: CPU time is what counts, not wall time)")
    with tempfile.TemporaryDirectory(prefix="phone-cost-") as tmp:
        async with (
            PjsuaPeer.start("udp", name="agent", user="agent", log_dir=tmp, log_level=1,
                            loop_ms=loop_ms) as agent,
            PjsuaPeer.start(
                "udp", name="patient", user="patient", auto_answer=200, log_dir=tmp, log_level=1,
                loop_ms=loop_ms,
            ) as patient,
        ):
            phones = {"agent": agent, "patient": patient}
            print("pids: " + ", ".join(f"{k} {p.proc.pid}" for k, p in phones.items()), flush=True)
            idle0 = {k: thread_cpu(p.proc.pid) for k, p in phones.items()}
            await asyncio.sleep(idle)
            for k, p in phones.items():
                idle1 = thread_cpu(p.proc.pid)
                spent = sum(idle1.values()) - sum(idle0[k].values())
                print(
                    f"{k:>8} idle: {1000 * spent / idle:6.2f} ms CPU per second (no call; "
                    f"threads: {thread_split(p.proc.pid, idle0[k], idle1)})"
                )
            handles = []
            for _ in range(calls):
                a = await agent.call(patient.uri())
                incoming = await patient.wait_incoming(timeout=10)
                await agent.wait_media_active(call=a, timeout=10)
                await patient.wait_media_active(call=int(incoming["call"]), timeout=10)
                handles.append((a, int(incoming["call"])))
            wav = Path(tmp) / "turn.wav"
            write_wav(wav, np.concatenate([tone(440.0, 1.5), np.zeros(24000, np.int16)]))
            for a, _ in handles:
                await agent_side(agent, a, wav)
            stop = asyncio.Event()
            runs = [asyncio.create_task(patient_side(patient, b, stop)) for _, b in handles]
            await asyncio.sleep(warmup)
            cpu0 = {k: process_cpu(p.proc.pid) for k, p in phones.items()}
            threads0 = {k: thread_cpu(p.proc.pid) for k, p in phones.items()}
            wall0 = time.monotonic()
            await asyncio.sleep(seconds)
            cpu1 = {k: process_cpu(p.proc.pid) for k, p in phones.items()}
            threads1 = {k: thread_cpu(p.proc.pid) for k, p in phones.items()}
            wall = time.monotonic() - wall0
            stop.set()
            turns = sum(await asyncio.gather(*runs))
            stats = [await patient.stats(call=b) for _, b in handles]
            for a, _ in handles:
                with contextlib.suppress(PeerError):
                    await agent.hangup(a)
    print(
        f"{calls} calls (PCMU), {wall:.1f} s measured after {warmup:.0f} s warm-up; "
        f"patient turns done: {turns}; codec {stats[0].get('codec')}, patient rx "
        f"{sum(s['frames_rx'] for s in stats)} frames, tx {sum(s['frames_tx'] for s in stats)}"
    )
    total = 0.0
    for k, p in phones.items():
        spent = cpu1[k] - cpu0[k]
        total += spent
        fine = sum(threads1[k].values()) - sum(threads0[k].values())
        print(
            f"{k:>8}: {1000 * spent / (calls * wall):6.2f} ms CPU per call per second "
            f"({spent / wall:.3f} cores; by the scheduler's ns "
            f"{1000 * fine / (calls * wall):.2f}; threads: "
            f"{thread_split(p.proc.pid, threads0[k], threads1[k])})"
        )
    print(f"    mean: {1000 * total / (2 * calls * wall):6.2f} ms CPU per call per second")
    print(f"machine at end: {load()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=4, help="calls (at most 4: pjsua2)")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring")
    parser.add_argument("--idle", type=float, default=5.0, help="idle seconds measured first")
    parser.add_argument("--loop-ms", type=int, default=5,
                        help="the phones' main-loop wait (the peer's loop_ms option)")
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.seconds, args.warmup, args.idle, args.loop_ms))
