"""The caller's language: chosen at the greeting, or at any time after, then every prompt,
grammar, date and voice of the call follows it.

A call begins in the patient's stored preferred language when there is one (Spanish: the
greeting in Spanish, "To continue in English, press two" after it), else in English.
The caller changes it:
- at the first input, by the key the greeting offers, ``SPANISH_KEY`` ("Para español,
  oprima dos"), pressed while the greeting plays or before the first answer, or by
  answering in the other language: the first turn is transcribed with Whisper's language
  detection (``FIRST_TURN_LANGUAGE``) and read by ``agent.grammar.es.looks_spanish``;
- at any time, by asking ("Spanish please", "¿habla inglés?":
  ``agent.grammar.language_request``), or by ``SPANISH_KEY`` where the question being
  asked has no use for it (key 2 is "cancel" at a reminder's details: it stays that).
What the caller asked for (key or words, not a language guessed from an answer) is their
preference, stored once they are verified (``agent.language``).

Prompts come from overlays keyed by prompt id (``config/workflows/es/<workflow>.yaml`` and
``_defaults.yaml`` for the engine's built-in prompts); the workflow's states and rules are
unchanged. Dates and times the records spell in English ("Tuesday, March 10", "2:30 PM")
are said the Spanish way (``spanish_dates``). Sans-IO: no clock, no sockets.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from agent.grammar.es import looks_english, looks_spanish, normalise, to_canonical
from agent.workflow.asides import PHI_PROMPTS
from agent.workflow.model import Prompt, Workflow

__all__ = [
    "ENGLISH", "ENGLISH_OFFER", "FIRST_TURN_LANGUAGE", "LANGUAGE_OFFER", "SPANISH",
    "SPANISH_KEY", "LanguageChoice",
    "Overlays", "load_overlays", "localised", "spanish_asked", "spanish_dates", "to_canonical",
]

SPANISH = "es"
ENGLISH = "en"
SPANISH_KEY = "2"
LANGUAGE_OFFER = "Para español, oprima dos."
# SPANISH_KEY, in a Spanish call. Not "For English, ...": the transcript redactor reads a
# capitalised word after "For" as a name ("For [NAME], press two").
ENGLISH_OFFER = "To continue in English, press two."
FIRST_TURN_LANGUAGE = "auto"  # Whisper detects the first turn's language (en or es)
# Said alike in a Spanish call and an English one: they do not tell the language.
_BOTH = frozenset({"no", "ok", "okay", "oh", "ah", "eh", "mm", "mhm", "hmm", "uh", "um"})
DEFAULT_OVERLAY_DIR = Path(__file__).resolve().parent.parent / "config" / "workflows" / "es"


@dataclass
class LanguageChoice:
    """One call's language. ``on_key``/``on_utterance`` take the caller's inputs until
    the first one decides; each returns True when it switched the call's language.
    ``on_request`` is a request for a language at any time (the key where the state has
    no use for it, or words: ``agent.grammar.language_request``); what the caller asked
    for is kept in ``chosen`` (their preference, stored once they are verified).

    A call begins in English, or in the patient's stored preference (``language``); the
    key ``SPANISH_KEY`` is "the other language" (offered as "Para español, oprima dos" in
    an English call, "To continue in English, press two" in a Spanish one: 1 is the
    openings' yes)."""

    language: str = ENGLISH
    decided: bool = False
    chosen: str | None = None

    @property
    def spanish(self) -> bool:
        return self.language == SPANISH

    @property
    def other(self) -> str:
        return ENGLISH if self.spanish else SPANISH

    @property
    def stt_language(self) -> str:
        """What the recogniser runs in for the next turn."""
        return self.language if self.decided else FIRST_TURN_LANGUAGE

    def on_key(self, key: str) -> bool:
        if self.decided:
            return False
        self.decided = True
        if key == SPANISH_KEY:
            return self.on_request(self.other)
        return False

    def on_utterance(self, text: str, detected: str = "") -> bool:
        """``detected``: the language Whisper detected the turn in ("" if not asked)."""
        if self.decided or not re.search(r"[^\W\d_]{2}", text):
            return False  # digits ("01/01/1990") say nothing of the language: not decided
        self.decided = True
        if not self.spanish:
            if looks_spanish(text) or (detected == SPANISH and not looks_english(text)):
                self.language = SPANISH
                return True
        elif looks_english(text) and not looks_spanish(text) \
                and set(normalise(text).split()) - _BOTH:
            # Only the words, and not words both languages use ("No.", "OK"): Whisper's
            # detection of a short Spanish "sí" is no proof either.
            self.language = ENGLISH
            return True
        return False

    def on_request(self, language: str) -> bool:
        """The caller asked for ``language``; True when that changed the call's."""
        self.decided = True
        self.chosen = language
        changed = language != self.language
        self.language = language
        return changed


@dataclass(frozen=True)
class Overlays:
    """Spanish prompt texts: per workflow id, then the engine's built-in prompts."""

    workflows: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    defaults: Mapping[str, str] = field(default_factory=dict)

    def for_workflow(self, workflow_id: str) -> dict[str, str]:
        return {**self.defaults, **self.workflows.get(workflow_id, {})}


def load_overlays(folder: Path = DEFAULT_OVERLAY_DIR) -> Overlays:
    """Read every ``<workflow>.yaml`` (and ``_defaults.yaml``) in ``folder``."""
    workflows: dict[str, dict[str, str]] = {}
    defaults: dict[str, str] = {}
    if not folder.is_dir():
        return Overlays()
    for path in sorted(folder.glob("*.yaml")):
        with path.open(encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
        if not isinstance(data, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
            raise ValueError(f"{path.name}: a prompt overlay maps prompt ids to texts")
        if path.stem == "_defaults":
            defaults = dict(data)
        else:
            workflows[path.stem] = dict(data)
    return Overlays(workflows, defaults)


def localised(workflow: Workflow, overlay: Mapping[str, str]) -> Workflow:
    """``workflow`` with its prompts (and the engine's built-in ones, added by id) in the
    overlay's language. States, rules and each prompt's PHI marking stay as they are; the
    engine's PHI checks read the fields of the text actually spoken."""
    prompts = dict(workflow.prompts)
    for prompt_id, text in overlay.items():
        known = prompts.get(prompt_id)
        prompts[prompt_id] = (dataclasses.replace(known, text=text) if known is not None
                              else Prompt(prompt_id, text, phi=prompt_id in PHI_PROMPTS, line=0))
    return dataclasses.replace(workflow, prompts=prompts)


_DAYS = {"Monday": "lunes", "Tuesday": "martes", "Wednesday": "miércoles",
         "Thursday": "jueves", "Friday": "viernes", "Saturday": "sábado", "Sunday": "domingo"}
_MONTHS = {"January": "enero", "February": "febrero", "March": "marzo", "April": "abril",
           "May": "mayo", "June": "junio", "July": "julio", "August": "agosto",
           "September": "septiembre", "October": "octubre", "November": "noviembre",
           "December": "diciembre"}
_DAY = re.compile(rf"\b({'|'.join(_DAYS)}),? ({'|'.join(_MONTHS)}) (\d{{1,2}})\b")
_TIME = re.compile(r"\b(\d{1,2})(?::(\d{2}))? (AM|PM)\b")
_LABEL_JOINS = ((" with ", " con "),)  # "... at 2 PM with Dr. Ruiz"


def _time(m: re.Match[str]) -> str:
    hour, minute, half = int(m.group(1)), m.group(2), m.group(3)
    part = "de la mañana" if half == "AM" else ("de la tarde" if hour == 12 or hour < 7
                                                else "de la noche")
    said = f"{hour}:{minute}" if minute and minute != "00" else str(hour)
    return f"{said} {part}"


_PARTS = {"morning": "por la mañana", "afternoon": "por la tarde", "evening": "por la noche"}
_PART_RE = "|".join(_PARTS)
# What the caller asked for, as ``agent.scheduling.search.describe`` words it ("on Thursday
# afternoon", "the week of March 9 in the morning", "later that day", "at that time").
_ASKED = (
    (re.compile(rf"\bon ({'|'.join(_DAYS)})(?: ({_PART_RE}))?\b"),
     lambda m: f"el {_DAYS[m.group(1)]}" + (f" {_PARTS[m.group(2)]}" if m.group(2) else "")),
    (re.compile(rf"\bthe week of ({'|'.join(_MONTHS)}) (\d{{1,2}})(?: in the ({_PART_RE}))?"),
     lambda m: f"la semana del {m.group(2)} de {_MONTHS[m.group(1)]}"
     + (f" {_PARTS[m.group(3)]}" if m.group(3) else "")),
    (re.compile(rf"\bin the ({_PART_RE})\b"), lambda m: _PARTS[m.group(1)]),
    (re.compile(r"\blater that day\b"), lambda _m: "más tarde ese mismo día"),
    (re.compile(r"\bat that time\b"), lambda _m: "a esa hora"),
)


def spanish_asked(text: str) -> str:
    """The scheduler's "what you asked for" phrase inside a Spanish prompt, in Spanish."""
    for pattern, said in _ASKED:
        text = pattern.sub(said, text)
    return text


_DAY_NAMES = "|".join(_DAYS)
# The clinic's working days as ``records.spoken_weekdays`` words them ("Monday to Friday",
# "Monday, Wednesday and Friday", "every day").
_WEEKDAYS = ((re.compile(rf"\b({_DAY_NAMES}) to ({_DAY_NAMES})\b"),
              lambda m: f"de {_DAYS[m.group(1)]} a {_DAYS[m.group(2)]}"),
             (re.compile(rf"\b({_DAY_NAMES}) and ({_DAY_NAMES})\b"),
              lambda m: f"{_DAYS[m.group(1)]} y {_DAYS[m.group(2)]}"),
             (re.compile(rf"\b({_DAY_NAMES})\b(?!,? (?:{'|'.join(_MONTHS)}))"),
              lambda m: _DAYS[m.group(1)]),
             (re.compile(r"\bevery day\b"), lambda _m: "todos los días"))


def spanish_weekdays(text: str) -> str:
    """Working days inside a Spanish prompt, in Spanish ("Monday to Friday" -> "de lunes
    a viernes"); a date ("Tuesday, March 10") is left to ``spanish_dates``."""
    for pattern, said in _WEEKDAYS:
        text = pattern.sub(said, text)
    return text


def spanish_dates(text: str) -> str:
    """English-spelled dates and times inside a Spanish prompt, said in Spanish:
    "Tuesday, March 10 at 2:30 PM with Dr. Ruiz" -> "martes 10 de marzo a las 2:30 de la
    tarde con Dr. Ruiz"; what the caller asked for too ("on Thursday afternoon" -> "el
    jueves por la tarde")."""
    text = spanish_weekdays(spanish_asked(text))
    out = _DAY.sub(lambda m: f"{_DAYS[m.group(1)]} {m.group(3)} de {_MONTHS[m.group(2)]}", text)
    out = re.sub(rf"(\d de (?:{'|'.join(_MONTHS.values())})) at ", r"\1 a las ", out)
    if out == text and not _TIME.search(text):
        return text
    for english, spanish in _LABEL_JOINS:
        out = re.sub(rf"(?<=[AP]M){re.escape(english)}", spanish, out)
    return _TIME.sub(_time, out)


def spanish_reminder(template: str, clinic: str, day: str, hour: int, minute: int) -> str:
    """The Spanish reminder text (the operator's ``sms.reminder_template_es``, checked at
    start like the English one: the clinic, day and time only, 160 characters at the
    longest, STOP): ``day`` as ``spoken_day`` words it ("Tuesday, March 10") said in
    Spanish, the time on a 12-hour clock ("a las 2:30 pm", "a la 1 pm")."""
    twelve = hour % 12 or 12
    said = f"{twelve}:{minute:02d}" if minute else str(twelve)
    time = f"{'a la' if twelve == 1 else 'a las'} {said} {'am' if hour < 12 else 'pm'}"
    return template.format(clinic=clinic, day=spanish_dates(day), time=time)
