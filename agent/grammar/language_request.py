"""A request, at any point of a conversation, to go on in another language.

``asked_language("Spanish please")`` is ``"es"``; ``asked_language("¿Habla inglés?")`` is
``"en"``; anything that is not such a request is None ("my daughter speaks Spanish",
"I'm learning Spanish", an interpreter for another language: the workflow's, which sends
those to staff). Read on the accent-free, lower-case words (``agent.grammar.es.normalise``):
- the language named alone, or "in/en <language>", with a please;
- asked of the agent: "do/can/could you speak <language>", "¿habla (usted) <language>?",
  "¿puede hablar en <language>?", "switch to", "prefer(iero)", "quiero hablar en";
- the other one refused: "no hablo inglés", "I don't speak Spanish" (the other language).
Pure: no I/O."""

from __future__ import annotations

import re

from agent.grammar.es import normalise

_NAMES = {"es": r"(?:spanish|espanol|espanola)", "en": r"(?:english|ingles|inglesa)"}
_OTHER = {"es": "en", "en": "es"}
# Words a request may open with: greetings, a title, a sorry ("Oiga, ¿habla español?").
_OPEN = (r"^(?:(?:hi|hello|hola|oh|oiga|oye|mira|disculpe|perdon|perdone|sorry|excuse me|"
         r"um|uh|eh|este|bueno|well|ok|okay|senorita|senora|senor|miss|maam|sir|por favor|"
         r"please|lo siento|yes|si|no) )*")
_PLEASE = r"(?: (?:please|por favor|thank you|gracias))*$"
_NOT = r"(?<!\bnot )(?<!\bno )(?<!\bdont )(?<!\bdo not )(?<!\bcant )(?<!\bcannot )"
_ASK_VERB = (r"(?:speak|talk|do (?:this|it|that)|say (?:this|it|that)|have|get (?:this|it|that)|"
             r"continue|go on|explain(?: it| that)?)")


def _requests(lang: str) -> re.Pattern[str]:
    name = _NAMES[lang]
    return re.compile("|".join((
        # "Spanish", "Spanish please", "en español por favor", "señorita, en español"
        rf"{_OPEN}(?:(?:in|en) )?{name}{_PLEASE}",
        # "can we do this in Spanish", "could you speak in Spanish", "say that in English"
        rf"{_NOT}\b(?:in|en) {name}\b(?! (?:speaker|class|lesson|teacher|doctor))",
        # "do you speak Spanish", "can you speak Spanish", "do you have Spanish"
        rf"\b(?:do|can|could|would|will) (?:you|we|i|someone|somebody|anyone) "
        rf"(?:please )?{_ASK_VERB} (?:in )?{name}\b",
        # "¿habla español?", "hablas español", "¿habla usted español?", "¿puede hablar en…?"
        rf"{_OPEN}(?:usted |tu )?(?:habla|hablas|hable|hablan|hablame|hableme)(?: usted| tu)?"
        rf" (?:en )?{name}\b",
        rf"\b(?:puede|puedes|podria|podrias|pueden)(?: usted)? (?:hablar|hablarme|"
        rf"continuar|seguir|decirlo|explicarlo)(?:me)? (?:en )?{name}\b",
        # "switch to Spanish", "cambie a español", "I'd prefer Spanish", "prefiero inglés"
        rf"\b(?:switch|change|go|move|cambie|cambiar|cambia|pase|pasar)(?: it| this)?"
        rf" (?:to|into|over to|a|al) {name}\b",
        rf"\b(?:prefer|preferiria|prefiero|rather|quiero|quisiera)(?: hablar)?(?: it| this)?"
        rf" (?:in |en )?{name}\b",
        # "is there Spanish", "is there someone in Spanish" stays staff (someone)
        rf"\bis (?:there|it available in) {name}\b",
    )))


def _refusals(lang: str) -> re.Pattern[str]:
    """Not speaking or understanding ``lang``: a request for the other language."""
    name = _NAMES[lang]
    return re.compile(
        rf"\b(?:no|not|dont|do not|doesnt|cant|cannot|can not) (?:hablo |entiendo |speak |"
        rf"understand |se |habla |entiende )(?:el |mucho |bien |very well |well |much )?"
        rf"{name}\b")


_REQUEST = {lang: _requests(lang) for lang in _NAMES}
_REFUSAL = {lang: _refusals(lang) for lang in _NAMES}


def asked_language(text: str) -> str | None:
    """The language (``"es"``, ``"en"``) the words ask the conversation to go on in, or
    None when they ask for none (or, confusingly, for both)."""
    said = re.sub(r"\b(do|does|can|won|is)n t\b", r"\1nt", normalise(text))  # "don't"
    if not said:
        return None
    asked = set()
    for lang in _NAMES:
        if _REFUSAL[lang].search(said):
            asked.add(_OTHER[lang])
        elif _REQUEST[lang].search(said):
            asked.add(lang)
    return asked.pop() if len(asked) == 1 else None
