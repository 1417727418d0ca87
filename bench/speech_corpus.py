"""The labelled utterance corpus: loading, synthesis, telephone channel, scoring.

Utterances live in ``tests/vectors/speech/utterances.tsv`` (text only; audio is made at
bench time). Each is spoken by the packaged Piper voice or an espeak-ng voice, passed
through G.711 mu-law at 8 kHz and back to 16 kHz, and transcribed.

Scoring, deliberately simple (the workflow's grammars come from the workflow engine):

* ``normalise``: lowercase; "a.m."/"p.m." -> am/pm; ordinal suffixes dropped (4th -> 4);
  punctuation -> space; number words -> digits ("nineteen eighty two" -> 19 82,
  "twenty first" -> 21, "oh" between numbers -> 0); then adjacent digit groups are joined
  ("555 123 4567" -> 5551234567, "2:30" -> 230, "19 82" -> 1982).
* WER: word-level Levenshtein distance between normalised reference and hypothesis,
  summed over the corpus and divided by the number of reference words.
* Expected answer: a label ``=a & b`` is recognised when every part (normalised) occurs
  in the normalised transcript; an intent label (``yes``, ``no``, ``stop``, ...) when one
  of its phrases in :data:`INTENTS` occurs as whole words, and for ``yes`` no ``no`` phrase
  does (so "that's not right" is not a yes).
"""

from __future__ import annotations

import csv
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.speech.audio import RATE, read_wav, resample, telephone, to_int16

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "vectors" / "speech" / "utterances.tsv"
ESPEAK_VOICES = (("en-us", 165), ("en+f3", 145), ("en+m3", 180))
VOICES = ("piper", *(f"espeak:{v}:{s}" for v, s in ESPEAK_VOICES))


@dataclass(frozen=True, slots=True)
class Item:
    category: str
    text: str
    label: str


def load_corpus(path: Path = CORPUS) -> list[Item]:
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if not ln.startswith("#")]
    reader = csv.DictReader(lines, delimiter="\t")
    return [Item(r["category"], r["text"], r["label"]) for r in reader]


# --- normalisation ------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


_UNITS = {
    w: i
    for i, w in enumerate(
        _words(
            "zero one two three four five six seven eight nine ten eleven twelve thirteen "
            "fourteen fifteen sixteen seventeen eighteen nineteen"
        )
    )
}
_TENS = {
    w: 10 * i
    for i, w in enumerate(_words("_ _ twenty thirty forty fifty sixty seventy eighty ninety"))
    if i >= 2
}
_ORD_UNITS = {
    w: i
    for i, w in enumerate(
        _words(
            "_ first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
            "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth"
        )
    )
    if i
}
_ORD_TENS = {"twentieth": 20, "thirtieth": 30}


def _number_words(words: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        nxt = words[i + 1] if i + 1 < len(words) else ""
        if w in _TENS and (nxt in _UNITS and _UNITS[nxt] < 10 and nxt != "zero"):
            out.append(str(_TENS[w] + _UNITS[nxt]))
            i += 2
            continue
        if w in _TENS and nxt in _ORD_UNITS and _ORD_UNITS[nxt] < 10:
            out.append(str(_TENS[w] + _ORD_UNITS[nxt]))
            i += 2
            continue
        if w in _UNITS:
            out.append(str(_UNITS[w]))
        elif w in _TENS:
            out.append(str(_TENS[w]))
        elif w in _ORD_UNITS:
            out.append(str(_ORD_UNITS[w]))
        elif w in _ORD_TENS:
            out.append(str(_ORD_TENS[w]))
        elif w == "hundred" and out and out[-1].isdigit():
            out[-1] = str(int(out[-1]) * 100)
        elif w == "thousand" and out and out[-1].isdigit():
            out[-1] = str(int(out[-1]) * 1000)
        else:
            out.append(w)
        i += 1
    # "two thousand five" -> 2000 5 -> 2005 ; "oh" between numbers -> 0
    merged: list[str] = []
    for j, word in enumerate(out):
        w = word
        if w == "oh":
            prev_num = bool(merged) and merged[-1].isdigit()
            next_num = j + 1 < len(out) and out[j + 1].isdigit()
            if prev_num or next_num:
                w = "0"
        if (
            merged
            and w.isdigit()
            and merged[-1].isdigit()
            and int(merged[-1]) % 1000 == 0
            and int(merged[-1]) >= 1000
            and int(w) < 1000
        ):
            merged[-1] = str(int(merged[-1]) + int(w))
            continue
        if w == "and" and merged and merged[-1].isdigit() and int(merged[-1]) % 100 == 0:
            continue
        merged.append(w)
    return merged


def normalise(text: str) -> str:
    t = text.lower()
    t = re.sub(r"\ba\.?\s?m\b\.?", " am ", t)
    t = re.sub(r"\bp\.?\s?m\b\.?", " pm ", t)
    t = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", t)
    t = re.sub(r"(\d)(am|pm)\b", r"\1 \2", t)
    t = t.replace("'", "")
    t = re.sub(r"[^a-z0-9]+", " ", t)
    words = _number_words(t.split())
    return re.sub(r"(?<=\d) (?=\d)", "", " ".join(words))


# --- scoring ------------------------------------------------------------------------

INTENTS: dict[str, tuple[str, ...]] = {
    "yes": (
        "yes",
        "yeah",
        "yep",
        "yup",
        "sure",
        "correct",
        "right",
        "absolutely",
        "of course",
        "definitely",
        "uh huh",
        "confirm",
        "okay",
        "speaking",
        "this is she",
        "works",
        "that is me",
        "thats me",
        "ill be there",
        "i can make it",
    ),
    "no": (
        "no",
        "nope",
        "nah",
        "not",
        "incorrect",
        "negative",
        "dont think",
        "wrong",
        "cant",
        "wont",
        "doesnt",
        "isnt",
    ),
    "stop": ("stop calling", "take me off", "dont call", "do not call", "remove my", "remove me"),
    "person": (
        "person",
        "someone",
        "representative",
        "operator",
        "human",
        "agent",
        "front desk",
        "receptionist",
    ),
    "repeat": ("repeat", "say that again", "what did you say", "again"),
    "reschedule": ("reschedule", "another day", "different time", "move it"),
    "cancel": ("cancel",),
    "who": ("who is this", "whos calling", "who is calling"),
    "unsure": ("not sure", "dont know"),
    "wait": ("hold on", "check my calendar", "a second", "one moment"),
}


def _has_phrase(norm: str, phrases: tuple[str, ...]) -> bool:
    return any(re.search(rf"\b{re.escape(p)}\b", norm) for p in phrases)


def answer_matches(label: str, hypothesis: str) -> bool:
    norm = normalise(hypothesis)
    if label.startswith("="):
        return all(normalise(part) in norm for part in label[1:].split("&"))
    if label == "yes":
        return _has_phrase(norm, INTENTS["yes"]) and not _has_phrase(norm, INTENTS["no"])
    return _has_phrase(norm, INTENTS[label])


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


@dataclass(slots=True)
class Score:
    errors: int = 0
    words: int = 0
    correct: int = 0
    total: int = 0

    def add(self, item: Item, hypothesis: str) -> bool:
        ref, hyp = normalise(item.text).split(), normalise(hypothesis).split()
        self.errors += edit_distance(ref, hyp)
        self.words += len(ref)
        ok = answer_matches(item.label, hypothesis)
        self.correct += ok
        self.total += 1
        return ok

    @property
    def wer(self) -> float:
        return self.errors / max(1, self.words)

    @property
    def accuracy(self) -> float:
        return self.correct / max(1, self.total)


# --- synthesis ----------------------------------------------------------------------


def espeak(text: str, voice: str, speed: int) -> np.ndarray:
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text],
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout
    pcm, rate = read_wav(wav)
    return to_int16(resample(pcm, rate, RATE))


def make_synthesiser() -> Callable[[str, str], np.ndarray]:
    """Returns ``speak(text, voice) -> telephone-quality 16 kHz int16`` (voice from VOICES)."""
    from agent.speech.models import piper_voice_paths  # noqa: PLC0415
    from agent.speech.tts import TtsConfig, load_voice  # noqa: PLC0415

    piper = load_voice(piper_voice_paths(), TtsConfig())

    def speak(text: str, voice: str) -> np.ndarray:
        if voice == "piper":
            audio = np.concatenate([c.audio_float_array for c in piper.synthesize(text)])
            pcm = to_int16(resample(audio * 32767.0, piper.config.sample_rate, RATE))
        else:
            _, name, speed = voice.split(":")
            pcm = espeak(text, name, int(speed))
        return telephone(pcm)

    return speak


def hints_for(item: Item) -> tuple[str, ...]:
    """Per-state hints a workflow would give for this kind of question."""
    return {
        "yesno": ("Yes", "No"),
        "dob": ("My date of birth is March 4, 1982",),
        "time": ("Tuesday at 2:30 PM",),
        "phone": ("555 123 4567",),
        "member_id": ("My member ID is 7 3 9 2 0 4",),
        "name": ("My name is",),
        "intent": ("Stop calling", "Talk to a person", "Reschedule", "Cancel"),
    }.get(item.category, ())
