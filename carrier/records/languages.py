"""A patient's preferred language, as the records keep it: a two-letter ISO 639-1 code of
a language the clinic's calls and texts are given in (``SUPPORTED``).

``language_code`` reads what the feeds and operators write: ISO 639-1 and 639-2 codes,
BCP 47 tags ("es-MX", "en-US"), HL7 table 0296 codes (PID-15 "SPA", "ENG") and names in
English or Spanish ("Spanish", "Español"). None: not a language the clinic supports
(a feed then leaves the stored value as it is; the console answers 422).

``language_tag`` reads any language a feed names by code ("vi", "VIE^Vietnamese^HL70296",
"zh-Hant"), or in English words ("Vietnamese", a small table of languages US clinics meet):
ISO 639-1 where one is known, else the three letters as given. The records
keep it as what the EHR said (``patients.language_feed``) even when the clinic calls in
no such language (the call falls back to English; staff see that an interpreter may be
needed). Pure."""

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


# ISO 639-2 (B and T) codes of languages often asked for in US clinics, to their 639-1
# code, so "VIE" (HL7 table 0296) and "vi" (BCP 47) are one language. Others stay as sent.
_THREE_TO_TWO = {
    "eng": "en", "spa": "es", "vie": "vi", "chi": "zh", "zho": "zh", "kor": "ko",
    "rus": "ru", "ara": "ar", "tgl": "tl", "fre": "fr", "fra": "fr", "hat": "ht",
    "por": "pt", "pol": "pl", "ger": "de", "deu": "de", "jpn": "ja", "ita": "it",
    "hin": "hi", "urd": "ur", "per": "fa", "fas": "fa", "som": "so", "amh": "am",
    "arm": "hy", "hye": "hy", "ben": "bn", "pan": "pa", "guj": "gu", "ukr": "uk",
    "khm": "km", "lao": "lo", "hmn": "hmn", "nep": "ne", "tha": "th", "bur": "my",
    "mya": "my", "yid": "yi", "heb": "he", "gre": "el", "ell": "el", "tur": "tr",
}
_CODE = re.compile(r"^([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*$")
# The English names (and common US clinic names) of the same languages, for an EHR that
# gives a language in words only (FHIR ``language.text``, PID-15's text component). A
# name that could be several languages ("Creole", "Sign language") is none.
_NAMED = {
    "vietnamese": "vi", "chinese": "zh", "mandarin": "zh", "mandarin chinese": "zh",
    "cantonese": "yue", "korean": "ko", "russian": "ru", "arabic": "ar", "tagalog": "tl",
    "filipino": "tl", "french": "fr", "haitian creole": "ht", "haitian": "ht",
    "portuguese": "pt", "polish": "pl", "german": "de", "japanese": "ja", "italian": "it",
    "hindi": "hi", "urdu": "ur", "persian": "fa", "farsi": "fa", "somali": "so",
    "amharic": "am", "armenian": "hy", "bengali": "bn", "bangla": "bn", "punjabi": "pa",
    "gujarati": "gu", "ukrainian": "uk", "khmer": "km", "cambodian": "km", "lao": "lo",
    "laotian": "lo", "hmong": "hmn", "nepali": "ne", "thai": "th", "burmese": "my",
    "yiddish": "yi", "hebrew": "he", "greek": "el", "turkish": "tr",
}


def language_tag(text: str | None) -> str | None:
    """The language ``text`` names by code, any language (lower case, ISO 639-1 where
    known, else the 639-2 letters), or by its English name (a supported one, or one of
    ``_NAMED``); None: not a code or a name known."""
    supported = language_code(text)
    if supported is not None or not text:
        return supported
    named = _NAMED.get(" ".join(text.lower().split()))
    if named is not None:
        return named
    m = _CODE.match(text.strip())
    if m is None or m.group(1).lower() in ("und", "mul", "zxx", "mis"):
        return None  # undetermined, several, none: nothing said
    code = m.group(1).lower()
    return _THREE_TO_TWO.get(code, code)
