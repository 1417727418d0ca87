"""Asking for another language in the middle of a call or a text thread.

Each case is (what the caller says or texts, the language they ask the conversation to
go on in: "es", "en", or None for "not a request to switch"). A request switches the
conversation when the clinic has that language; anything else is the workflow's.
TUNED are the phrasings the detector was built from. HELD_OUT was written before the
detector, as other callers would ask (several countries, recogniser typos, no accents),
and was not tuned to: its score is reported (tests/spanish/test_language_switch.py).
"""

from __future__ import annotations

Case = tuple[str, str | None]

TUNED: list[Case] = [
    ("Spanish please", "es"),
    ("Spanish, please.", "es"),
    ("español", "es"),
    ("Español, por favor.", "es"),
    ("¿Habla español?", "es"),
    ("habla espanol", "es"),
    ("Can we do this in Spanish?", "es"),
    ("Do you speak Spanish?", "es"),
    ("In Spanish please", "es"),
    ("en español por favor", "es"),
    ("Prefiero en español.", "es"),
    ("No hablo inglés.", "es"),
    ("I don't speak English.", "es"),
    ("Can you speak Spanish", "es"),
    ("English please", "en"),
    ("¿Habla inglés?", "en"),
    ("En inglés, por favor.", "en"),
    ("Can we do this in English?", "en"),
    ("No hablo español.", "en"),
    ("I don't speak Spanish", "en"),
    ("inglés", "en"),
    # Not a request to switch.
    ("yes", None),
    ("I'd like to confirm my appointment", None),
    ("My daughter speaks Spanish too", None),
    ("Sí, soy yo.", None),
    ("Quiero cambiar la cita", None),
    ("I need an interpreter for Vietnamese", None),
    ("Is the doctor Spanish?", None),
]

HELD_OUT: list[Case] = [
    ("Could you speak in Spanish?", "es"),
    ("Spanish", "es"),
    ("hablas español", "es"),
    ("¿Puede hablar en español?", "es"),
    ("Señorita, en español.", "es"),
    ("Do you have Spanish?", "es"),
    ("Can I get this in Spanish?", "es"),
    ("Espanol por favor", "es"),
    ("Quiero hablar en español.", "es"),
    ("Is there Spanish?", "es"),
    ("I'd prefer Spanish", "es"),
    ("Switch to Spanish", "es"),
    ("en español", "es"),
    ("Oiga, ¿habla usted español?", "es"),
    ("Lo siento, no entiendo inglés.", "es"),
    ("English", "en"),
    ("Can you say that in English", "en"),
    ("Switch to English please", "en"),
    ("Hable en inglés, por favor.", "en"),
    ("Prefiero inglés.", "en"),
    ("I speak English", "en"),
    # Not a request to switch.
    ("no", None),
    ("Tuesday at 3 would be fine", None),
    ("My wife only speaks Spanish but she's not here", None),
    ("Dr. Spanish is my doctor", None),
    ("I want to cancel", None),
    ("Sí, confirmo.", None),
    ("I'm learning Spanish", None),
]
