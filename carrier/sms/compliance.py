"""SMS compliance rules, pure: opt-out keywords and their replies, the exempt-text limits.

* CTIA Messaging Principles and Best Practices (2023) 5.1: a message that is only one of
  the opt-out words (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT) opts out at once and
  gets one confirmation naming the program and how to opt back in; START/UNSTOP opt back
  in; HELP/INFO get the program name, a contact, frequency and "Msg & data rates may apply".
  A keyword is the whole message (case, spaces and trailing punctuation aside): "cancel my
  appointment" is no opt-out, "Cancel" is.
* FCC 24-24, 47 CFR 64.1200(a)(10): consent is revoked "by any reasonable means"; stop,
  quit, end, revoke, opt out, cancel, unsubscribe sent as a reply count. So the message is
  read as the patient wrote it (``body``: no quoted reminder, no signature), an opt-out
  word may come with words that only say it again ("Stop please", "stop texting me",
  "STOP ALL", "stopp", "opt-out", "remove me from this list"), and the Spanish words carriers
  honour (ALTO, PARAR, BAJA, CANCELAR) count, as do the Spanish forms of the phrases
  ("no me manden más mensajes", "sáquenme de la lista") and a keyword spelled out letter
  by letter ("S T O P", "q.u.i.t"). A word used for something else ("I can't stop
  coughing", "end of the week") does not. "Cancel" alone, or with a please, is an opt-out
  even under a reminder that offers cancelling; its confirmation says the appointment is
  unchanged and how to cancel it (the one confirmation may clarify, 64.1200(a)(10)(iii)).
* What a text opt-out revokes (``opt_out_channels``): every channel under the revoke-all
  policy (``sms.stop_revokes: all``); under ``sms``, the texts, and the calls too when the
  words name calls or say all ("stop calling me", "STOP ALL"). The confirmation says what
  was revoked, no more: "no more messages" while calls go on would be untrue.
* FCC 15-72 (healthcare exemption, 47 CFR 64.1200(a)(9)(iv) as applied to texts): an exempt
  text is at most 160 characters, names the provider, and carries nothing beyond the
  minimum necessary; a reminder template may use only ``{clinic}``, ``{day}``, ``{time}``.
* 10DLC: the sending number's campaign (The Campaign Registry id, ``C`` + 6 letters/digits).
"""

from __future__ import annotations

import enum
import re
import string
import unicodedata
from dataclasses import dataclass

from carrier.sms.body import STOP_SIGN, body

EXEMPT_TEXT_LIMIT = 160
REMINDER_FIELDS = frozenset({"clinic", "day", "time"})
# Longest values the reminder fields take, by language ("Wednesday, September 30",
# "12:45 PM"; "miércoles 30 de septiembre", "a las 12:45 pm").
_LONGEST = {"en": {"day": "Wednesday, September 30", "time": "12:45 PM"},
            "es": {"day": "miércoles 30 de septiembre", "time": "a las 12:45 pm"}}
_SAYS_STOP = re.compile(r"\bSTOP\b")
_CAMPAIGN = re.compile(r"^C[A-Z0-9]{6}$")


class Keyword(enum.StrEnum):
    STOP = "stop"
    START = "start"
    HELP = "help"


KEYWORDS: dict[str, Keyword] = {
    **dict.fromkeys(("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE",
                     "OPTOUT", "ALTO", "PARAR", "BAJA", "CANCELAR"), Keyword.STOP),
    **dict.fromkeys(("START", "UNSTOP"), Keyword.START),
    **dict.fromkeys(("HELP", "INFO", "AYUDA"), Keyword.HELP),
}
_CANCEL_WORDS = frozenset({"cancel", "cancelar"})
# Words that only say the keyword again or politely: "Stop please", "stop texting me",
# "STOP ALL", "unsubscribe me", "alto por favor". Anything else makes it a sentence.
_POLITE = frozenset({"please", "pls", "plz", "thanks", "thank", "you", "thx", "ty", "now",
                     "por", "favor"})
_RESTATING = _POLITE | frozenset({
    "all", "me", "it", "asap", "immediately", "the", "this", "these", "your", "from", "to",
    "texting", "texts", "text", "messaging", "messages", "message", "msgs", "sms",
    "sending", "contacting", "calling", "calls", "reminders", "list", "number", "mensajes"})
# "cancel it" may be the appointment: the conversation asks which ("cancel all" is not).
_CANCEL_RESTATING = _POLITE | {"all"}
_PHRASES = re.compile(
    r"^(?:please |por favor )?(?:(?:remove|take) me (?:off|from)(?: (?:this|the|your)"
    r" (?:list|number))?"
    r"|(?:do not|don ?t|dont) (?:text|message|contact) me(?: again| anymore| any more)?"
    r"|no more (?:texts|messages|reminders)"
    # the same in Spanish (accents already gone): "sáquenme de la lista", "no me manden
    # más mensajes", "no quiero recibir más mensajes", "no más mensajes"
    r"|(?:sa[qc]uen ?me|quit(?:e|en) ?me|borr(?:e|en) ?me) de (?:la|esta|su|sus) listas?"
    r"|no me (?:manden|mande|envien|envie|escriban|escriba|contacten)(?: mas)?"
    r"(?: (?:mensajes|textos|recordatorios))?"
    r"|(?:ya )?no (?:quiero|deseo) (?:recibir )?(?:mas )?(?:mensajes|textos|recordatorios)"
    r"|no mas (?:mensajes|textos|recordatorios))"
    r"(?: please| thanks| thank you| por favor| gracias)?$")
_WORD = re.compile(r"[^\W\d_]+|\d+")


def keyword(text: str) -> Keyword | None:
    """The compliance keyword this message is, or None (read from its ``body``)."""
    words = _words(text)
    if STOP_SIGN in body(text) and {_squeeze(w) for w in words} <= _SQUEEZED_RESTATING:
        return Keyword.STOP  # "🛑", "🛑 please": the stop sign is the word drawn
    if not words:
        return None
    if _PHRASES.match(" ".join(words)):
        return Keyword.STOP
    found = {_squeeze(w) for w in words} & _SQUEEZED.keys()
    if not found:
        return None
    kinds = {_SQUEEZED[w] for w in found}
    if Keyword.STOP in kinds:
        kind = Keyword.STOP  # an opt-out beside another keyword is still an opt-out
    elif len(kinds) == 1:
        kind = kinds.pop()
    else:
        return None  # "help start": no one keyword
    rest = {w for w in words if _squeeze(w) not in found}
    allowed = _CANCEL_RESTATING if found <= {_squeeze(w) for w in _CANCEL_WORDS} else _RESTATING
    return kind if rest <= allowed else None


def names_cancel(text: str) -> bool:
    """The opt-out said "cancel": its confirmation says the appointment is unchanged."""
    return bool({_squeeze(w) for w in _words(text)} & {_squeeze(w) for w in _CANCEL_WORDS})


def _words(text: str) -> list[str]:
    plain = unicodedata.normalize("NFKD", body(text).casefold())
    plain = "".join(ch for ch in plain if not unicodedata.combining(ch))
    plain = re.sub(r"\bopt[\s_-]*out\b", "optout", plain)
    plain = re.sub(r"\bdon\W?t\b", "don t", plain)
    words = _WORD.findall(plain)
    if len(words) > 1 and all(len(w) == 1 and w.isalpha() for w in words):
        return ["".join(words)]  # spelled out letter by letter: "S T O P", "q.u.i.t"
    return words


def _squeeze(word: str) -> str:
    """Letters typed twice count once: "stopp", "STOPPP", "quitt", "STOPALL" read alike."""
    return re.sub(r"(.)\1+", r"\1", word)


_SQUEEZED = {_squeeze(k.lower()): v for k, v in KEYWORDS.items()}
_SQUEEZED_RESTATING = {_squeeze(w) for w in _RESTATING}


TEXTS: tuple[str, ...] = ("sms",)
EVERY_CHANNEL: tuple[str, ...] = ("sms", "voice")
# Words that name the calls, or every kind of contact, beside an opt-out.
_NAMES_CALLS = frozenset({"call", "calls", "calling", "called", "phone", "phoning", "voice",
                          "voicemail", "llamadas", "llamar", "llamen", "llame", "llamarme"})
# "STOP ALL", "stop everything": every channel, unless it says all of what ("stop all texts").
_ALL = frozenset({"all", "stopall", "everything", "todo", "todos"})
_TEXTS_NAMED = frozenset({"text", "texts", "texting", "message", "messages", "messaging", "msgs",
                          "sms", "mensajes", "textos"})


_SPANISH = frozenset({"alto", "parar", "baja", "cancelar", "ayuda", "por", "favor", "mensajes",
                      "llamen", "llamadas", "manden", "envien", "escriban", "quiero", "mas",
                      "dejen", "gracias", "saquenme", "sacuenme", "quitenme", "borrenme",
                      "lista", "recibir", "deseo", "textos", "recordatorios", "envie", "mande",
                      "escriba", "contacten"})


def said_in_spanish(text: str) -> bool:
    """A keyword message or opt-out in Spanish (ALTO, PARAR, BAJA, CANCELAR, AYUDA, "por
    favor", "no me manden más mensajes"): its reply is in Spanish."""
    return bool({_squeeze(w) for w in _words(text)} & {_squeeze(w) for w in _SPANISH})


def opt_out_channels(text: str, stop_revokes: str) -> tuple[str, ...]:
    """The channels an opt-out by text revokes (``stop_revokes``: the ``sms`` setting)."""
    if stop_revokes == "all":
        return EVERY_CHANNEL
    said = {_squeeze(w) for w in _words(text)}
    if said & {_squeeze(w) for w in _NAMES_CALLS}:
        return EVERY_CHANNEL
    every = said & {_squeeze(w) for w in _ALL}
    return EVERY_CHANNEL if every and not said & {_squeeze(w) for w in _TEXTS_NAMED} else TEXTS


@dataclass(frozen=True)
class Program:
    """What the required replies name: the program (brand) and where to get help."""

    brand: str
    help_number: str

    def reply(self, kw: Keyword, *, said_cancel: bool = False,
              channels: tuple[str, ...] = EVERY_CHANNEL, on_file: bool = True,
              spanish: bool = False) -> str:
        """The one reply CTIA requires for ``kw`` (each at most 160 characters with a
        brand of 20). A STOP's says what ``channels`` were revoked; one that said "cancel"
        is told the appointment is unchanged and how to cancel it. START grants texts
        only (calls stay as they were); ``on_file`` False: the number is no patient's, so
        nothing was granted and the reply says so. ``spanish``: in Spanish (the keywords
        stay the ones the carriers read: STOP ALL, START, HELP)."""
        if spanish:
            return self._spanish(kw, channels != TEXTS, said_cancel, on_file)
        if kw is Keyword.STOP:
            return self._stopped(channels != TEXTS, said_cancel)
        if kw is Keyword.START and not on_file:
            return (f"{self.brand}: This number is not on file with us, so nothing changed. "
                    f"To get appointment texts, call {self.help_number}.")
        if kw is Keyword.START:
            return (f"{self.brand}: You are subscribed to appointment texts. Msg frequency "
                    "varies. Msg & data rates may apply. Reply HELP for help, STOP to opt out.")
        return (f"{self.brand} appointment messages. Help: {self.help_number}. Msg frequency "
                "varies. Msg & data rates may apply. Reply STOP to opt out.")

    def _spanish(self, kw: Keyword, calls: bool, said_cancel: bool, on_file: bool) -> str:
        if kw is Keyword.START and not on_file:
            return (f"{self.brand}: Este número no está registrado; nada cambió. Para recibir "
                    f"mensajes de sus citas, llame al {self.help_number}.")
        if kw is Keyword.START:
            return (f"{self.brand}: Recibirá de nuevo mensajes de sus citas. Frecuencia "
                    "variable. Pueden aplicar tarifas. HELP: ayuda, STOP: no recibir más.")
        if kw is Keyword.HELP:
            return (f"{self.brand}: mensajes de citas. Ayuda: {self.help_number}. Frecuencia "
                    "variable. Pueden aplicar tarifas. Responda STOP para no recibir más.")
        what = "mensajes ni llamadas" if calls else "mensajes"
        if said_cancel:
            more = "START para volver." if calls else "STOP ALL detiene las llamadas."
            return (f"{self.brand}: No recibirá más {what}. Su cita no cambió; para "
                    f"cancelarla llame al {self.help_number}. {more}")
        if calls:
            return (f"{self.brand}: No recibirá más mensajes ni llamadas nuestras. Responda "
                    "START para volver a recibir mensajes.")
        return (f"{self.brand}: No recibirá más mensajes. Las llamadas de sus citas siguen: "
                "responda STOP ALL para detenerlas, START para volver.")

    def _stopped(self, calls: bool, said_cancel: bool) -> str:
        what = "texts and calls" if calls else "texts"
        if said_cancel:
            more = "Reply START for texts again." if calls else "STOP ALL stops calls too."
            return (f"{self.brand}: You are unsubscribed from {what}. Your appointment is "
                    f"unchanged; to cancel it call {self.help_number}. {more}")
        if calls:
            return (f"{self.brand}: You are unsubscribed and will receive no more texts or "
                    "calls from us. Reply START to get texts again.")
        return (f"{self.brand}: You are unsubscribed from our texts. Reminder calls continue: "
                "reply STOP ALL to stop them too, START to get texts again.")


class ExemptTextError(ValueError):
    """An exempt (healthcare) text that breaks the exemption's conditions."""

    rule = "sms.exempt.length"


def check_exempt_text(text: str) -> None:
    """An exempt text is at most 160 characters (FCC 15-72 para. 147)."""
    if len(text) > EXEMPT_TEXT_LIMIT:
        raise ExemptTextError(f"exempt text is {len(text)} characters "
                              f"(limit {EXEMPT_TEXT_LIMIT})")


def template_fields(template: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise ValueError(f"not a valid template: {exc}") from None


def check_reminder_template(template: str, clinic: str, *, language: str = "en") -> None:
    """Only the minimum necessary fields, at most 160 characters at their longest (in the
    template's ``language``), and the opt-out word STOP (in capitals, as carriers read it:
    the exemption's texts must say how to opt out)."""
    fields = template_fields(template)
    extra = fields - REMINDER_FIELDS
    if extra:
        raise ValueError(f"a reminder text may name only {sorted(REMINDER_FIELDS)}, "
                         f"not {sorted(extra)} (minimum necessary)")
    longest = template.format(**{**_LONGEST[language], "clinic": clinic})
    check_exempt_text(longest)
    if not _SAYS_STOP.search(template):
        raise ValueError("a reminder text must say how to opt out: the word STOP")


def check_campaign_id(value: str) -> None:
    if not _CAMPAIGN.match(value):
        raise ValueError("a 10DLC campaign id is C followed by 6 capital letters or digits")
