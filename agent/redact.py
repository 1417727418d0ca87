"""PHI redaction for transcripts: typed placeholders for the Safe Harbor identifiers.

``redact(text, known)`` replaces, before anything is stored:
- the patient's own known identifiers (names, DOB, phones, member ID, MRN, address, email);
- written patterns: SSN, phone and fax numbers, emails, URLs, IP addresses, dates (a date
  near "born"/"birth" is a [DOB]), ZIP codes, street addresses, MRNs, member and account
  numbers, licence, plate, device and other identifying codes, ages over 89;
- spoken forms: digits read one by one ("five five five, oh one two three"), IDs spelled
  with letters ("Z as in zebra"), and dates in words ("March fifth, nineteen eighty").

Numbers are labelled by what is said just before them ("social", "member ID", "account"),
else by length (ten digits are a phone number, nine read 3-2-4 an SSN). Years alone are
kept (Safe Harbor allows them). Redaction is idempotent: placeholders are never touched.
Names are found by ``agent.redaction.names``; spoken forms by ``agent.redaction.spoken``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass

from agent.redaction.names import NAME_HERE, known_name_parts, name_spans, not_a_name
from agent.redaction.sound_alike import sound_alike_names
from agent.redaction.span import Span
from agent.redaction.span import latin as _latin
from agent.redaction.spanish import spanish_spans
from agent.redaction.spoken import Tok, _year_at, digit_runs, spelled_id, spoken_dates, tokenize

PLACEHOLDER = re.compile(r"\[[A-Z_]+\]")
PRIORITY = ["EMAIL", "URL", "IP", "SSN", "DOB", "MRN", "MEMBER_ID", "PHONE", "ACCOUNT", "LICENSE",
            "VEHICLE", "DEVICE",
            "ADDRESS", "ZIP", "DATE", "AGE", "NAME", "ID"]


@dataclass(frozen=True)
class KnownIdentifiers:
    """The patient's own identifiers for this conversation (never logged)."""

    names: tuple[str, ...] = ()
    dob: dt.date | None = None
    phones: tuple[str, ...] = ()
    member_ids: tuple[str, ...] = ()
    mrns: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()
    # The organisation's own names, number and address (the clinic, its providers): never
    # PHI, kept readable wherever said, whatever a recogniser makes of them ("this is
    # Maple Grove Family Clinic calling" reads like a person introducing themselves).
    keep: tuple[str, ...] = ()


# ---- context words --------------------------------------------------------------------

_CTX = {
    "SSN": re.compile(r"\b(social|ssn|s s n|social security)\b[^.\d]{0,30}$", re.I),
    "MRN": re.compile(r"\b(mrn|m r n|medical record|record number|chart number|patient id|"
                      r"patient number)\b[^.\d]{0,25}$", re.I),
    "MEMBER_ID": re.compile(r"\b(member|membership|policy|subscriber|insurance|group|plan|"
                            r"beneficiary|medicaid|medicare)\s*(id|i d|number|no|#|num)?\b[^.\d]"
                            r"{0,25}$", re.I),
    "ACCOUNT": re.compile(r"\b(account|acct|card number|credit card|routing|bank|claim|"
                          r"ending in|invoice|reference number)\b[^.\d]{0,25}$",
                          re.I),
    "LICENSE": re.compile(r"\b(licen[cs]e|certificate|dea|npi|passport)\b(?! plate)[^.\d]{0,25}$",
                          re.I),
    "VEHICLE": re.compile(r"\b(plate|license plate|vin|vehicle)\b[^.\d]{0,25}$", re.I),
    "DEVICE": re.compile(r"\b(serial|device|pacemaker|implant|imei)\b[^.\d]{0,25}$", re.I),
    "ZIP": re.compile(r"\b(zip|zip code|postal|postcode)\b[^.\d]{0,15}$", re.I),
    "PHONE": re.compile(r"\b(phone|call me at|cell|mobile|fax|number is|reach me|telephone|"
                        r"callback|call back)\b[^.\d]{0,25}$", re.I),
    "DOB": re.compile(r"\b(born|birth|dob|d o b|birthday|birthdate)\b[^.]{0,30}$", re.I),
}


_AFTER = [
    ("SSN", re.compile(r"^[^.]{0,20}\b(social|ssn)\b", re.I)),
    ("MRN", re.compile(r"^[^.]{0,20}\b(medical record|mrn|chart)\b", re.I)),
    ("MEMBER_ID", re.compile(r"^[^.]{0,20}\b(member|policy|subscriber|insurance)\b", re.I)),
    ("ACCOUNT", re.compile(r"^[^.]{0,20}\baccount\b", re.I)),
    ("DOB", re.compile(r"^[^.]{0,20}\b(birthday|birth|born|dob)\b", re.I)),
    ("PHONE", re.compile(r"^[^.]{0,20}\b(phone|cell|number to call|fax)\b", re.I)),
    ("ZIP", re.compile(r"^[^.]{0,20}\bzip\b", re.I)),
]


def _after_context(text: str, end: int) -> str | None:
    after = text[end:end + 40]
    for label, pattern in _AFTER:
        if pattern.search(after):
            return label
    return None


def _context(text: str, start: int, width: int = 45) -> str | None:
    before = text[max(0, start - width):start]
    for label in ("SSN", "MRN", "MEMBER_ID", "ACCOUNT", "VEHICLE", "LICENSE", "DEVICE", "ZIP",
                  "DOB", "PHONE"):
        if _CTX[label].search(before):
            return label
    return None


# ---- written patterns -----------------------------------------------------------------

_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
          r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("EMAIL", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")),
    ("EMAIL", re.compile(r"\b[a-z0-9._]+(?:\s+(?:dot|underscore)\s+[a-z0-9]+)*\s+at\s+[a-z0-9]+"
                         r"(?:\s+dot\s+[a-z]+)+\b", re.I)),
    ("URL", re.compile(r"\b(?:https?://|www\.)\S+|\b[\w-]+(?:\.[\w-]+)*\.(?:com|org|net|gov|edu|"
                       r"io|health|info|us)(?:/\S*)?\b", re.I)),
    ("IP", re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b|\b(?:[0-9a-f]{1,4}:){3,7}[0-9a-f]{1,4}\b",
                      re.I)),
    ("SSN", re.compile(r"\b\d{3}[- ]\d{2}[- ]\d{4}\b")),
    ("PHONE", re.compile(r"(?<![\w-])(?:\+?1[\s.-]?)?\(?\d{3}\)?[\s.-]?\d{3}[\s.-]\d{4}\b")),
    ("PHONE", re.compile(r"(?<![\w-])\+?1?\d{10}\b")),
    ("PHONE", re.compile(r"(?<![\w.-])\d{3}[-.]\d{4}\b")),
    ("DATE", re.compile(r"\b\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})\b")),
    ("DATE", re.compile(r"\b\d{4}-\d{2}-\d{2}\b")),
    ("DATE", re.compile(rf"\b{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?\b", re.I)),
    ("DATE", re.compile(rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}(?:,?\s+\d{{4}})?\b",
                        re.I)),
    ("DATE", re.compile(rf"\b{_MONTH}\s+(?:of\s+)?\d{{4}}\b", re.I)),
    ("MRN", re.compile(r"\bMRN[\s:#-]*[A-Z0-9][A-Z0-9-]{3,}\b", re.I)),
    ("ADDRESS", re.compile(_latin(
        r"\b\d{1,6}\s+(?:[A-Za-z]+\s+){1,3}(?:street|st|avenue|ave|road|rd|boulevard|blvd|lane|"
        r"ln|drive|dr|court|ct|way|place|pl|terrace|circle|parkway|pkwy|highway|hwy)\b\.?"
        r"(?:,?\s+(?:apt|apartment|suite|unit|#)\s*\w+)?"
        r"(?:,\s*[A-Z][a-z]+(?:\s[A-Z][a-z]+)?)?(?:,?\s*[A-Z]{2})?(?:,?\s*\d{5}(?:-\d{4})?)?"),
        re.I)),
    ("ADDRESS", re.compile(r"\bp\.?\s?o\.?\s+box\s+\d+\b", re.I)),
    ("ZIP", re.compile(r"\b\d{5}-\d{4}\b")),
    ("AGE", re.compile(r"\b(?:9\d|1[0-2]\d)\s*(?:years?|yrs?)[\s-]*old\b"
                       r"|\bage(?:d)?\s+(?:9\d|1[0-2]\d)\b",
                       re.I)),
    ("VEHICLE", re.compile(r"\b[A-HJ-NPR-Z0-9]{17}\b")),
]
_PLACE = re.compile(_latin(r"\b([A-Z][a-z]+(?:\s[A-Z][a-z]+)?)\s+(?:apartments|complex|village|"
                           r"heights|towers|estates|manor|gardens|county|township)\b"))
_AGE_SAID = re.compile(r"\b(?:i'm|i am|he's|he is|she's|she is|they're|turned|turning|aged?|"
                       r"is now)\s+((?:ninety|one hundred)(?:[\s-](?:and\s)?(?:one|two|three|four|"
                       r"five|six|seven|eight|nine))?|9\d|1[0-2]\d)\b", re.I)
_DAY_ONLY = re.compile(r"\b(?:on|since|by|until|before|after) the (\d{1,2}(?:st|nd|rd|th)|"
                       r"(?:twenty |thirty )?(?:first|second|third|fourth|fifth|sixth|seventh|"
                       r"eighth|ninth|tenth|eleventh|twelfth|thirteenth|fourteenth|fifteenth|"
                       r"sixteenth|seventeenth|eighteenth|nineteenth|twentieth|thirtieth))\b",
                       re.I)
_NUMBER_WORDS = frozenset({"zero", "oh", "one", "two", "three", "four", "five", "six", "seven",
                           "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen",
                           "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty",
                           "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
                           "hundred", "thousand", "and", "double", "triple"})
_SHORT_DATE = re.compile(r"\b(?:on|since|until|from|by|date|dated)\s+(\d{1,2}/\d{1,2})\b", re.I)
_SPOKEN_MONTH_YEAR = re.compile(
    rf"\b{_MONTH}\s+(?:of\s+)?(?:nineteen|two thousand|twenty)(?:\s+(?:oh|hundred|[a-z]+ty|"
    r"ten|eleven|twelve|[a-z]+teen|one|two|three|four|five|six|seven|eight|nine)){1,2}\b", re.I)
_SPOKEN_AGE = re.compile(r"\b(?:ninety|one hundred)(?:[\s-]+\w+)?\s+years?\s+old\b", re.I)
_CODE = re.compile(r"\b(?=[A-Z0-9-]*\d)(?=[A-Z0-9-]*[A-Z])[A-Z0-9][A-Z0-9-]{4,}[A-Z0-9]\b", re.I)
_LONG_DIGITS = re.compile(r"\b\d{6,}\b")
_CITY = re.compile(_latin(r"\b(?:live|living|lives|located|moved|reside|from)\s+(?:in|at|to)\s+"
                          r"((?:[A-Z][a-z]+\s?){1,3})"), re.M)
_STATE_ZIP = re.compile(_latin(r"\b(?:[A-Z][a-z]+,?\s+)?(?:[A-Z]{2})\s+(\d{5})\b"))

# ---- known identifiers ------------------------------------------------------------------


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _known_spans(text: str, toks: list[Tok], known: KnownIdentifiers) -> list[Span]:  # noqa: PLR0912 - one branch per identifier kind
    out: list[Span] = []
    for name in known.names:
        for part in {name, *name.split()}:
            if len(part) >= 2:
                for m in re.finditer(rf"(?<![\w]){re.escape(part)}(?![\w])", text, re.I):
                    out.append(Span(m.start(), m.end(), "NAME"))
    parts = {part for name in known.names for part in name.split()}
    out += [Span(start, end, "NAME") for start, end in sound_alike_names(text, parts)]
    for label, values in (("EMAIL", known.emails), ("ADDRESS", known.addresses)):
        for value in values:
            for m in re.finditer(re.escape(value), text, re.I):
                out.append(Span(m.start(), m.end(), label))
    wanted: list[tuple[str, str]] = []
    for phone in known.phones:
        d = _digits(phone)
        wanted += [(d[-10:], "PHONE"), (d[-7:], "PHONE")]
    for value in known.member_ids:
        wanted.append((re.sub(r"[^A-Z0-9]", "", value.upper()), "MEMBER_ID"))
    for value in known.mrns:
        wanted.append((re.sub(r"[^A-Z0-9]", "", value.upper()), "MRN"))
        wanted.append((_digits(value), "MRN"))
    for i in range(len(toks)):
        run = ""
        for j in range(i, min(len(toks), i + 24)):
            found = spelled_id(toks, j) if j == i else None
            if found is not None:
                _, last, pieces = found
                for value, label in wanted:
                    if value and len(value) >= 5 and value in pieces:
                        out.append(Span(toks[i].start, toks[last].end, label))
            run += re.sub(r"[^A-Z0-9]", "", toks[j].raw.upper())
            for value, label in wanted:
                if value and len(value) >= 5 and run == value:
                    out.append(Span(toks[i].start, toks[j].end, label))
            if len(run) > 16:
                break
    return out


# ---- main -------------------------------------------------------------------------------


def _label_number(text: str, start: int, digits: str, *, end: int | None = None) -> str:
    ctx = _context(text, start) or (_after_context(text, end) if end is not None else None)
    if ctx == "DOB" and len(digits) not in (6, 8):
        ctx = None
    if ctx is not None and ctx != "PHONE":
        if ctx == "ZIP" and len(digits) not in (5, 9):
            return "ID"
        return ctx
    if len(digits) == 9:
        return "SSN" if len(digits) == 9 else "ID"
    if len(digits) in (7, 10) or (len(digits) == 11 and digits.startswith("1")):
        return "PHONE"
    if len(digits) in (6, 8) and ctx is None:
        return "ID"
    return "PHONE" if ctx == "PHONE" else "ID"


def find_spans(text: str, known: KnownIdentifiers | None = None) -> list[Span]:  # noqa: PLR0912, PLR0915 - one pass per recogniser, kept together to read the policy
    spans: list[Span] = []
    toks = tokenize(text)
    for label, pattern in _PATTERNS:
        for m in pattern.finditer(text):
            chosen = label
            if label == "PHONE":
                ctx = _context(text, m.start())
                if ctx in ("MEMBER_ID", "MRN", "ACCOUNT", "SSN", "LICENSE", "DEVICE"):
                    chosen = ctx
            if label == "DATE" and "DOB" in (_context(text, m.start()),
                                             _after_context(text, m.end())):
                chosen = "DOB"
            spans.append(Span(m.start(), m.end(), chosen))
    spans += [Span(m.start(), m.end(), "AGE") for m in _SPOKEN_AGE.finditer(text)]
    spans += [Span(m.start(1), m.end(1), "DATE") for m in _SHORT_DATE.finditer(text)]
    spans += [Span(m.start(1), m.end(1), "DATE") for m in _DAY_ONLY.finditer(text)]
    for m in _PLACE.finditer(text):
        spans.append(Span(m.start(1), m.end(1), "ADDRESS"))
    for m in _AGE_SAID.finditer(text):
        value = m.group(1).lower()
        if not value.isdigit() or int(value) >= 90:
            spans.append(Span(m.start(1), m.end(1), "AGE"))
    spans += _spoken_numbers_in_context(text, toks)
    spans += [Span(*s) for s in spanish_spans(text, _label_number, known.dob if known else None)]
    known_parts = known_name_parts(known.names if known else ())
    for m in NAME_HERE.finditer(text):
        if not any(not_a_name(w, known_parts) for w in m.group(1).split()):
            spans.append(Span(m.start(1), m.end(1), "NAME"))
    for m in _SPOKEN_MONTH_YEAR.finditer(text):
        dob = "DOB" in (_context(text, m.start()), _after_context(text, m.end()))
        spans.append(Span(m.start(), m.end(), "DOB" if dob else "DATE"))
    for m in _CODE.finditer(text):
        spans.append(Span(m.start(), m.end(), _context(text, m.start()) or "ID"))
    for m in _LONG_DIGITS.finditer(text):
        spans.append(Span(m.start(), m.end(), _label_number(text, m.start(), m.group(0),
                                                            end=m.end())))
    for m in _STATE_ZIP.finditer(text):
        spans.append(Span(m.start(1), m.end(1), "ZIP"))
    for m in _CITY.finditer(text):
        spans.append(Span(m.start(1), m.start(1) + len(m.group(1).rstrip()), "ADDRESS"))
    for first, last, digits in digit_runs(toks, text, min_digits=4):
        start, end = toks[first].start, toks[last].end
        label = _label_number(text, start, digits, end=end)
        if label == "ID" and len(digits) < 6:
            continue  # "three thirty", "twenty twenty" and short counts stay
        if label == "DOB" and len(digits) < 6:
            continue
        spans.append(Span(start, end, label))
    for first, last in spoken_dates(toks):
        start, end = toks[first].start, toks[last].end
        dob = "DOB" in (_context(text, start), _after_context(text, end))
        spans.append(Span(start, end, "DOB" if dob else "DATE"))
    i = 0
    while i < len(toks):
        found = spelled_id(toks, i)
        if found is None or not any(c.isdigit() for c in found[2]):
            i += 1
            continue
        start, end = toks[i].start, toks[found[1]].end
        id_label = _context(text, start) or _after_context(text, end)
        mixed = any(c.isalpha() for c in found[2])
        if id_label in ("MEMBER_ID", "MRN", "ACCOUNT", "LICENSE", "VEHICLE", "DEVICE") or (
                mixed and len(found[2]) >= 5):
            spans.append(Span(start, end, id_label if id_label and id_label not in ("DOB", "ZIP")
                              else "ID"))
            i = found[1] + 1
        else:
            i += 1
    spans += name_spans(text, known_parts)
    if known is not None:
        spans += _known_spans(text, toks, known)
        if known.dob is not None:
            spans += [Span(s.start, s.end, "DOB") for s in spans if s.label == "DATE"
                      and _same_date(text[s.start:s.end], known.dob)]
            spans += _birth_year_spans(text, toks, known.dob)
    spans = _resolve(text, spans)
    return _outside(text, spans, known.keep) if known is not None and known.keep else spans


def _outside(text: str, spans: list[Span], keep: tuple[str, ...]) -> list[Span]:
    """The spans less the organisation's own phrases: a span reaching past one keeps the
    part outside it (a patient's name said next to the clinic's is still redacted)."""
    kept = [(m.start(), m.end()) for phrase in keep if phrase.strip()
            for m in re.finditer(r"(?<!\w)" + r"\s+".join(map(re.escape, phrase.split()))
                                 + r"(?!\w)", text, re.I)]
    out: list[Span] = []
    for span in spans:
        pieces = [(span.start, span.end)]
        for a, b in kept:
            pieces = [piece for start, end in pieces
                      for piece in ((start, min(end, a)), (max(start, b), end))
                      if piece[1] > piece[0]] if a < span.end and b > span.start else pieces
        for start, end in pieces:
            words = list(re.finditer(r"\w+", text[start:end]))
            if words:
                out.append(Span(start + words[0].start(), start + words[-1].end(), span.label))
    return out


def _month_words() -> frozenset[str]:
    from agent.grammar.dates import MONTHS  # noqa: PLC0415 - optional, heavier import
    from agent.grammar.es.dates import MONTHS as MESES  # noqa: PLC0415

    return frozenset(MONTHS) | frozenset(MESES)


_MONTH_WORDS = _month_words()


def _birth_year_spans(text: str, toks: list[Tok], dob: dt.date) -> list[Span]:
    """The patient's birth year wherever it is said, even where the rest of the date was
    misheard ("March death, 1980"): four digits (also "1.980", "1,980") or a spoken year of
    two words or more ("nineteen eighty"). A lone "eighty" or "80" is left: too common."""
    from agent.grammar.dates import _year, misheard_month  # noqa: PLC0415 - heavier import

    digits = str(dob.year)
    out = [Span(m.start(), m.end(), "DOB") for m in re.finditer(
        rf"(?<![\d.,]){digits[0]}[.,]?{digits[1:]}(?![\d]|[.,]\d)", text)]
    words = [t.text for t in toks]
    for i in range(len(toks)):
        if _year_at(toks, i) < 2:
            continue
        year, used = _year(words, i, dob, birth=True)
        if year == dob.year and used >= 2:
            out.append(Span(toks[i].start, toks[i + used - 1].end, "DOB"))
    # A month said just before the birth year is part of the date, however the day between
    # was heard ("March this, 1980"), or the month itself ("Marks Fifth 1980"): the span
    # grows back to the month.
    grown = []
    for span in out:
        first = next((k for k, t in enumerate(toks) if t.start >= span.start), None)
        if first is None:
            grown.append(span)
            continue
        month = next((k for k in range(first - 1, max(first - 4, -1), -1)
                      if words[k] in _MONTH_WORDS or misheard_month(words[k])), None)
        grown.append(span if month is None else Span(toks[month].start, span.end, "DOB"))
    return grown


def _spoken_numbers_in_context(text: str, toks: list[Tok]) -> list[Span]:
    """Numbers said as cardinals after an ID word ("medical record, nine hundred thousand
    and three"): every identifier context redacts the number words that follow it."""
    out: list[Span] = []
    i = 0
    while i < len(toks):
        label = _context(text, toks[i].start)
        if label in ("MRN", "MEMBER_ID", "ACCOUNT", "SSN", "LICENSE", "DEVICE", "VEHICLE") and (
                toks[i].text in _NUMBER_WORDS and toks[i].text != "and"):
            j = i
            while j + 1 < len(toks) and toks[j + 1].text in _NUMBER_WORDS:
                j += 1
            while toks[j].text == "and":
                j -= 1
            if j - i >= 2:
                out.append(Span(toks[i].start, toks[j].end, label))
            i = j + 1
        else:
            i += 1
    return out


def _same_date(fragment: str, dob: dt.date) -> bool:
    from agent.grammar.dates import parse_date  # noqa: PLC0415 - optional, heavier import

    return parse_date(fragment, dob, birth=True) == dob


def _resolve(text: str, spans: Iterable[Span]) -> list[Span]:
    """Drop spans inside placeholders; merge overlaps keeping the most specific label."""
    protected = [(m.start(), m.end()) for m in PLACEHOLDER.finditer(text)]
    rank = {label: i for i, label in enumerate(PRIORITY)}
    ordered = sorted(
        (s for s in spans if s.end > s.start
         and not any(a <= s.start < b or a < s.end <= b for a, b in protected)),
        key=lambda s: (s.start, -(s.end - s.start)))
    clusters: list[list[Span]] = []
    for span in ordered:
        if clusters and span.start < max(s.end for s in clusters[-1]):
            clusters[-1].append(span)
        else:
            clusters.append([span])
    merged = []
    for cluster in clusters:
        # the widest recogniser saw the most context; ties go to the more specific label
        best = min(cluster, key=lambda s: (-(s.end - s.start), rank.get(s.label, 99)))
        merged.append(Span(cluster[0].start, max(s.end for s in cluster), best.label))
    return merged


def redact(text: str, known: KnownIdentifiers | None = None) -> str:
    out = []
    pos = 0
    for span in find_spans(text, known):
        out.append(text[pos:span.start])
        out.append(f"[{span.label}]")
        pos = span.end
    out.append(text[pos:])
    return "".join(out)
