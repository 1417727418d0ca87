"""Word error rate on REAL human speech: the raw Whisper model vs our pipeline, one run.

    .venv/bin/pip install -e '.[bench]'      # the G.722 decoder (PyPI wheel ``g722``)
    apt-get install asterisk-core-sounds-en-wav asterisk-core-sounds-en-g722 \\
        asterisk-core-sounds-en               # Debian: the recordings and their transcript
    .venv/bin/python bench/speech_wer_human.py [--per-split 100] [--rates 16k,8k]
        [--decoders raw,cli,call] [--show [diff]] [--lang es]
    apt-get install asterisk-core-sounds-es asterisk-core-sounds-es-wav \
        asterisk-core-sounds-es-g722          # --lang es: the Spanish prompts

The recordings: Asterisk's core English prompts, spoken by a person (Allison Smith),
packaged by Debian (``asterisk-core-sounds-en-*`` 1.6.x, licence CC-BY-SA-3.0, see
/usr/share/doc/asterisk-core-sounds-en/copyright). The transcript of every prompt is
``core-sounds-en.txt.gz`` in the same package. Prompts whose text is a description
("[beep]", "(silence)") are left out, and so are recordings over 25 s.

Rates: "16k" is the wideband recording (G.722 as packaged, decoded to 16 kHz); "8k" is the
8 kHz recording through a G.711 mu-law round trip, then up to 16 kHz, as a phone call
delivers it.

Decoders, on the same audio:
- raw: faster-whisper's own ``WhisperModel.transcribe`` with its defaults (30 s window,
  beam 5, temperature fallback), language English: the model as it comes.
- cli: ``carrier speech transcribe FILE`` with its defaults (its own argument parser,
  engine settings and WAV reader; the 8k clip reaches it as an 8 kHz mu-law WAV).
- padded: the raw model on the clip with the call's padding (0.5 s of silence before,
  1 s after): the noise floor, how far raw's own count moves with the silence alone.
- call: what a call does with the default settings, through the call's own turn logic
  (``StreamingTranscriber`` with ``agent.runtime.streaming_config`` and
  ``endpoint_config``: the grammar end of turn, ``speech.turn_end = grammar``): the
  recording with 0.5 s of silence before it and 2 s after, fed frame by frame, as the
  answer to a free-text question (the grammar judges only whether the words trail off:
  "... followed by" waits ``incomplete_hangover_ms``, a finished sentence the adaptive
  base). Every early transcript at a pause runs (an idle box). Each turn gets the
  speech workers' engine (short windows, greedy), and then, as no workflow grammar
  understands these prompts, the second pass a call gives such a turn: the turn as
  recorded (``Utterance.recorded``: from ``lead_ms`` before the onset to the end of
  turn) decoded as a file is, and decoded again with more silence before it when the
  model is unsure of its text, the surer text kept (``WhisperEngine.transcribe_careful``,
  ``agent.speech.careful``); texts joined.
  On an idle box a call's speech pool decodes every such pass to its end: a worker takes
  it at once (``StreamingConfig.second_pass_wait_s`` is the wait for a worker, and the
  decode then has ``second_pass_decode_s``). Before, the whole pass had 2 s,
  and a call kept the first text of a turn over about 8 s, which this column did not.
  ``--no-second-pass`` shows the first pass alone.
- silence: as call, with the end of turn of ``speech.turn_end = silence`` (the rule
  before issue 14: every pause of ``hangover_ms`` ends a turn); this was the call column
  up to session 12, which fed the endpointer alone and so missed the default rule.

The corpus is split in two by a hash of the prompt's name: "dev" (looked at while tuning)
and "held-out" (never looked at); both are printed, with the errors in words, the clips
where a pipeline decoder did better / worse than raw and a sign test on them (p > 0.05: the
gap is noise). Text is normalised alike for every decoder (lower case, digits as words,
punctuation and hyphens as spaces).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import gzip
import hashlib
import json
import math
import os
import random
import re
import shutil
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from agent.runtime import endpoint_config, streaming_config
from agent.speech import cli as speech_cli
from agent.speech.audio import (
    RATE,
    frames,
    int16_to_float,
    mulaw_decode,
    mulaw_encode,
    read_wav,
    resample,
    to_int16,
    write_mulaw_wav,
    write_wav,
)
from agent.speech.careful import reframed, surer, unsure
from agent.speech.endpoint import Endpointer, EndpointEvent, Utterance
from agent.speech.models import whisper_model_dir
from agent.speech.whisper import Hints, Request, SttConfig, Transcript, WhisperEngine
from bench._common import hardware, load
from carrier.settings import SpeechSettings

SOUNDS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
TRANSCRIPT = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
# ``--lang es``: the same speaker's Mexican Spanish prompts (asterisk-core-sounds-es-wav,
# -es-g722, and -es for the transcript), a language the agent speaks with its callers.
SOUNDS_ES = Path("/usr/share/asterisk/sounds/es_MX_f_Allison")
TRANSCRIPT_ES = Path("/usr/share/doc/asterisk-core-sounds-es/core-sounds-es.txt.gz")
LANGUAGE = "en"  # --lang: what raw, cli and call are told the clips are in
DECODERS = ("raw", "cli", "call", "silence", "padded")
# The endpointer and turn logic a call gets with the default settings (``speech``).
CALL_ENDPOINT = endpoint_config(SpeechSettings())
CALL_STREAMING = streaming_config(SpeechSettings())
# A call's second pass for a turn its grammar did not understand (``--no-second-pass``:
# the first pass alone, as before it existed).
SECOND_PASS = True


@dataclass(frozen=True)
class Clip:
    name: str
    text: str
    split: str


def corpus(sounds: Path, transcript: Path) -> list[Clip]:
    clips: list[Clip] = []
    seen: set[str] = set()
    with gzip.open(transcript, "rt", encoding="utf-8") as f:
        lines = f.read().splitlines()
    for line in lines:
        name, sep, text = line.partition(":")
        text = text.strip()
        if not sep or line.startswith(";") or not text or re.search(r"[\[\](<>]", text):
            continue
        if name in seen:  # a name given twice (the Spanish list has "digits/0" twice)
            continue
        seen.add(name)
        if not (sounds / f"{name}.g722").is_file() or not (sounds / f"{name}.wav").is_file():
            continue
        held = hashlib.sha256(name.encode()).digest()[0] % 2
        clips.append(Clip(name, text, "held-out" if held else "dev"))
    return clips


def audio(sounds: Path, clip: Clip, rate: str) -> tuple[np.ndarray, np.ndarray | None]:
    """The clip at 16 kHz as every decoder gets it, and for "8k" the 8 kHz G.711 samples
    it was made from (what the CLI column gets, as a mu-law WAV)."""
    if rate == "16k":
        import G722  # noqa: PLC0415 - the bench extra

        raw = (sounds / f"{clip.name}.g722").read_bytes()
        return np.asarray(G722.G722(RATE, 64000).decode(raw), dtype=np.int16), None
    pcm, sr = read_wav(sounds / f"{clip.name}.wav")
    narrow = to_int16(resample(pcm, sr, 8000)) if sr != 8000 else pcm
    phone = mulaw_decode(mulaw_encode(narrow))
    return to_int16(resample(phone, 8000, RATE)), phone


# --- text normalisation and WER -------------------------------------------------------

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
         "eighteen", "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def number_words(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return _ONES[n // 100] + " hundred" + ("" if rest == 0 else " " + number_words(rest))
    rest = n % 1000
    return number_words(n // 1000) + " thousand" + ("" if rest == 0 else " " + number_words(rest))


_ORDINAL = {"one": "first", "two": "second", "three": "third", "five": "fifth",
            "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}


def ordinal_words(n: int) -> str:
    """``number_words`` as an ordinal: 3 -> "third", 40 -> "fortieth", 21 -> "twenty first"."""
    *head, last = number_words(n).split()
    if last in _ORDINAL:
        last = _ORDINAL[last]
    else:
        last = last[:-1] + "ieth" if last.endswith("y") else last + "th"
    return " ".join([*head, last])


def normalise(text: str) -> list[str]:
    t = text.lower().replace("#", " pound ").replace("*", " star ").replace("&", " and ")
    t = re.sub(r"(\d),(\d)", r"\1\2", t)
    # "3rd" and "third" are one word said alike (the raw model writes the one, a call the other)
    t = re.sub(r"\b(\d+)(?:st|nd|rd|th)\b",
               lambda m: f" {ordinal_words(int(m.group(1)) % 1_000_000)} ", t)
    t = re.sub(r"\d+", lambda m: f" {number_words(int(m.group()) % 1_000_000)} ", t)
    return re.sub(r"[^a-z' ]", " ", t.replace("-", " ")).split()


_UNOS = ["cero", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve",
         "diez", "once", "doce", "trece", "catorce", "quince", "dieciseis", "diecisiete",
         "dieciocho", "diecinueve", "veinte", "veintiuno", "veintidos", "veintitres",
         "veinticuatro", "veinticinco", "veintiseis", "veintisiete", "veintiocho",
         "veintinueve"]
_DECENAS = ["", "", "", "treinta", "cuarenta", "cincuenta", "sesenta", "setenta", "ochenta",
            "noventa"]
_CIENTOS = ["", "ciento", "doscientos", "trescientos", "cuatrocientos", "quinientos",
            "seiscientos", "setecientos", "ochocientos", "novecientos"]


def spanish_number_words(n: int) -> str:
    if n < 30:
        return _UNOS[n]
    if n < 100:
        return _DECENAS[n // 10] + ("" if n % 10 == 0 else " y " + _UNOS[n % 10])
    if n < 1000:
        rest = n % 100
        if n == 100:
            return "cien"
        return _CIENTOS[n // 100] + ("" if rest == 0 else " " + spanish_number_words(rest))
    rest = n % 1000
    head = "mil" if n // 1000 == 1 else spanish_number_words(n // 1000) + " mil"
    return head + ("" if rest == 0 else " " + spanish_number_words(rest))


def normalise_es(text: str) -> list[str]:
    """``normalise`` for Spanish: accents folded (the transcript leaves most out: "numero",
    "contrasena"), digits as Spanish words, punctuation as spaces."""
    t = "".join(c for c in unicodedata.normalize("NFKD", text.lower())
                if not unicodedata.combining(c))
    t = t.replace("#", " numeral ").replace("*", " asterisco ")
    t = re.sub(r"(\d)[,.](\d{3})\b", r"\1\2", t)
    t = re.sub(r"\d+", lambda m: f" {spanish_number_words(int(m.group()) % 1_000_000)} ", t)
    return re.sub(r"[^a-z' ]", " ", t.replace("-", " ")).split()


def normaliser() -> Callable[[str], list[str]]:
    return normalise_es if LANGUAGE == "es" else normalise


def edits(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        diag, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            diag, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diag + (r != h))
    return row[-1]


def sign_test(better: int, worse: int) -> float:
    """Two-sided exact sign test on the clips where a decoder and raw differ: the chance
    of a split at least this uneven if neither were better (p > 0.05: noise)."""
    n, k = better + worse, min(better, worse)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n) if n else 1.0


# --- the decoders ---------------------------------------------------------------------


def raw(engine: WhisperEngine, pcm: np.ndarray) -> str:
    segments, _ = engine.model.transcribe(int16_to_float(pcm), language=LANGUAGE,
                                        vad_filter=False)
    return " ".join(s.text.strip() for s in segments)


class Cli:
    """``carrier speech transcribe FILE`` as an operator runs it, with its defaults: the
    arguments come from the command's own parser, the engine from its ``engine_config``,
    and each clip is written as the WAV an operator would hand it (16-bit 16 kHz, or
    8 kHz mu-law) and read back by the command's own reader. The model is loaded once,
    not once per clip (which is all a separate process per clip would add)."""

    def __init__(self, folder: Path, threads: int, scratch: Path) -> None:
        parser = argparse.ArgumentParser()
        speech_cli.register(parser.add_subparsers())
        self.wav = scratch / "clip.wav"
        self.args = parser.parse_args(["speech", "transcribe", str(self.wav),
                                       "--model-dir", str(folder), "--language", LANGUAGE])
        config = dataclasses.replace(speech_cli.engine_config(self.args), cpu_threads=threads)
        self.engine = WhisperEngine(config)

    def __call__(self, pcm: np.ndarray, narrow: np.ndarray | None) -> str:
        if narrow is not None:
            write_mulaw_wav(self.wav, narrow, 8000)
        else:
            write_wav(self.wav, pcm, RATE)
        prompt = Hints(expected=tuple(self.args.hint)).prompt()
        return speech_cli.transcribe_recording(
            self.engine, speech_cli.load_recording(self.wav), prompt,
            mode=speech_cli.decoding_mode(self.args))


def padded(engine: WhisperEngine, pcm: np.ndarray) -> str:
    """The raw model on the clip padded with silence as ``call`` pads it: the noise floor
    (how far the raw model's own count moves when only the silence around a clip does)."""
    pad = np.zeros(RATE // 2, dtype=np.int16)
    return raw(engine, np.concatenate([pad, pcm, pad, pad]))


class _InProcess:
    """The speech workers' engine in this process, as a call's turn logic asks it (an
    idle box: every early transcript runs, at once)."""

    idle_workers = 1

    def __init__(self, engine: WhisperEngine) -> None:
        self.engine = engine

    async def transcribe(self, pcm16k: np.ndarray, hints: Hints | None = None) -> Transcript:
        return self.engine.transcribe_batch([Request(pcm16k)])[0]

    async def transcribe_carefully(self, pcm16k: np.ndarray, hints: Hints | None = None, *,
                                   within_s: float | None = None, reframe: bool = True
                                   ) -> Transcript:
        return careful_pass(self.engine, pcm16k, reframe=reframe)


def careful_pass(engine: WhisperEngine, pcm: np.ndarray, *, reframe: bool = True
                 ) -> Transcript:
    """A call's careful pass on an idle pool (``SpeechToText.transcribe_carefully``): the
    turn, and (``reframe``: free text, as every prompt here is) beside it in the spare
    worker the turn with more silence before it, whose text is kept when the model is
    unsure of the first and surer of it."""
    heard = engine.transcribe_careful(Request(pcm))
    if not reframe or not unsure(heard):
        return heard
    return surer(heard, engine.transcribe_careful(Request(reframed(pcm))))


class _Counted(Endpointer):
    """The endpointer, counting the turns it ends (also those a verdict ends at once)."""

    ends = 0

    def feed(self, frame: np.ndarray, now: float | None = None) -> list[EndpointEvent]:
        return self._count(super().feed(frame, now))

    def force_end(self, now: float) -> list[EndpointEvent]:
        return self._count(super().force_end(now))

    def _count(self, events: list[EndpointEvent]) -> list[EndpointEvent]:
        self.ends += sum(isinstance(e, Utterance) for e in events)
        return events


async def _turns(engine: WhisperEngine, pcm: np.ndarray) -> list[str]:
    from agent.grammar.completion import completion  # noqa: PLC0415
    from agent.speech.streaming import StreamingTranscriber  # noqa: PLC0415

    config = CALL_STREAMING if SECOND_PASS else dataclasses.replace(CALL_STREAMING,
                                                                    second_pass=False)
    pad = np.zeros(RATE // 2, dtype=np.int16)
    today = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)
    endpointer = _Counted(CALL_ENDPOINT)
    async with asyncio.TaskGroup() as tasks:
        turns = StreamingTranscriber(_InProcess(engine), endpointer, config, tasks=tasks)
        turns.expect(None, lambda text: completion(text, today, slot_type="text"),
                     typed=False, free_text=True, quick=False)
        for i, frame in enumerate(frames(np.concatenate([pad, pcm] + [pad] * 4))):
            turns.feed(frame, i * 0.02)
            for _ in range(3):
                await asyncio.sleep(0)  # the early transcripts and verdicts run
        texts = [(await turns.next_turn()).text for _ in range(endpointer.ends)]
        await turns.aclose()
    return texts


def call(engine: WhisperEngine, pcm: np.ndarray) -> str:
    return " ".join(asyncio.run(_turns(engine, pcm)))


def silence(engine: WhisperEngine, pcm: np.ndarray) -> str:
    pad = np.zeros(RATE // 2, dtype=np.int16)
    endpointer = Endpointer(CALL_ENDPOINT)
    utterances = []
    for i, frame in enumerate(frames(np.concatenate([pad, pcm, pad, pad]))):
        utterances += [e for e in endpointer.feed(frame, i * 0.02) if isinstance(e, Utterance)]
    utterances += [e for e in endpointer.force_end(len(pcm) / RATE + 1.5)
                   if isinstance(e, Utterance)]
    batch = getattr(engine, "transcribe_batch", None)
    if batch is None:  # an older engine (for before/after figures)
        return " ".join(engine.transcribe(u.audio).text for u in utterances)
    first = [t.text for t in batch([Request(u.audio) for u in utterances])]
    careful = getattr(engine, "transcribe_careful", None)
    if careful is None or not SECOND_PASS:  # before the second pass (before/after figures)
        return " ".join(first)
    # No workflow grammar understands these prompts, so each utterance gets the second
    # pass a call gives a turn its grammar did not find complete (StreamingTranscriber).
    texts = []
    for u, text in zip(utterances, first, strict=True):
        recorded = u.recorded if u.recorded is not None else u.audio
        again = careful_pass(engine, recorded).text if text.strip() else ""
        texts.append(again if again.strip() else text)
    return " ".join(texts)


def run(engine: WhisperEngine, cli: Cli | None, sounds: Path, clips: list[Clip], rate: str,
        show: str, chosen_decoders: tuple[str, ...] = DECODERS,
        raw_cache: dict[str, str] | None = None) -> None:
    cache = {} if raw_cache is None else raw_cache

    def raw_cached(pcm: np.ndarray, key: str) -> str:
        if key not in cache:
            cache[key] = raw(engine, pcm)
        return cache[key]

    decoders = {"raw": None, "cli": cli, "call": lambda pcm, _narrow: call(engine, pcm),
                "silence": lambda pcm, _narrow: silence(engine, pcm),
                "padded": lambda pcm, _narrow: padded(engine, pcm)}
    names = tuple(d for d in DECODERS if d in chosen_decoders)
    for split in ("dev", "held-out"):
        chosen = [c for c in clips if c.split == split]
        if not chosen:
            continue
        words = 0
        errors = dict.fromkeys(names, 0)
        seconds = dict.fromkeys(names, 0.0)
        # Paired: clips where a pipeline decoder made fewer / more errors than raw (one
        # word is 0.5% of a 40-clip split, so a WER gap of a word or two is noise).
        better = dict.fromkeys(names, 0)
        worse = dict.fromkeys(names, 0)
        retries = 0  # call first passes that looked wrong, decoded again in a long window
        for clip in chosen:
            pcm, narrow = audio(sounds, clip, rate)
            ref = normaliser()(clip.text)
            words += len(ref)
            wrongs, texts = {}, {}
            for name in names:
                started, suspects = time.perf_counter(), engine.suspects
                decode = decoders[name]
                if name == "raw":
                    text = texts[name] = raw_cached(
                        pcm, ("" if LANGUAGE == "en" else f"{LANGUAGE}/") + f"{rate}/{clip.name}")
                else:
                    assert decode is not None
                    text = texts[name] = decode(pcm, narrow)
                retries += engine.suspects - suspects if name == "call" else 0
                seconds[name] += time.perf_counter() - started
                wrong = wrongs[name] = edits(ref, normaliser()(text))
                errors[name] += wrong
                better[name] += wrong < wrongs["raw"]
                worse[name] += wrong > wrongs["raw"]
                if show == "errors" and wrong and split == "dev":  # never the held-out split
                    print(f"     {name:>4} {clip.name}: {clip.text!r} -> {text!r}")
            if show == "diff" and split == "dev" and wrongs.get("call", 0) != wrongs["raw"]:
                print(f"     {clip.name}: {clip.text!r}  raw {wrongs['raw']} {texts['raw']!r}"
                      f"  call {wrongs['call']} {texts['call']!r}")
        n = max(1, len(chosen))
        cells = "  ".join(f"{100 * errors[d] / max(1, words):5.1f}% {seconds[d] / n:5.2f}s"
                          for d in names)
        # The errors in words, so that a gap of a word or two shows as what it is.
        paired = "  ".join(f"{d} +{better[d]}/-{worse[d]} (p={sign_test(better[d], worse[d]):.2f})"
                           for d in names[1:])
        paired += "  words wrong " + "/".join(str(errors[d]) for d in names)
        paired += f"  call first passes decoded again {retries}"
        print(f"{rate:>4} {split:>8} {len(chosen):>5} {words:>6}  {cells}  {paired}",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-split", type=int, default=100,
                        help="recordings per split (0: all 266 + 270)")
    parser.add_argument("--rates", default="16k,8k")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--lang", choices=("en", "es"), default="en",
                        help="es: the Spanish prompts (asterisk-core-sounds-es*), decoded as "
                             "Spanish by every column")
    parser.add_argument("--sounds", type=Path, default=None)
    parser.add_argument("--transcript", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--decoders", default=",".join(DECODERS),
                        help="which columns (raw is always decoded: the others pair with it)")
    parser.add_argument("--splits", default="dev,held-out",
                        help="which splits (dev alone while tuning)")
    parser.add_argument("--raw-cache", type=Path, default=None,
                        help="a JSON file keeping the raw model's texts between runs (the "
                             "raw column is then not timed)")
    parser.add_argument("--min-seconds", type=float, default=0.0,
                        help="only recordings at least this long (15: the ones a call cuts "
                             "at speech.max_utterance_ms)")
    parser.add_argument("--cut-at-limit", action="store_true",
                        help="the call column with a turn at max_utterance_ms cut where it "
                             "hit the limit, as before the endpointer cut in a pause "
                             "(before/after figures)")
    parser.add_argument("--no-second-pass", action="store_true",
                        help="the call column without its second pass (the first pass alone)")
    parser.add_argument("--show", nargs="?", const="errors", default="",
                        choices=("errors", "diff"),
                        help="print the dev split's errors (diff: only clips where call "
                             "and raw make a different number of errors)")
    args = parser.parse_args()
    global SECOND_PASS, LANGUAGE, CALL_ENDPOINT  # noqa: PLW0603 - read by the decoders
    SECOND_PASS = not args.no_second_pass
    if args.cut_at_limit:
        CALL_ENDPOINT = dataclasses.replace(CALL_ENDPOINT, max_cut_search_ms=0)
    LANGUAGE = args.lang
    args.sounds = args.sounds or (SOUNDS_ES if args.lang == "es" else SOUNDS)
    args.transcript = args.transcript or (TRANSCRIPT_ES if args.lang == "es" else TRANSCRIPT)
    if not args.transcript.is_file() or not args.sounds.is_dir():
        sys.exit(f"needs the Debian packages asterisk-core-sounds-{args.lang}, "
                 f"-{args.lang}-wav and -{args.lang}-g722")
    started = time.time()
    clips = [c for c in corpus(args.sounds, args.transcript)
             if args.min_seconds * 8000 <= len(read_wav(args.sounds / f"{c.name}.wav")[0])
             <= 25 * 8000]
    random.Random(args.seed).shuffle(clips)
    if args.per_split:
        clips = ([c for c in clips if c.split == "dev"][: args.per_split]
                 + [c for c in clips if c.split == "held-out"][: args.per_split])
    clips = [c for c in clips if c.split in args.splits.split(",")]
    raw_cache = (json.loads(args.raw_cache.read_text())
                 if args.raw_cache and args.raw_cache.is_file() else {})
    folder = whisper_model_dir(Path(os.environ.get("TMPDIR", "/tmp")) / "carrier-test-models"
                               / "whisper")
    # The call column decodes with the settings a call's speech workers get (runtime).
    engine = WhisperEngine(SttConfig(model_dir=folder, cpu_threads=args.threads,
                                     language=LANGUAGE))
    scratch = Path(tempfile.mkdtemp(prefix="wer-"))
    chosen = tuple(d for d in DECODERS if d == "raw" or d in args.decoders.split(","))
    cli = Cli(folder, args.threads, scratch) if "cli" in chosen else None
    print(f"hardware: {hardware()}")
    print(f"machine at start: {load()} (shared with other work)")
    print(f"recordings: Debian asterisk-core-sounds-{args.lang} 1.6 (Allison Smith, "
          "CC-BY-SA-3.0), "
          f"{len(clips)} prompts; Whisper base int8, {args.threads} threads")
    print(f"{'rate':>4} {'split':>8} {'clips':>5} {'words':>6}  "
          + "  ".join(f"{d + ' WER':>6} {'s/clip':>6}" for d in chosen)
          + "  clips better/worse than raw")
    for rate in args.rates.split(","):
        run(engine, cli, args.sounds, clips, rate, args.show, chosen, raw_cache)
        if args.raw_cache:
            args.raw_cache.write_text(json.dumps(raw_cache, indent=0, sort_keys=True))
    shutil.rmtree(scratch, ignore_errors=True)
    print(f"machine at end: {load()}")
    print(f"(ran {time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
