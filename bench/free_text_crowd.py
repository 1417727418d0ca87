"""What a free-text turn's second framing costs the other callers' answers.

    .venv/bin/python bench/free_text_crowd.py [--seconds 60] [--answers-per-s 4]
        [--free-every 3]                                               # about 3 min

A call's careful second pass of free text (a name, a reason) decodes the turn a second
time, with more silence before it (``SpeechToText.transcribe_carefully(reframe=True)``,
``agent.speech.careful``), in the spare worker at the lowest CPU priority. A judged answer
(a "yes", a date) that arrives from another caller meanwhile should not wait for it.
(Before, the second framing took the second of two speech workers when both were idle,
for about 1 s, and such answers waited for it.) ``bench/concurrent_calls.py`` has no
free-text turn, so this bench measures it on the speech pool alone, as a call gets it
with the default settings (``agent.runtime.stt_config``), on an otherwise idle box.

The same arrivals run twice, with the second framing and without it: judged answers
(dev-split recordings of bench/speech_wer_human.py at 8 kHz mu-law, 0.5-2.5 s, decoded as
a call decodes a judged answer: ``transcribe_quickly``) arrive ``--answers-per-s`` a second
at random (Poisson, seeded), and every ``--free-every`` seconds a free-text turn (a 2-6 s
recording) is decoded as a call decodes one: its first pass, then its careful pass. It
prints each kind's time from arrival to text (p50, p95, max), how many second framings
the spare decoded and how many careful passes waited for one (their first text unsure).
48 calls with a judged answer every 12 s each make 4 a second.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench.speech_wer_human as wer
from agent.runtime import stt_config
from agent.speech.stt import SpeechToText
from bench._common import hardware, load, pct
from bench.second_pass_time import turn_of
from carrier.settings import Settings, load_settings

CONFIG = Path(__file__).resolve().parents[1] / "config"


def turns(settings: Settings, lo: float, hi: float) -> list[np.ndarray]:
    """The dev recordings of ``lo``-``hi`` s, as a call's endpointer records each turn."""
    clips = [c for c in wer.corpus(wer.SOUNDS, wer.TRANSCRIPT) if c.split == "dev"
             and lo <= len(wer.read_wav(wer.SOUNDS / f"{c.name}.wav")[0]) / 8000 < hi]
    out = []
    for clip in clips:
        turn = turn_of(wer.audio(wer.SOUNDS, clip, "8k")[0], settings.speech)
        out.append(turn.recorded if turn.recorded is not None else turn.audio)
    return out


async def run(stt: SpeechToText, answers: list[np.ndarray], free: list[np.ndarray],
              args: argparse.Namespace, reframe: bool) -> tuple[list[float], list[float]]:
    """One run of the arrivals: each judged answer's and each free-text pass's time from
    arrival to text."""
    rng = random.Random(args.seed)
    judged: list[float] = []
    careful: list[float] = []

    async def answer(pcm: np.ndarray) -> None:
        started = time.perf_counter()
        await stt.transcribe_quickly(pcm)
        judged.append(time.perf_counter() - started)

    async def free_text(pcm: np.ndarray) -> None:
        await stt.transcribe(pcm)
        started = time.perf_counter()
        await stt.transcribe_carefully(pcm, reframe=reframe)
        careful.append(time.perf_counter() - started)

    tasks = []
    start = time.perf_counter()
    next_answer = rng.expovariate(args.answers_per_s)
    next_free = args.free_every / 2
    count = 0
    while True:
        at = min(next_answer, next_free)
        if at >= args.seconds:
            break
        # the arrivals are real time: a judged answer arrives while others decode
        await asyncio.sleep(max(0.0, start + at - time.perf_counter()))
        if next_answer <= next_free:
            tasks.append(asyncio.ensure_future(answer(answers[rng.randrange(len(answers))])))
            next_answer += rng.expovariate(args.answers_per_s)
        else:
            tasks.append(asyncio.ensure_future(free_text(free[count % len(free)])))
            count += 1
            next_free += args.free_every
    await asyncio.gather(*tasks)
    return judged, careful


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="arrivals for this long")
    parser.add_argument("--answers-per-s", type=float, default=4.0)
    parser.add_argument("--free-every", type=float, default=3.0,
                        help="seconds between free-text turns")
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    print(f"hardware: {hardware()}")
    print(f"machine at start: {load()}")
    settings = load_settings(CONFIG)
    config = stt_config(settings)
    answers = turns(settings, 0.5, 2.5)
    free = turns(settings, 2.0, 6.0)
    print(f"speech workers: {config.workers}; {len(answers)} judged answers, {len(free)} "
          f"free-text turns; {args.answers_per_s}/s answers, a free-text turn every "
          f"{args.free_every} s, for {args.seconds} s")
    print("second framing  kind          n   p50 ms   p95 ms   max ms  decoded/waited")
    for reframe in (False, True):
        stt = SpeechToText(config)
        await stt.start()
        try:
            if reframe and hasattr(stt, "warm_spare"):  # (before the spare: no such thing)
                await stt.warm_spare()
            judged, careful = await run(stt, answers, free, args, reframe)
            reframed = f"{getattr(stt.stats, 'spare', '-')}/{stt.stats.reframed}"
        finally:
            await stt.close()
        for kind, times in (("judged answer", judged), ("free text", careful)):
            ms = [1000 * t for t in times]
            print(f"{'yes' if reframe else 'no':>14}  {kind:<13} {len(ms):3d} "
                  f"{pct(ms, 0.5):8.0f} {pct(ms, 0.95):8.0f} {max(ms):8.0f}  "
                  f"{reframed if kind == 'free text' else '':>14}", flush=True)
    print(f"machine at end: {load()}")


if __name__ == "__main__":
    asyncio.run(main())
