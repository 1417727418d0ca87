"""Spanish callers reporting the line or asking for the question again.

Cases as in ``tests.spanish.corpus``. TUNED_LINE are the phrasings the grammar was changed
for (2026-12-07: "No le escucho", "No le entiendo" were a "no": the reminder ended "not
available"; "se está cortando", "¿me escucha?", "¿cuál era la pregunta?" were no answer).
HELD_OUT_LINE was written before that change, as other speakers would say it, and never
tuned to: its score is reported.
"""

from __future__ import annotations

from tests.spanish.corpus import Case

TUNED_LINE: list[Case] = [
    ("intent", "No le escucho.", "repeat"),
    ("intent", "No le entiendo.", "repeat"),
    ("intent", "No, no le entiendo", "!deny"),
    ("intent", "Se está cortando.", "repeat"),
    ("intent", "¿Me escucha?", "repeat"),
    ("intent", "¿Bueno? ¿Bueno?", "repeat"),
    ("intent", "¿Cuál era la pregunta?", "repeat"),
    ("intent", "¿Qué me preguntó?", "repeat"),
    ("intent", "Más despacio, por favor.", "repeat"),
    ("intent", "La línea está muy mala.", "repeat"),
    ("intent", "¿Hola? ¿Sigue ahí?", "repeat"),
    ("intent", "No le escucho bien, se corta.", "repeat"),
    ("intent", "Bueno, sí, soy yo", "affirm"),
    ("intent", "No, no soy yo", "deny"),
]

HELD_OUT_LINE: list[Case] = [
    ("intent", "No te oigo nada.", "repeat"),
    ("intent", "Perdón, no le oigo bien.", "repeat"),
    ("intent", "Se cortó la llamada.", "repeat"),
    ("intent", "¿Aló? ¿Aló?", "repeat"),
    ("intent", "¿Me oye?", "repeat"),
    ("intent", "Hay mucho ruido en la línea.", "repeat"),
    ("intent", "¿Qué fue lo que me preguntó?", "repeat"),
    ("intent", "Hable más fuerte, por favor.", "repeat"),
    ("intent", "¿Está ahí todavía?", "repeat"),
    ("intent", "No le entiendo nada.", "repeat"),
    ("intent", "Se escucha muy mal.", "repeat"),
]
