"""Spanish requests to repeat and Spanish frequency answers to screening questions.

Cases as in ``tests.spanish.corpus``: (kind, what the caller says, expected). TUNED_RF
are the phrasings the grammar was changed for (2026-12-07: "¿Puede repetir?", "¿Cómo?"
were not a repeat; "a veces", "casi siempre", "diario" were no frequency). HELD_OUT_RF
was written before that change, as other speakers would say it, and never tuned to: its
score is reported. Frequencies are the PHQ scale the English grammar reads: 0 never,
1 several days, 2 more than half the days, 3 nearly every day.
"""

from __future__ import annotations

from tests.spanish.corpus import Case

TUNED_RF: list[Case] = [
    ("intent", "¿Puede repetir?", "repeat"),
    ("intent", "¿Cómo?", "repeat"),
    ("intent", "No le entendí.", "repeat"),
    ("intent", "Otra vez, por favor.", "repeat"),
    ("intent", "¿Qué?", "repeat"),
    ("intent", "¿Perdón?", "repeat"),
    ("intent", "¿Me puede repetir la pregunta?", "repeat"),
    ("intent", "¿Cómo llego a la clínica?", "!repeat"),
    ("frequency", "A veces.", "1"),
    ("frequency", "Nunca.", "0"),
    ("frequency", "Casi siempre.", "3"),
    ("frequency", "Dos veces por semana.", "1"),
    ("frequency", "Diario.", "3"),
    ("frequency", "Todos los días.", "3"),
    ("frequency", "Varios días.", "1"),
    ("frequency", "Más de la mitad de los días.", "2"),
    ("frequency", "Casi todos los días.", "3"),
    ("frequency", "Seguido.", "2"),
    ("frequency", "Una vez por semana.", "1"),
    ("yes_no", "A veces.", "True"),
    ("yes_no_often", "A veces.", "False"),
    ("yes_no_often", "Casi siempre.", "True"),
    ("yes_no", "Nunca.", "False"),
    ("yes_no", "Diario.", "True"),
    ("yes_no", "No siempre.", "None"),  # "not always": asked again, as in English
    ("yes_no", "No muy seguido.", "False"),
    ("yes_no", "No, a veces.", "True"),
    ("intent", "Nunca me llamen.", "opt_out"),
    ("number", "Dos, todas las noches.", "2"),
]

HELD_OUT_RF: list[Case] = [
    ("intent", "¿Me lo puede repetir, por favor?", "repeat"),
    ("intent", "¿Mande?", "repeat"),
    ("intent", "¿Qué dijo?", "repeat"),
    ("intent", "Perdón, no le escuché.", "repeat"),
    ("intent", "¿Cómo dice?", "repeat"),
    ("intent", "Disculpe, ¿puede repetir la pregunta?", "repeat"),
    ("intent", "No entendí la pregunta.", "repeat"),
    ("intent", "¿Eh?", "repeat"),
    ("intent", "No le oí bien.", "repeat"),
    ("intent", "¿Cómo a qué hora abren?", "!repeat"),
    ("frequency", "De vez en cuando.", "1"),
    ("frequency", "Todas las noches.", "3"),
    ("frequency", "Muy seguido.", "2"),
    ("frequency", "La mayor parte del tiempo.", "2"),
    ("frequency", "Casi nunca.", "0"),
    ("frequency", "Rara vez.", "0"),
    ("frequency", "Ningún día.", "0"),
    ("frequency", "Una o dos veces por semana.", "1"),
    ("frequency", "No muy seguido.", "0"),
    ("frequency", "Pues, algunas veces.", "1"),
    ("frequency", "Cada día.", "3"),
    ("frequency", "Con frecuencia.", "2"),
    ("frequency", "A menudo.", "2"),
    ("frequency", "Siempre.", "3"),
    ("yes_no", "Sí, a veces.", "True"),
    ("yes_no_often", "De vez en cuando.", "False"),
    ("yes_no", "Casi nunca.", "False"),
    ("yes_no", "Diariamente.", "True"),
    ("yes_no_often", "Frecuentemente.", "True"),
]
