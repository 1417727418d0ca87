"""Spanish words on a call (or chat, or text thread) that is in English.

A caller who did not choose Spanish may still answer in it, or mix the two. Before
2026-12-07 "Ya no quiero" ("I no longer want...") was read as a yes: "ya" is one of the
English grammar's spellings of "yeah". Cases: (what the caller says, expected), where
expected is an intent the turn must carry ("opt_out", "deny", "affirm") or "!affirm"
(anything but a yes: a no, an opt-out, or the question asked again).

TUNED_EN are the phrasings the code was changed for. HELD_OUT_EN was written before
that change, as other speakers would say it, and never tuned to: its score is reported.
"""

from __future__ import annotations

EnglishCallCase = tuple[str, str]

TUNED_EN: list[EnglishCallCase] = [
    ("Ya no quiero llamadas", "opt_out"),
    ("ya no", "deny"),
    ("Ya no quiero", "deny"),
    ("ya no me llamen", "opt_out"),
    ("yes, pero el martes", "!affirm"),
    ("ok pero no", "!affirm"),
    ("yes pero no puedo", "!affirm"),
    ("ya basta", "!affirm"),
    ("no más", "deny"),
    ("nada", "!affirm"),
    ("ya", "affirm"),
    ("yeah sure", "affirm"),
    ("sí", "affirm"),
    # Added after the held-out run missed "sí pero no a esa hora" (a yes: the Spanish
    # grammar dropped the "pero"); that held-out case is no longer independent.
    ("sí, pero el martes", "!affirm"),
    ("si pero no", "!affirm"),
]

HELD_OUT_EN: list[EnglishCallCase] = [
    ("Ya no, gracias", "!affirm"),
    ("ya no me interesa", "!affirm"),
    ("Ya no quiero que me llamen", "opt_out"),
    ("ya no me manden mensajes", "opt_out"),
    ("No más llamadas por favor", "opt_out"),
    ("nada, no quiero", "!affirm"),
    ("claro que no", "deny"),
    ("no, para nada", "deny"),
    ("yeah pero no puedo ese día", "!affirm"),
    ("okay pero el jueves mejor", "!affirm"),
    ("sí pero no a esa hora", "!affirm"),
    ("ya no vivo ahí", "!affirm"),
    ("Ya no voy a ir", "!affirm"),
    ("ya no necesito la cita", "!affirm"),
    ("no gracias ya no", "deny"),
    ("yeah", "affirm"),
    ("ya, that's fine", "affirm"),
    ("yes that's right", "affirm"),
    ("sí, claro", "affirm"),
    ("Nope", "deny"),
]
