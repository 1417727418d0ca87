"""Spanish answers and what the engine must understand from them.

Each case is (state kind, what the caller says, expected): for an intent, the intent the
English grammar reads from the canonical phrase; for a slot, its typed value (as str).
TUNED are the phrasings the Spanish grammar was built from. HELD_OUT was written as other
speakers would answer (several countries, fillers, typos of a recogniser), and the
grammar was not changed to fit it: its score is reported, not tuned to 100 %.
"""

from __future__ import annotations

Case = tuple[str, str, str]

TUNED: list[Case] = [
    ("intent", "Sí, soy yo.", "affirm"),
    ("intent", "See, Soy Yo", "affirm"),
    ("intent", "Bueno, soy yo", "affirm"),
    ("intent", "Claro que sí", "affirm"),
    ("intent", "No.", "deny"),
    ("intent", "no, no soy yo", "deny"),
    ("intent", "No me llame más, por favor.", "opt_out"),
    ("intent", "Quiero dejar de recibir llamadas.", "opt_out"),
    ("intent", "Quiero dejarle recibir llamadas.", "opt_out"),
    ("intent", "No me llamé más.", "opt_out"),
    ("intent", "Confirmo la cita.", "affirm"),
    ("intent", "Confirmo.", "affirm"),
    ("intent", "Quiero cambiar la cita", "reschedule"),
    ("intent", "Cancelar la cita", "cancel"),
    ("intent", "cancelar", "cancel_ambiguous"),
    ("intent", "No sé", "dont_know"),
    ("intent", "Ahora no, estoy manejando", "later"),
    ("intent", "Quiero hablar con una persona", "agent"),
    ("intent", "Número equivocado", "wrong_number"),
    ("dob", "el cinco de marzo de mil novecientos ochenta", "1980-03-05"),
    ("dob", "5/3/1980", "1980-03-05"),
    ("dob", "el 5 de marzo de 1980", "1980-03-05"),
    ("dob", "catorce de julio del noventa y dos", "1992-07-14"),
    ("dob", "primero de enero de dos mil uno", "2001-01-01"),
    ("dob", "El 5 del 3 de 1980.", "1980-03-05"),
    # As Whisper writes a Spanish date it heard over G.711 (digits, Spanish thousands mark,
    # "mil" and the rest apart, the comma before the year, words run together).
    ("dob", "El 5 de marzo del 1.980.", "1980-03-05"),
    ("dob", "Cinco de marzo de mil 980", "1980-03-05"),
    ("dob", "5 de marzo, 1980", "1980-03-05"),
    ("dob", "05/03/1980", "1980-03-05"),
    ("dob", "El 5 del 3 de 980.", "1980-03-05"),
    ("dob", "cinco tres ochenta", "1980-03-05"),
    ("dob", "El cinco del 3.980.", "1980-03-05"),  # "tres [de] mil novecientos ochenta"
    ("time", "a las tres y media de la tarde", "15:30:00"),
    ("time", "a las diez de la mañana", "10:00:00"),
    ("choice", "la segunda", "2"),
    ("date_pref", "el martes por la tarde", "Tuesday afternoon"),
    ("date_pref", "la semana que viene", "next week"),
    ("date_pref", "mañana por la mañana", "tomorrow morning"),
]

HELD_OUT: list[Case] = [
    ("intent", "Sí, con ella habla.", "affirm"),
    ("intent", "Sí, dígame.", "affirm"),
    ("intent", "Así es, yo misma.", "affirm"),
    ("intent", "Correcto.", "affirm"),
    ("intent", "No, se equivocó de número.", "wrong_number"),
    ("intent", "No, aquí no vive nadie con ese nombre.", "wrong_number"),
    ("intent", "Por favor ya no me llamen.", "opt_out"),
    ("intent", "No quiero que me llamen más.", "opt_out"),
    ("intent", "Bórrenme de su lista.", "opt_out"),
    ("intent", "Dejen de llamarme.", "opt_out"),
    ("intent", "Sí, ahí estaré.", "affirm"),
    ("intent", "Sí, voy a ir, confírmela.", "affirm"),
    ("intent", "Necesito cambiar la fecha.", "reschedule"),
    ("intent", "¿Me la puede pasar para otro día?", "reschedule"),
    ("intent", "Quiero anular la cita.", "cancel"),
    ("intent", "No me acuerdo.", "dont_know"),
    ("intent", "Llámeme más tarde, por favor.", "later"),
    ("intent", "Estoy ocupada ahorita.", "later"),
    ("intent", "¿Me comunica con la recepción?", "agent"),
    ("intent", "¿Puede repetir?", "repeat"),
    ("dob", "Nací el doce de octubre de mil novecientos setenta y cinco.", "1975-10-12"),
    ("dob", "veintiuno de junio del ochenta y ocho", "1988-06-21"),
    ("dob", "El 3 de febrero de 2001.", "2001-02-03"),
    ("dob", "30-11-1964", "1964-11-30"),
    ("dob", "el treinta y uno de diciembre de mil novecientos noventa y nueve", "1999-12-31"),
    ("time", "a las cuatro de la tarde", "16:00:00"),
    ("time", "a las nueve y cuarto de la mañana", "09:15:00"),
    ("choice", "el primero", "1"),
    ("choice", "La tercera, por favor.", "3"),
    ("date_pref", "el jueves que viene", "next Thursday"),
    ("date_pref", "lo antes posible", "whatever's earliest"),
    ("date_pref", "el viernes en la mañana", "Friday morning"),
]
