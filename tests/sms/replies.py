"""Replies real patients text to a reminder, with what each must do. Written before the
fix: TUNED were worked on, HELD_OUT never tuned to (scored as they are).

What a reply does, first step only: ``stop`` (consent revoked), ``help``, ``start``,
``confirm``/``cancel`` (the appointment action runs), ``reschedule`` (asks the date of
birth), ``hold`` (waited for), ``ask`` (nothing changes; the question is asked again).
``not_stop`` is any outcome but an opt-out (a word like "stop" inside another meaning)."""

from __future__ import annotations

QUOTED = ("C\n\nOn Mon, Dec 7, 2026 at 9:00 AM Demo Clinic <+15550100100> wrote:\n"
          "> Demo Clinic: reminder of your appointment Tuesday at 1 PM. Reply C to confirm, "
          "R to reschedule, X to cancel. STOP to opt out")
REMINDER = ("Demo Clinic: reminder of your appointment Tuesday, December 8 at 1 PM. Reply C to "
            "confirm, R to reschedule, X to cancel. STOP to opt out")

TUNED: dict[str, str] = {
    "STOP": "stop", "Stop.": "stop", "stop!!": "stop", "STOP ALL": "stop",
    "Stop please": "stop", "stopp": "stop", "unsubscribe me": "stop", "opt-out": "stop",
    "Revoke": "stop", "end": "stop", "quit": "stop", "CANCEL": "stop",
    "please stop texting me": "stop", "ALTO": "stop", "PARAR": "stop", "BAJA": "stop",
    "STOP\nSent from my iPhone": "stop",
    "HELP": "help", "info": "help",
    "\U0001F44D": "confirm", "Y": "confirm", "yes!!": "confirm", "C": "confirm",
    "c.": "confirm", "1": "confirm", QUOTED: "confirm", "C\n\n-- \nJane Doe": "confirm",
    "confirm and please text me the address": "confirm",
    "N": "ask", "   ": "ask", "please don't cancel my appointment": "ask",
    "yes, no wait, no": "ask", "one sec": "hold",
    "Yes but can we do 3pm instead": "reschedule", "R": "reschedule",
    "X": "cancel", "cancel my appointment": "cancel",
    "I can't stop coughing, can I come in another day?": "not_stop",
    "very long " * 300: "ask", "caf\udce9 \x00\x07 ok?": "not_stop",
}

HELD_OUT: dict[str, str] = {
    "Stop!": "stop", "STOP STOP": "stop", "stop texting me": "stop", "Please stop": "stop",
    "Unsubscribe.": "stop", "OPT OUT": "stop", "optout": "stop", "quit please": "stop",
    "End.": "stop", "remove me from this list": "stop", "Cancelar": "stop",
    "alto por favor": "stop", "Baja.": "stop", "stop!!!!!!!!": "stop",
    "STOP \U0001F621": "stop", "\u200bSTOP": "stop", "\uff33\uff34\uff2f\uff30": "stop",
    "STOP\n\nSent from my Galaxy": "stop",
    "ayuda": "help", "Info?": "help",
    "yes": "confirm", "Yep": "confirm", "y.": "confirm", "\U0001F44D\U0001F3FB": "confirm",
    f"Liked \u201c{REMINDER}\u201d": "confirm", "c\nThanks, Maria": "confirm",
    "2": "cancel", "x.": "cancel", "3": "reschedule",
    "don't stop my reminders": "not_stop", "the bus stop is far, can I reschedule": "not_stop",
    "end of the week works better": "not_stop", "no": "ask", "hold on": "hold",
}

# Spanish and misspelt replies (2026-12-07). Before: "No me manden más mensajes" and
# "no me llamen más" were a plain "no" (the opt-out lost), "Ya no quiero mensajes" a yes
# (the appointment confirmed), "Sí, confirmo" and "yse" were not understood.
# SPANISH_TUNED were worked on; SPANISH_HELD_OUT was written before the fix, not tuned to.
SPANISH_TUNED: dict[str, str] = {
    "No me manden más mensajes": "stop", "no me llamen más": "stop",
    "Ya no quiero mensajes": "stop", "No más mensajes por favor": "stop",
    "Dejen de mandarme mensajes": "stop", "Sí, confirmo": "confirm", "Confirmo": "confirm",
    "Quiero cancelar mi cita": "cancel", "Necesito cambiar la cita": "reschedule",
    "yse": "confirm", "yess": "confirm", "noo": "ask", "Sí": "confirm",
}
SPANISH_HELD_OUT: dict[str, str] = {
    "ya no me manden mensajes por favor": "stop", "No me escriban más": "stop",
    "Por favor no me envíen más mensajes": "stop", "no quiero más textos": "stop",
    "Bórrenme de su lista": "stop", "Ya no me llamen, gracias": "stop",
    "Sí, ahí estaré": "confirm", "si confirmo": "confirm", "Claro que sí": "confirm",
    "Cancele la cita por favor": "cancel", "¿Puedo cambiar la hora?": "reschedule",
    "ys": "confirm", "yeah": "confirm", "yesss!": "confirm", "nope": "ask",
    "No, gracias": "ask", "no puedo ir ese día": "not_stop",
}
