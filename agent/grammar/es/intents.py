"""Spanish intents as patterns over normalised text, each naming the canonical phrase the
engine's grammar reads ("no me llame mas" -> "stop calling me"). Ordered: the first
table row that matches wins, so an opt-out is never read as a plain "no"."""

from __future__ import annotations

import re

_ROWS: tuple[tuple[str, str], ...] = (
    # Opt-out: stop calls, not a cancelled appointment.
    ("stop calling me",
     r"\bno\s+(?:me\s+|nos\s+)?(?:llame[ns]?|vuelva[ns]?\s+a\s+llamar|quiero\s+(?:mas\s+|recibir\s+)"
     r"?llamadas|(?:me\s+)?(?:llamen|llames)\s+mas)|\bdej\w*\s+(?:de\s+)?(?:recibir\s+"
     r"(?:sus\s+|estas\s+|las\s+)?llamadas|llamar(?:me|nos)?)|\b(?:quite|quiten|saque|saquen|"
     r"borre|borren)(?:me|nos)?\s+de\s+(?:la|su|sus)\s+(?:lista|listas)|\bno\s+mas\s+llamadas"
     r"|\bbasta\s+de\s+llamadas|\b(?:ya\s+)?no\s+quiero\s+que\s+me\s+llamen"
     r"|\bno\s+me\s+llame[ns]?\b"),
    ("wrong number", r"\b(?:numero\s+equivocado|se\s+equivoc\w*(?:\s+de\s+numero)?|"
                     r"no\s+(?:conozco|vive\s+aqui)|aqui\s+no\s+vive)"),
    ("representative", r"\b(?:hablar\s+con\s+(?:una\s+|un\s+|alguien)|operador\w*|"
                       r"representante|recepcion\w*|una\s+persona|agente)\b"),
    ("repeat that", r"\b(?:repit\w+|como\s+dijo|no\s+(?:le\s+|te\s+)?(?:entendi|escuche|oi)|"
                    r"otra\s+vez\s+por\s+favor|perdon\s*\?)"),
    ("hold on", r"\b(?:un\s+(?:momento|momentito|segundo|minuto)|espere(?:me)?|esperame|"
                r"permitame|aguarde|dejeme\s+(?:buscar|ver|revisar|pensar))\b"),
    ("call me back later", r"\b(?:ahora\s+no|no\s+puedo\s+(?:hablar|ahora)|estoy\s+"
                           r"(?:manejando|conduciendo|ocupad[oa]|trabajando)|mas\s+tarde|"
                           r"(?:llame|llamen|llamame)(?:me)?\s+(?:luego|despues|mas\s+tarde|"
                           r"en\s+otro\s+momento)|en\s+otro\s+momento)"),
    ("reschedule", r"\b(?:cambiar|reprogramar|reagendar|mover|pasar)\w*\s*(?:la\s+|mi\s+)?"
                   r"(?:cita|hora|fecha|dia)?|\b(?:otra\s+(?:hora|fecha|cita)|otro\s+dia)\b"),
    ("cancel appointment", r"\b(?:cancel\w*|anul\w*)\s+(?:la\s+|mi\s+|esa\s+)?cita\b"),
    ("cancel", r"\b(?:cancel\w*|anul\w*)\b"),
    ("self pay", r"\b(?:pago\s+propio|sin\s+seguro|no\s+tengo\s+seguro|pago\s+en\s+efectivo)\b"),
    ("I don't know", r"\bno\s+(?:lo\s+)?se\b|\bno\s+(?:me\s+)?(?:acuerdo|recuerdo)\b"),
    ("confirm", r"\b(?:confirm\w*|ahi\s+estare|alli\s+estare|si\s+voy|voy\s+a\s+ir|"
                r"asistire|cuente\s+conmigo)\b"),
    ("first", r"\b(?:el\s+|la\s+)?primer[oa]?\b(?!\s+de\s)"),
    ("second", r"\b(?:el\s+|la\s+)?segund[oa]\b"),
    ("third", r"\b(?:el\s+|la\s+)?tercer[oa]?\b"),
    ("yes", r"^(?:bueno\s+|pues\s+|ah\s+|eh\s+)?(?:si|claro|correcto|exacto|asi\s+es|de\s+acuerdo|"
            r"esta\s+bien|por\s+supuesto|afirmativo|vale|soy\s+yo|con\s+(?:el|ella)\s+habla|"
            r"al\s+habla|ella\s+habla|el\s+habla|yo\s+soy|digame|efectivamente|eso\s+es)\b"),
    ("no", r"^(?:bueno\s+|pues\s+)?(?:no|para\s+nada|negativo|no\s+es\s+correcto)\b"),
    ("yes", r"(?<!no\s)\b(?:soy\s+yo|con\s+(?:el|ella)\s+habla|yo\s+mism[oa])\b"),
    ("appointment", r"^(?:la\s+)?cita\b"),
)
_COMPILED = tuple((phrase, re.compile(pattern)) for phrase, pattern in _ROWS)
# "Es la cita", "la cita" answering "cancel the appointment or stop calls?"


def find_intent(text: str) -> str | None:
    """The canonical phrase for the first intent row matching normalised ``text``."""
    for phrase, pattern in _COMPILED:
        if pattern.search(text):
            return phrase
    return None
