"""webrtcvad against Silero VAD on noisy telephone audio: precision and recall of speech
frames, and CPU per 20 ms frame.

    .venv/bin/python bench/vad_compare.py [--utterances 40] [--snr 20,10,5,0]

Audio: utterances of ``tests/vectors/speech/utterances.tsv`` spoken by the project's
voices (Piper and espeak-ng, as ``bench/speech_corpus.py`` makes them), laid end to end
with 0.3-1.5 s pauses; noise mixed in at each SNR (white, pink, and babble made of other
utterances of the corpus, the babble speakers never the same utterances as the talker),
then the whole signal through G.711 mu-law at 8 kHz and back to 16 kHz, as the agent
hears a phone line. The SNR is speech power over the speech frames to noise power.

Truth: a frame is speech when the clean utterance's frame is within 35 dB of that
utterance's loudest frame (pauses between utterances and silences inside them are not).
The VAD sees 20 ms frames one at a time, as ``agent.speech.endpoint`` feeds it, with the
same 100 RMS energy floor the endpointer uses.

Split: even-numbered utterances are the dev half (the operating points below were chosen
on it: webrtcvad aggressiveness 0-3, Silero threshold 0.3/0.5/0.7), odd ones are held out
and never tuned on; both are printed, the verdict is taken on the held-out half (F1 over
all noise kinds and SNRs), beside the shipped operating points.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.speech.audio import telephone
from bench._common import hardware, load
from bench.speech_corpus import VOICES, load_corpus, make_synthesiser
from media.vad import SILERO_THRESHOLD, SileroActivity, VoiceActivity

FRAME = 320
RATE = 16000
MIN_RMS = 100.0  # agent.speech.endpoint.EndpointConfig.min_rms
TRUTH_DB = 35.0
NOISES = ("white", "pink", "babble")


@dataclass
class Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    seconds: float = 0.0
    frames: int = 0
    by: dict[str, list[int]] = field(default_factory=dict)

    def add(self, truth: np.ndarray, said: np.ndarray, key: str) -> None:
        tp = int(np.sum(truth & said))
        fp = int(np.sum(~truth & said))
        fn = int(np.sum(truth & ~said))
        self.tp, self.fp, self.fn = self.tp + tp, self.fp + fp, self.fn + fn
        self.tn += int(np.sum(~truth & ~said))
        row = self.by.setdefault(key, [0, 0, 0])
        row[0] += tp
        row[1] += fp
        row[2] += fn

    @staticmethod
    def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
        p = tp / max(1, tp + fp)
        r = tp / max(1, tp + fn)
        return p, r, 2 * p * r / max(1e-9, p + r)


def truth_of(clean: np.ndarray) -> np.ndarray:
    frames = clean[: len(clean) // FRAME * FRAME].astype(np.float64).reshape(-1, FRAME)
    energy = np.mean(frames**2, axis=1)
    return energy > energy.max() * 10 ** (-TRUTH_DB / 10)


def conversation(
    utterances: list[np.ndarray], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Utterances with pauses between them, and the per-frame truth."""
    parts, truth = [], []
    for spoken in utterances:
        gap = np.zeros(int(rng.uniform(0.3, 1.5) * RATE) // FRAME * FRAME, dtype=np.int16)
        audio = np.concatenate([spoken, np.zeros((-len(spoken)) % FRAME, dtype=np.int16)])
        parts += [gap, audio]
        truth += [np.zeros(len(gap) // FRAME, dtype=bool), truth_of(audio)]
    parts.append(np.zeros(RATE // 2, dtype=np.int16))
    truth.append(np.zeros(RATE // 2 // FRAME, dtype=bool))
    return np.concatenate(parts), np.concatenate(truth)


def noise_of(kind: str, n: int, babble: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    if kind == "white":
        return rng.standard_normal(n)
    if kind == "pink":
        spectrum = np.fft.rfft(rng.standard_normal(n))
        spectrum /= np.sqrt(np.maximum(1.0, np.arange(len(spectrum))))
        return np.fft.irfft(spectrum, n)
    out = np.zeros(n)
    for _ in range(4):  # four talkers at once: speech-shaped, not intelligible
        stream = np.concatenate([babble[i] for i in rng.permutation(len(babble))])
        stream = np.tile(stream, n // len(stream) + 1)
        start = int(rng.integers(0, len(stream) - n + 1))
        out += stream[start : start + n].astype(np.float64)
    return out


def mix(speech: np.ndarray, truth: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    frames = speech.astype(np.float64).reshape(-1, FRAME)
    p_speech = float(np.mean(frames[truth] ** 2))
    p_noise = float(np.mean(noise**2))
    scaled = noise * np.sqrt(p_speech / (p_noise * 10 ** (snr_db / 10)))
    return np.clip(np.round(speech + scaled), -32768, 32767).astype(np.int16)


def run_vad(make: Callable[[], object], audio: np.ndarray) -> tuple[np.ndarray, float]:
    vad = make()
    frames = audio.reshape(-1, FRAME)
    said = np.zeros(len(frames), dtype=bool)
    start = time.process_time()
    for i, frame in enumerate(frames):
        said[i] = vad.is_speech(frame)  # type: ignore[attr-defined]
    return said, time.process_time() - start


def candidates() -> dict[str, Callable[[], object]]:
    out: dict[str, Callable[[], object]] = {}
    for a in range(4):
        out[f"webrtc a={a}"] = lambda a=a: VoiceActivity(a, min_rms=MIN_RMS)
    for t in (0.3, 0.5, 0.7):
        out[f"silero t={t}"] = lambda t=t: SileroActivity(t, min_rms=MIN_RMS)
    return out


def speak_all(count: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(talker utterances, babble utterances): disjoint parts of the corpus."""
    items = load_corpus()
    speak = make_synthesiser()
    talk = [speak(item.text, VOICES[i % len(VOICES)]) for i, item in enumerate(items[:count])]
    babble_items = items[count : count + 12]
    babble = [speak(item.text, VOICES[i % len(VOICES)]) for i, item in enumerate(babble_items)]
    return talk, babble


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=40, help="talker utterances (split 2)")
    parser.add_argument("--snr", default="20,10,5,0", help="SNRs in dB")
    args = parser.parse_args()
    print(f"hardware: {hardware()}")
    print(f"machine: {load()} (shared with other work: cost figures are loaded-box figures)")
    rng = np.random.default_rng(14)
    talk, babble = speak_all(args.utterances)
    halves = {"dev": talk[0::2], "held-out": talk[1::2]}
    snrs = [float(s) for s in args.snr.split(",") if s]
    makers = candidates()
    tallies = {half: {name: Tally() for name in makers} for half in halves}
    for half, utterances in halves.items():
        speech, truth = conversation(utterances, rng)
        print(f"{half}: {len(utterances)} utterances, {len(truth) * 0.02:.0f} s, "
              f"{truth.mean() * 100:.0f}% speech frames")
        for kind in NOISES:
            noise = noise_of(kind, len(speech), babble, rng)
            for snr in snrs:
                line = telephone(mix(speech, truth, noise, snr))[: len(truth) * FRAME]
                line = np.concatenate([line, np.zeros(len(truth) * FRAME - len(line), np.int16)])
                for name, make in makers.items():
                    said, cpu = run_vad(make, line)
                    tally = tallies[half][name]
                    tally.add(truth, said, f"{kind} {snr:g} dB")
                    tally.seconds += cpu
                    tally.frames += len(said)
    report(tallies, snrs)
    return 0


def report(tallies: dict[str, dict[str, Tally]], snrs: list[float]) -> None:
    for half, by_name in tallies.items():
        print(f"\n{half}: speech-frame precision / recall / F1 over all noises and SNRs")
        print(f"{'VAD':<14} {'prec':>6} {'recall':>6} {'F1':>6} {'us/frame':>9}   "
              + "  ".join(f"F1 {k:>13}" for k in next(iter(by_name.values())).by))
        for name, t in by_name.items():
            p, r, f1 = Tally.prf(t.tp, t.fp, t.fn)
            cells = "  ".join(f"{Tally.prf(*row)[2]:>16.3f}" for row in t.by.values())
            print(f"{name:<14} {p:>6.3f} {r:>6.3f} {f1:>6.3f} "
                  f"{t.seconds / max(1, t.frames) * 1e6:>9.1f}   {cells}")
    dev = tallies["dev"]
    best = {
        kind: max((n for n in dev if n.startswith(kind)), key=lambda n: Tally.prf(
            dev[n].tp, dev[n].fp, dev[n].fn)[2])
        for kind in ("webrtc", "silero")
    }
    held = tallies["held-out"]
    print("\nchosen on dev, scored on held-out:")
    scores = {}
    for kind, name in best.items():
        t = held[name]
        p, r, f1 = Tally.prf(t.tp, t.fp, t.fn)
        scores[kind] = f1
        print(f"  {name:<14} precision {p:.3f} recall {r:.3f} F1 {f1:.3f} "
              f"({t.seconds / max(1, t.frames) * 1e6:.1f} us CPU per 20 ms frame)")
    winner = max(scores, key=lambda k: scores[k])
    print(f"better on held-out noisy telephone audio: {winner} "
          f"(SNRs {', '.join(f'{s:g}' for s in snrs)} dB; {', '.join(NOISES)} noise)")
    print("as shipped (speech.vad webrtc with vad_aggressiveness 2; silero at "
          f"media.vad.SILERO_THRESHOLD {SILERO_THRESHOLD}), held-out:")
    for name in ("webrtc a=2", f"silero t={SILERO_THRESHOLD}"):
        if name in held:
            t = held[name]
            p, r, f1 = Tally.prf(t.tp, t.fp, t.fn)
            print(f"  {name:<14} precision {p:.3f} recall {r:.3f} F1 {f1:.3f}")
    print(f"machine at end: {load()}")


if __name__ == "__main__":
    sys.exit(main())
