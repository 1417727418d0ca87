"""How long a call's careful second pass takes in the speech workers, by the turn's length.

    .venv/bin/python bench/second_pass_time.py [--per-band 4]     # about 2 min

The speech pool as a call gets it with the default settings (``agent.runtime.stt_config``:
its worker processes and threads), on an otherwise idle box: each turn's first pass
(``transcribe``) and then its second pass (``transcribe_carefully``, decoded as a file
is, and a second time with more silence before it by the spare worker, waited for when
the model is unsure of the first text: ``agent.speech.careful``), one after the other.
The turns are the human recordings of bench/speech_wer_human.py (the dev split only) at
8 kHz mu-law, cut by the call's endpointer as a call records them (``Utterance.recorded``).
A second pass that takes longer than a call waits for it
(``StreamingConfig.second_pass_wait_s`` for a worker, then ``second_pass_decode_s``)
leaves the turn its first text.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench.speech_wer_human as wer
from agent.runtime import endpoint_config, streaming_config, stt_config
from agent.speech.audio import RATE, frames
from agent.speech.endpoint import Endpointer, Utterance
from agent.speech.stt import SpeechToText
from bench._common import hardware, load
from carrier.settings import SpeechSettings, load_settings

CONFIG = Path(__file__).resolve().parents[1] / "config"
BANDS = ((1, 2), (2, 4), (4, 6), (6, 9), (9, 13), (13, 25))


def turn_of(pcm: np.ndarray, speech: SpeechSettings) -> Utterance:
    """The first turn a call's endpointer makes of the recording (0.5 s of silence before
    it, 2 s after), as recorded."""
    stream = np.concatenate([np.zeros(RATE // 2, np.int16), pcm, np.zeros(2 * RATE, np.int16)])
    endpointer = Endpointer(endpoint_config(speech))
    turns = [e for i, f in enumerate(frames(stream)) for e in endpointer.feed(f, i * 0.02)
             if isinstance(e, Utterance)]
    return turns[0]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-band", type=int, default=4, help="recordings per length band")
    args = parser.parse_args()
    print(f"hardware: {hardware()}")
    print(f"machine at start: {load()}")
    settings = load_settings(CONFIG)
    config = stt_config(settings)
    waits = streaming_config(settings.speech)
    clips = [c for c in wer.corpus(wer.SOUNDS, wer.TRANSCRIPT) if c.split == "dev"]
    seconds = {c.name: len(wer.read_wav(wer.SOUNDS / f"{c.name}.wav")[0]) / 8000 for c in clips}
    print(f"speech workers: {config.workers}; a call waits {waits.second_pass_wait_s} s for a "
          f"worker, then {waits.second_pass_decode_s} s for the decode")
    # "twice": the model was unsure of the turn's text and decoded it again with more
    # silence before it (agent.speech.careful), which the second pass's time includes.
    print("turn s  first pass s  second pass s  twice")
    stt = SpeechToText(config)
    await stt.start()
    try:
        await stt.warm_spare()  # a call's first free-text turn starts it
        for lo, hi in BANDS:
            for clip in [c for c in clips if lo <= seconds[c.name] < hi][:args.per_band]:
                turn = turn_of(wer.audio(wer.SOUNDS, clip, "8k")[0], settings.speech)
                started = time.perf_counter()
                await stt.transcribe(turn.audio)
                first = time.perf_counter() - started
                started = time.perf_counter()
                careful = await stt.transcribe_carefully(
                    turn.recorded if turn.recorded is not None else turn.audio)
                second = time.perf_counter() - started
                length = len(turn.recorded if turn.recorded is not None else turn.audio) / RATE
                twice = "yes" if careful.reframed else "no"
                print(f"{length:6.1f}  {first:12.2f}  {second:13.2f}  {twice:>5}", flush=True)
    finally:
        await stt.close()
    print(f"machine at end: {load()}")


if __name__ == "__main__":
    asyncio.run(main())
