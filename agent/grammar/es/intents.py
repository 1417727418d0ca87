"""Spanish intents as patterns over normalised text, each naming the canonical phrase the
engine's grammar reads ("no me llame mas" -> "stop calling me"). Ordered: the first
table row that matches wins, so an opt-out is never read as a plain "no"."""

from __future__ import annotations

import re
import unicodedata

_NEVER = r"(?:no|nunca|jamas)"
# A call verb as said to the caller: "no me llame", "no me marquen", "nunca me vuelvan a
# contactar" ("no me llamo Ana", my name is not Ana, is no call verb).
_CALL = (r"(?:llame[ns]?|llames|llamar(?:me|nos)?|marque[ns]?|marques|marcar(?:me|nos)?|"
         r"contacte[ns]?|contactar(?:me|nos)?|molest(?:e[ns]?|ar(?:me|nos)?))\b")

# Sending texts, said to us: only with "más" or the texts named ("no me mande la receta
# allí" is no opt-out; "no me manden más", "no me envíen mensajes" are).
_SEND = (r"(?:manden|mande|mandes|mandar(?:me|nos)?|envien|envie|envies|enviar(?:me|nos)?|"
         r"escriban|escriba|escribas|escribir(?:me|nos)?|textee[ns]?|textear(?:me|nos)?)"
         r"\s+(?:(?:por\s+favor|ya)\s+)?(?:mas\b|(?:sus\s+|estos\s+|los\s+)?(?:mensajes|textos|"
         r"sms|recordatorios))")
_LEAD = r"(?:bueno\s+|pues\s+|ah\s+|eh\s+)?"
HOLD = (r"\b(?:un\s+(?:momento|momentito|segundo|minuto)|espere(?:me)?|esperame|"
        r"permitame|aguarde|dejeme\s+(?:buscar|ver|revisar|pensar))\b")

_ROWS: tuple[tuple[str, str], ...] = (
    # Opt-out: stop calls, not a cancelled appointment.
    ("stop calling me",
     rf"\b(?:ya\s+)?{_NEVER}\s+(?:me\s+|nos\s+)?(?:(?:vuelva[ns]?|vuelvas)\s+a\s+)?{_CALL}"
     rf"|\b{_NEVER}\s+quiero\s+que\s+(?:me\s+|nos\s+)?(?:vuelva[ns]?\s+a\s+)?{_CALL}"
     rf"|\b(?:ya\s+)?{_NEVER}\s+(?:me\s+|nos\s+)?(?:(?:vuelva[ns]?|vuelvas)\s+a\s+)?{_SEND}"
     r"|\bno\s+quiero\s+(?:mas\s+|recibir\s+)?(?:llamadas|mensajes|textos|sms|recordatorios)"
     r"|\bdej\w*\s+(?:de\s+)?(?:recibir\s+(?:sus\s+|estas\s+|las\s+|los\s+)?(?:llamadas|"
     r"mensajes|textos)|llamar(?:me|nos)?|marcar(?:me|nos)?|molestar(?:me|nos)?|"
     r"(?:mandar|enviar|escribir)(?:me|nos)?\s+(?:mensajes|textos))"
     r"|\b(?:quite|quiten|saque|saquen|borre|borren|elimine|eliminen)(?:me|nos)?\s+"
     r"(?:de\s+(?:la|su|sus)\s+listas?|(?:mi|el)\s+(?:numero|telefono|nombre))"
     r"|\bno\s+mas\s+(?:llamadas|mensajes|textos)|\bbasta\s+de\s+(?:llamadas|mensajes|textos)"
     r"|\bdejen?me\s+en\s+paz"),
    # A medical emergency or a crisis: the engine says to call 911 (988) first of all.
    ("I want to kill myself", r"\b(?:suicid\w*|matarme|quitarme\s+la\s+vida|me\s+quiero\s+"
                              r"morir|quiero\s+morirme|no\s+quiero\s+(?:vivir|seguir\s+"
                              r"viviendo)|hacerme\s+dano)\b"),
    ("this is an emergency", r"\b(?:dolor\s+(?:de|en\s+el)\s+pecho|me\s+duele\s+el\s+"
                             r"pecho|infarto|ataque\s+(?:al\s+corazon|cardiaco)|no\s+puedo\s+"
                             r"respirar|no\s+(?:esta\s+)?respira|derrame\s+cerebral|"
                             r"inconsciente|se\s+desmay\w+|sobredosis|convulsion\w*|"
                             r"es\s+una\s+emergencia|emergencia\s+medica)\b"),
    # Someone else's date of birth ("su fecha de nacimiento es", "la de ella", "él nació",
    # "el cumpleaños de mi mamá"): no proof the one speaking is the patient, even after a
    # "sí" (the English proxy intent; "mi fecha de nacimiento", "nací" are the caller's).
    ("her date of birth is", r"\b(?:su\s+fecha\s+de\s+nacimiento|(?:la\s+)?fecha\s+de\s+"
                             r"nacimiento\s+de\s+(?:ella|el|ellos|mi|su)\b|la\s+de\s+"
                             r"(?:ella|el)\b|nacio\b|(?:el\s+)?cumpleanos\s+de\s+(?:ella|"
                             r"el|mi|su)\b|su\s+cumpleanos)"),
    ("wrong number", r"\b(?:numero\s+equivocado|se\s+equivoc\w*(?:\s+de\s+numero)?|"
                     r"no\s+(?:conozco|vive\s+aqui)|aqui\s+no\s+vive)"),
    # "¿Es usted un robot?", "¿es una grabación?", "¿hablo con una persona?": asked, not
    # a request for a person (the engine says it is an automated assistant).
    ("am I talking to a real person",
     r"\b(?:es\s+(?:usted\s+|esto\s+|este\s+)?(?:un\s+|una\s+)?(?:robot|maquina|grabacion|"
     r"contestadora|computadora|inteligencia\s+artificial)|(?:es\s+)?(?:una\s+)?grabacion\b|"
     r"(?:hablo|estoy\s+hablando)\s+con\s+(?:una\s+)?(?:persona|maquina|robot|humano)|"
     r"es\s+(?:usted\s+)?(?:una\s+persona|humano|humana|real))\b"),
    # "Falleció", "murió el mes pasado", "ya no está con nosotros": the patient has died.
    ("she passed away", r"\b(?:fallec\w*|muri[oó]|murio|esta\s+muert[oa]|ya\s+no\s+esta\s+"
                        r"con\s+nosotros|en\s+paz\s+descanse|descanse\s+en\s+paz)\b"),
    # Refill replies: already filled, stopped by the doctor, or another pharmacy.
    ("I already picked it up", r"\bya\s+(?:la|lo|las|los)\s+(?:recogi|tengo|compre|"
                               r"surti)\b|\bya\s+no\s+(?:la|lo|las|los)\s+(?:tomo|uso)\b|"
                               r"\b(?:el\s+|la\s+)?(?:doctor|doctora|medico|medica)\s+"
                               r"(?:me\s+)?(?:la|lo)\s+(?:quito|suspendio|cancelo)\b"),
    ("send it to a different pharmacy", r"\b(?:otra|diferente)\s+farmacia\b|\bcambiar\s+"
                                        r"(?:de\s+|la\s+|mi\s+)?farmacia\b"),
    ("representative", r"\b(?:hablar\s+con\s+(?:una\s+|un\s+|alguien)|operador\w*|"
                       r"representante|recepcion\w*|una\s+persona|agente)\b"),
    # Questions back ("¿quién habla?" is no name; the engine answers, then asks again).
    ("who is this", r"\bquien\s+(?:habla|es|eres|llama|me\s+llama|lo\s+llama|la\s+llama)\b|"
                    r"\bcon\s+quien\s+hablo\b|\bde\s+donde\s+(?:me\s+)?llama[ns]?\b|"
                    r"\bde\s+parte\s+de\s+quien\b"),
    ("what's this about", r"\bde\s+que\s+se\s+trata\b|\b(?:para|por)\s+que\s+(?:me\s+)?"
                          r"llama[ns]?\b"),
    # Questions about the clinic ("¿dónde están ubicados?", "¿cuál es su horario?"): the
    # engine answers from the clinic's data, or says staff can help, then asks again.
    ("where are you located", r"\bdonde\s+(?:estan|quedan|se\s+encuentran|(?:esta|queda)\s+"
                              r"(?:la\s+clinica|el\s+consultorio|la\s+oficina))\b|"
                              r"\b(?:su|la)\s+direccion\b|\bcomo\s+llego\b"),
    ("what are your hours", r"\bhorario\w*|\ba\s+que\s+hora\s+(?:abren|cierran)\b|"
                            r"\b(?:abren|estan\s+abiertos|atienden)\s+(?:el|los|en)\b"),
    ("what number can I call you back on", r"\b(?:a\s+)?(?:que|cual)\s+(?:es\s+(?:el|su)\s+)?"
                                           r"numero\b(?!\s+es\s+este)|\bsu\s+telefono\b"),
    ("do you take my insurance", r"\b(?:aceptan|acepta|toman|cubre|cubren)\s+(?:mi\s+|el\s+)?"
                                 r"(?:seguro|plan|medicare|medicaid)\b|\bcuanto\s+(?:cuesta|"
                                 r"cobran|vale|sale|me\s+va\s+a\s+costar)\b|\bcopago\b"),
    ("is there parking", r"\bestacionamiento\b|\bdonde\s+(?:me\s+)?estaciono\b|\bparqueo\b"),
    ("what should I bring", r"\bque\s+(?:debo|tengo\s+que|necesito)\s+(?:llevar|traer)\b"),
    # "¿Puede repetir?", "¿Cómo?", "¿Mande?", "¿Qué dijo?": the question again, no answer.
    # The line itself ("no le escucho", "se está cortando", "¿me escucha?", "¿bueno?
    # ¿bueno?", "la línea está mala") and the question asked for ("¿cuál era la pregunta?",
    # "más despacio"): "no le entiendo" was a "no". What the caller does not understand at
    # a free-text question ("no le entiendo a mi doctor") is their answer, not this.
    ("repeat that", r"\b(?:repit\w+|repet\w+|no\s+(?:le\s+|te\s+|lo\s+|la\s+)?(?:entendi|"
                    r"escuche|oi)\b|no\s+(?:le\s+|te\s+|lo\s+|la\s+)?(?:entiendo|escucho|"
                    r"oigo)(?=\s*$|\s+(?:bien|nada|muy|casi|lo\s+que|que|se\s+|por\s+favor))|"
                    r"otra\s+vez\s+por\s+favor|se\s+(?:esta\s+)?(?:corta\w*|corto)|se\s+(?:oye|"
                    r"escucha)\s+(?:muy\s+)?mal|(?:linea|senal|llamada|conexion)\s+(?:esta\s+)?"
                    r"(?:muy\s+)?(?:mala|fea|cortada)|^(?:(?:hola|alo|bueno)\s+)*me\s+(?:escucha|"
                    r"escuchas|oye|oyes)(?:\s+(?:bien|ahora|usted))?$|^(?:(?:hola|alo|bueno)\s+)*"
                    r"(?:sigue|esta|estas)\s+(?:usted\s+)?(?:ahi|en\s+la\s+linea)$|(?:cual|que)\s+(?:era|es|fue)\s+la\s+"
                    r"pregunta|que\s+me\s+(?:pregunto|pregunta)\b|(?:hable|habla|hablen|mas)\s+"
                    r"(?:mas\s+)?(?:despacio|lento|fuerte|alto)\b)|^(?:(?:hola|alo|bueno)\s+)*"
                    r"(?:hola|alo)$|^bueno(?:\s+bueno)+$|^(?:(?:perdon|disculpe|eh|ay)\s+)*(?:como|"
                    r"que|mande|perdon|eh|mm+|disculpe|(?:como|que)\s+(?:me\s+)?"
                    r"(?:dijo|dice|dijiste|decia))(?:\s+(?:senor|senora|senorita))?$"),
    # "No hablo inglés" (the call has just switched to Spanish): the question again.
    ("repeat that", r"\bno\s+(?:hablo|entiendo|se)\s+(?:mucho\s+|bien\s+)?ingles\b|"
                    r"\b(?:habla|hablan)\s+(?:usted\s+)?espanol\b"),
    # A refusal to answer is no name and no "no".
    ("I'd rather not say", r"\bprefiero\s+no\s+(?:decir|dar|contestar|responder)|\bno\s+(?:se\s+"
                           r"|le\s+|te\s+)?(?:lo\s+|la\s+)?(?:quiero|voy\s+a|pienso|tengo\s+"
                           r"por\s+que)\s+(?:dar|decir|contestar|responder)|\bno\s+(?:le|te)\s+"
                           r"importa\b|\bno\s+es\s+(?:asunto|cosa)\s+suy[oa]\b"),
    ("hold on", HOLD),
    # Asking for another time is no "call me later" ("¿hay una más tarde?").
    ("is there one later", r"\b(?:una|uno|alguna|alguno|algo|otra|otro|nada|hay)\s+(?:\w+\s+)?"
                           r"mas\s+tarde\b"),
    ("is there one earlier", r"\b(?:una|uno|alguna|alguno|algo|otra|otro|nada|hay)\s+(?:\w+\s+)?"
                             r"mas\s+temprano\b"),
    ("call me back later", r"\b(?:ahora\s+no|no\s+puedo\s+(?:hablar|ahora)|estoy\s+"
                           r"(?:manejando|conduciendo|ocupad[oa]|trabajando)|mas\s+tarde|"
                           r"(?:llame|llamen|llamame)(?:me)?\s+(?:luego|despues|mas\s+tarde|"
                           r"en\s+otro\s+momento)|en\s+otro\s+momento)"),
    ("self pay", r"\b(?:pago\s+propio|sin\s+seguro|no\s+tengo\s+seguro|pago\s+en\s+efectivo)\b"),
    ("I don't know", r"\bno\s+(?:lo\s+)?se\b|\bno\s+(?:me\s+)?(?:acuerdo|recuerdo)\b|"
                     r"\bno\s+(?:estoy|estamos)\s+(?:muy\s+|tan\s+|del\s+todo\s+|"
                     r"completamente\s+|bien\s+)?segur[oa]s?\b|\bquien\s+sabe\b|"
                     r"\b(?:ni|no\s+tengo)\s+(?:idea|la\s+menor\s+idea)\b"),
    # Requests a "no" before the verb takes back (NEGATABLE).
    ("reschedule", r"\b(?:cambi(?:ar|e|en|emos|ela|elo)|reprogram|reagend|mover|"
                   r"muev(?:a|an|ala|alo)\b|pasar)\w*\s*(?:la\s+|mi\s+)?(?:cita|hora|fecha|dia)?|\b(?:otra\s+(?:hora|fecha|cita)|"
                   r"otro\s+dia)\b"),
    ("cancel appointment", r"\b(?:cancel\w*|anul\w*)\s+(?:la\s+|mi\s+|esa\s+)?cita\b|"
                           r"\bya\s+no\s+(?:necesito|voy\s+a\s+necesitar)\s+(?:la\s+|mi\s+|"
                           r"esa\s+)?cita\b"),
    # "Cancélela", "cancélala": "la" is the appointment (la cita; the calls would be
    # "las"), so no bare cancel to ask about (it was one).
    ("cancel appointment", r"\b(?:cancel|anul)\w*la\b"),
    # "¿Me la cancela?", "¿me la puede cancelar?": "la" before the verb is the appointment too.
    ("cancel appointment", r"\bla\s+(?:(?:puede|pueden|podria|podrian|quiere|quieren|va\s+a|"
                           r"van\s+a)\s+)?(?:cancel|anul)\w*"),
    ("cancel", r"\b(?:cancel\w*|anul\w*)\b"),
    ("confirm", r"\b(?:confirm\w*|ahi\s+estare|alli\s+estare|si\s+voy|voy\s+a\s+ir|"
                r"asistire|cuente\s+conmigo)\b"),
    # Offered times: an ordinal picks one unless the reply turns it down (ORDINALS).
    ("none of them", r"^(?:pues\s+|bueno\s+)?ningun[oa]\b|\bningun[oa]\s+de\s+(?:esas|esos|"
                     r"ellas|ellos|las|los)\b"),
    ("first", r"\b(?:el\s+|la\s+)?primer[oa]?\b(?!\s+de\s)"),
    ("second", r"\b(?:el\s+|la\s+)?segund[oa]\b"),
    ("third", r"\b(?:el\s+|la\s+)?tercer[oa]?\b"),
    # Yes and no. "Claro que no" is a no, "cómo no" a yes, "sí y no" neither; a habit
    # that has ended ("ya no", "lo dejé el año pasado", "dejé de fumar") is a no.
    # A hedge as the answer ("quizás", "tal vez", "a lo mejor", "puede ser"): neither yes
    # nor no, so asked again ("a lo mejor sí" is a maybe too).
    ("maybe", rf"^{_LEAD}(?:quiza|quizas|tal\s+vez|a\s+lo\s+mejor|puede\s+ser|posiblemente)"
              r"(?:\s+(?:si|no|que\s+si|que\s+no))?$"),
    ("of course not", rf"^{_LEAD}(?:claro|por\s+supuesto|desde\s+luego|obvio|seguro|"
                      r"obviamente)\s+que\s+no\b"),
    ("yes and no", rf"^{_LEAD}(?:si\s+y\s+no|no\s+y\s+si|si\s+o\s+no)\b"),
    # Short answers only: a reason for a visit ("dejé de tomar la pastilla y me mareo")
    # is kept in the caller's words.
    ("no longer", r"\bya\s+no(?:\s+\w+){0,2}$|\b(?:ya\s+)?(?:lo|la)\s+deje\s*(?:$|hace\b|"
                  r"el\s+ano\b|desde\b|este\s+ano\b|ya\b)|\bdeje\s+de\s+(?!llamar|recibir)"
                  r"\w+(?:\s+\w+){0,3}$"),
    # "Ya le dije que no", "creo que sí": the answer closes the turn ("ya" is no English yes).
    ("no", r"\bque\s+no$"),
    ("yes", r"\bque\s+si$"),
    ("yes", rf"^{_LEAD}(?:si|claro|correcto|exacto|asi\s+es|de\s+acuerdo|como\s+no|"
            r"esta\s+bien|por\s+supuesto|afirmativo|vale|soy\s+yo|con\s+(?:el|ella)\s+habla|"
            r"al\s+habla|ella\s+habla|el\s+habla|yo\s+soy|digame|efectivamente|eso\s+es)\b"),
    ("never", rf"^{_LEAD}(?:nunca|jamas)\b"),
    ("no", rf"^{_LEAD}(?:no|para\s+nada|negativo|no\s+es\s+correcto|tampoco|"
           r"de\s+ninguna\s+manera|ni\s+hablar|ni\s+loco|ni\s+loca)\b"),
    ("yes", r"(?<!no\s)\b(?:soy\s+yo|con\s+(?:el|ella)\s+habla|yo\s+mism[oa])\b"),
    ("yes", r"^(?:sale|orale|andale)(?:\s+pues)?$"),  # Mexican "OK", the whole turn
    ("appointment", r"^(?:la\s+)?cita\b"),
)
_COMPILED = tuple((phrase, re.compile(pattern)) for phrase, pattern in _ROWS)
# "Es la cita", "la cita" answering "cancel the appointment or stop calls?"

# A request said not to be done, as the English grammar reads it taken back.
_NEGATABLE = {"reschedule": "I don't want to reschedule", "cancel appointment": "don't cancel it",
              "cancel": "don't cancel it", "confirm": "no"}
# "No cancele", "no quiero cambiar", "no me la cancele", "ni la cancele": a negation
# before the verb with only pronouns and helper verbs between.
_NEGATION = re.compile(
    r"\b(?:no|nunca|jamas|ni|tampoco)\s+(?:(?:me|te|se|le|les|lo|la|los|las|nos|mi|que|"
    r"quiero|queremos|quisiera|necesito|necesitamos|deseo|hace\s+falta|hay\s+que|tengo\s+que|"
    r"tiene[ns]?\s+que|voy\s+a|vamos\s+a|va\s+a|van\s+a|vaya[ns]?\s+a|pienso|puedo|podre|"
    r"podemos|puede[ns]?|poder|por\s+favor|es\s+necesario)\s+){0,3}$")
# "No, no la cancele" / "no, la primera": a no said as an answer, then the rest.
_ANSWER_FIRST = re.compile(r"^(?:no|nunca)\s*[,.;!]\s*|^no\s+(?=no\b)")
# An offered time turned down or asked about: "la primera no", "la primera es muy
# temprano", "¿la segunda es por la tarde?", "la otra", "ni la primera ni la segunda".
_TURNS_DOWN = re.compile(r"\?|^(?:hay|tiene[ns]?|tendra[ns]?|habra|queda[ns]?)\b|\b(?:no|ni|"
                         r"ningun[oa]|otr[oa]|muy|demasiado|pero|excepto|menos|tampoco)\b|"
                         r"\bmas\s+(?:tarde|temprano)\b")
# A caller correcting themself: the answer after the last of these counts ("no, espere,
# sí"; "sí, digo, no"; "la primera, perdón, la segunda").
_CORRECTION = re.compile(r"\b(?:espere|espera|digo|perdon|mejor\s+dicho|o\s+sea|"
                         r"quiero\s+decir|corrijo)\b")
_ANSWER_WORD = re.compile(r"\b(?:si|no|primer[oa]?|segund[oa]|tercer[oa]?)\b")
_HOLD = re.compile(HOLD)


def spoken(said: str) -> str:
    """Lower case, accents off, punctuation kept: where a clause ends matters ("no,
    cancélela" is a cancel; "no la cancele" is not)."""
    decomposed = unicodedata.normalize("NFKD", said.lower())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.sub(r"[\u00bf\u00a1\"]+", " ", plain).split())


def find_intent(text: str, said: str | None = None) -> str | None:
    """The canonical phrase for normalised ``text`` (``said``: as said, punctuation
    kept): the first table row that matches, save that an opt-out always holds, an answer
    after a correction counts, a request after a negation is taken back and an offered
    time turned down is no pick."""
    said_form = spoken(said) if said is not None else text
    opt_out_phrase, opt_out = _COMPILED[0]
    if opt_out.search(text):
        return opt_out_phrase
    corrected = _after_correction(text, said_form)
    if corrected is not None:
        return corrected
    taken_back: str | None = None
    for phrase, pattern in _COMPILED[1:]:
        if phrase in _NEGATABLE:
            if pattern.search(text) and not _all_negated(pattern, said_form):
                return phrase
            if pattern.search(text):
                taken_back = taken_back or _NEGATABLE[phrase]
            continue
        if taken_back is not None:
            answered = _ANSWER_FIRST.search(said_form) and taken_back != "no"
            return f"no, {taken_back}" if answered else taken_back
        if pattern.search(text):
            return _refined(phrase, pattern, text, said_form)
    return taken_back


def _all_negated(pattern: re.Pattern[str], said_form: str) -> bool:
    hits = list(pattern.finditer(said_form))
    return bool(hits) and all(_NEGATION.search(said_form[:m.start()]) for m in hits)


def _refined(phrase: str, pattern: re.Pattern[str], text: str, said_form: str) -> str:
    """A matched row read with the rest of the turn: an ordinal turned down is "not the
    first one"; a request for a moment said with something else is both."""
    if phrase in ("first", "second", "third"):
        rest = _ANSWER_FIRST.sub("", said_form, count=1)
        return f"not the {phrase} one" if _TURNS_DOWN.search(rest) else phrase
    if phrase == "hold on":
        also = find_intent(" ".join(pattern.sub(" ", text).split()),
                           _HOLD.sub(" ", said_form))
        return f"{also}, hold on" if also else phrase
    return phrase


def _after_correction(text: str, said_form: str) -> str | None:
    """The reading of what follows the last correction, when an answer came before it."""
    marks = list(_CORRECTION.finditer(text))
    if not marks or not _ANSWER_WORD.search(text[:marks[-1].start()]):
        return None
    tail = text[marks[-1].end():].strip()
    said_marks = list(_CORRECTION.finditer(said_form))
    said_tail = said_form[said_marks[-1].end():].strip(" ,.;!") if said_marks else tail
    return find_intent(tail, said_tail) if tail else None
