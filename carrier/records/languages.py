"""A patient's preferred language, as the records keep it: a two-letter ISO 639-1 code of
a language the clinic's calls and texts are given in (``SUPPORTED``).

``language_code`` reads what the feeds and operators write: ISO 639-1 and 639-2 codes,
BCP 47 tags ("es-MX", "en-US"), HL7 table 0296 codes (PID-15 "SPA", "ENG") and names in
English or Spanish ("Spanish", "Español"). None: not a language the clinic supports
(a feed then leaves the stored value as it is; the console answers 422). Pure."""

from __future__ import annotations

import re
import unicodedata

ENGLISH = "en"
SPANISH = "es"
SUPPORTED = (ENGLISH, SPANISH)

_NAMES = {
    ENGLISH: ("en", "eng", "english", "ingles", "inglesa"),
    SPANISH: ("es", "spa", "esp", "spanish", "espanol", "espanola", "castellano",
              "spanish castilian"),
}
_READ = {name: code for code, names in _NAMES.items() for name in names}


def language_code(text: str | None) -> str | None:
    """The supported language ``text`` names, or None."""
    if not text:
        return None
    plain = "".join(c for c in unicodedata.normalize("NFKD", text.strip().lower())
                    if not unicodedata.combining(c))
    plain = re.sub(r"[\s;,]+", " ", re.sub(r"[^a-z ;,_-]", "", plain)).strip()
    if plain in _READ:
        return _READ[plain]
    tag = re.split(r"[-_ ]", plain, maxsplit=1)[0]  # "es-MX", "en_US": the language part
    return _READ.get(tag) if tag in ("en", "es", "eng", "spa") else None
